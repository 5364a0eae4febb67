"""Final answers in free-form completions: where the answer is, its canonical form, and equivalence.

Where the answer is (`task.answer_format`):
- `boxed`: the last \\boxed{...} / \\fbox{...} (MATH, Hendrycks et al. 2021);
- `gsm8k`: the text after the last "####" (GSM8K, Cobbe et al. 2021);
- `answer_is`: after the last "the (final) answer is" or "Answer:" (Minerva, Lewkowycz et al. 2022);
- `last_number`: the last number in the text;
- `whole`: the whole completion (a model trained to emit just the answer);
- `auto`: the first of boxed, gsm8k, answer_is that is present; else the whole completion when it reads as
  a bare answer (one line, no English words); else math-verify's own extraction where installed; else the last
  number.

Equivalence: a normalised exact match or equal exact numbers ("0.50" = "1/2" = "\\frac{1}{2}"); with the
`math-verify` package (the `math` extra) also its symbolic equivalence ("x+1" = "1+x").
"""

from __future__ import annotations

import re
from fractions import Fraction

try:  # optional: `pip install scaling[math]`
    from math_verify import parse as _mv_parse, verify as _mv_verify
except ImportError:  # the normalised matcher below is then the only checker
    _mv_parse = _mv_verify = None

FORMATS = ("auto", "boxed", "gsm8k", "answer_is", "last_number", "whole")

_ANSWER_IS = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|answer\s*:)\s*:?\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s")  # "1.5" keeps its point
_LAST_NUMBER = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?(?:/[0-9]+)?")
# Plain decimals and fractions only: Fraction("1e999999999") would build a billion-digit integer.
_NUMBER = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+|[0-9]+/[0-9]+)$")
_THOUSANDS = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$")
_FRAC = re.compile(r"\\[dt]?frac\{(-?[0-9.]+)\}\{(-?[0-9.]+)\}")
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")  # an English word, not a LaTeX command like \frac
# Longer extracted answers are not answers; the cap also bounds math-verify's parsing time.
MAX_ANSWER_CHARS = 400


# ---------------------------------------------------------------- where the answer is


def boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} (braces balanced), or None."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    depth, begin = 0, text.index("{", start)
    for pos in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[pos], 0)
        if depth == 0:
            return text[begin + 1:pos]
    return None  # unbalanced: treat as no box


def after_hashes(text: str) -> str | None:
    """GSM8K's final answer: the first line after the last '####'."""
    at = text.rfind("####")
    if at < 0:
        return None
    rest = text[at + 4:].strip().splitlines()
    return rest[0] if rest else None


def after_answer_is(text: str) -> str | None:
    """The rest of the sentence after the last 'the answer is' / 'Answer:' (to a period that ends it, or the line)."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end():].splitlines()
    answer = _SENTENCE_END.split(rest[0], maxsplit=1)[0].strip().rstrip(".").strip() if rest else ""
    return answer or None


def last_number(text: str) -> str | None:
    found = _LAST_NUMBER.findall(text)
    return found[-1] if found else None


def _bare(text: str) -> str | None:
    """The whole completion if it reads as an answer alone: one line and no English words."""
    text = text.strip()
    if not text or "\n" in text or _WORD.search(text):
        return None
    return text


def _math_verify_span(text: str) -> str | None:
    if _mv_parse is None:
        return None
    try:
        parsed = _mv_parse(text)
    except Exception:  # its timeouts and parser errors must never crash a rollout
        return None
    return parsed[1] if len(parsed) > 1 else None


def extract(text: str, answer_format: str = "auto") -> str | None:
    """The answer span of `text` under `answer_format` (see the module doc), or None when there is none."""
    if answer_format == "whole":
        return text.strip() or None
    if answer_format == "auto":
        for find in (boxed, after_hashes, after_answer_is, _bare, _math_verify_span, last_number):
            span = find(text)
            if span is not None and span.strip():
                return span.strip()
        return None
    find = {"boxed": boxed, "gsm8k": after_hashes, "answer_is": after_answer_is, "last_number": last_number}.get(answer_format)
    if find is None:
        raise ValueError(f"task.answer_format: unknown format {answer_format!r} (known: {', '.join(FORMATS)})")
    span = find(text)
    return span.strip() if span is not None and span.strip() else None


def gold_answer(text: str) -> str:
    """The reference answer in a dataset's answer column: a boxed or '####' final answer if the column holds a
    whole solution (MATH, GSM8K), else the column itself."""
    return boxed(text) or after_hashes(text) or text.strip()


# ---------------------------------------------------------------- canonical form and equivalence


def normalize(text: str) -> str:
    """Canonical string form of an answer: box content, no math delimiters, spacing or trailing period."""
    box = boxed(text)
    text = box if box is not None else text
    text = re.sub(r"\\[,;:! ]|\\left|\\right", "", text)  # LaTeX spacing and sizing carry no meaning
    text = re.sub(r"\s+", "", text).rstrip(".")
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        while len(text) >= len(left + right) and text.startswith(left) and text.endswith(right):
            text = text[len(left):len(text) - len(right)]
    text = _FRAC.sub(r"\1/\2", text).rstrip(".")
    if _THOUSANDS.match(text):  # "1,000" is a number; "1,2" stays a tuple
        text = text.replace(",", "")
    return text


def as_number(text: str) -> Fraction | None:
    """Exact value of "3", "-0.50", "1/2" (after `normalize`), else None."""
    if not _NUMBER.match(text):
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _as_math(text: str) -> str:
    """Wrap a bare answer in $...$: math-verify otherwise extracts only a number from it, so "1+x"
    would read as 1 and match the answer "1". Text with its own delimiters or box is left alone."""
    if any(mark in text for mark in ("$", "\\boxed", "\\(", "\\[")):
        return text
    return f"${text.strip()}$"


def _mv_parsed(answer: str):
    if _mv_parse is None or len(answer) > MAX_ANSWER_CHARS:
        return None
    try:
        return _mv_parse(_as_math(answer)) or None
    except Exception:  # its timeouts and parser errors must never crash a rollout
        return None


def canonical(answer: str) -> str:
    """One string per answer, for majority votes: exact numbers as reduced fractions ("0.50" -> "1/2"),
    math-verify's sympy form where installed ("1+x" -> "x + 1"), else the normalised text."""
    text = normalize(answer)
    value = as_number(text)
    if value is not None:
        return str(value)
    parsed = _mv_parsed(answer)
    return str(parsed[0]) if parsed else text


def fallback_equal(gold: str, answer: str) -> bool:
    """Normalised exact match or equal exact numbers (what is checked without math-verify)."""
    gold, pred = normalize(gold), normalize(answer)
    if not pred:
        return False
    if gold == pred:
        return True
    gold_value, pred_value = as_number(gold), as_number(pred)
    return gold_value is not None and gold_value == pred_value


def equivalent(gold: str, answer: str) -> bool:
    """True if the extracted `answer` equals the `gold` answer; math-verify's equivalence where installed."""
    if fallback_equal(gold, answer):  # cheap, and covers what math-verify would also accept
        return True
    if _mv_verify is None:
        return False
    parsed_gold, parsed_pred = _mv_parsed(gold), _mv_parsed(answer)
    try:
        return bool(parsed_gold and parsed_pred and _mv_verify(parsed_gold, parsed_pred))
    except Exception:
        return False
