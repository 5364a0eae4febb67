"""`dataset`: prompts and math answers read from a JSONL or Parquet file with `prompt` and `answer` columns.

Validation comes from `val_path` if given (all of its rows), else a seeded split of `val_size`
rows out of `path`. Training rows whose prompt also appears in validation are dropped, so the
two sets stay disjoint even when a file repeats a prompt. The demonstration is the answer itself
(the warm start trains the model to emit just the answer).

Characters: the default policy's tokenizer covers printable ASCII (space to '~') only, so any
other character (newline, tab, unicode) is rejected with the file and line rather than mapped:
silently rewriting "π" or "−" would change the maths. Pass `ascii_only=False` for hub tokenizers.

Scoring: `math_verify.parse`/`verify` where the `math-verify` package is importable (the `math`
extra), else `normalize` below: a normalised exact match with numeric equivalence.
"""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from scaling.tasks.base import Example, register_task

try:  # optional: `pip install scaling[math]`
    from math_verify import parse as _mv_parse, verify as _mv_verify
except ImportError:  # the fallback matcher below is then the only checker
    _mv_parse = _mv_verify = None

COLUMNS = ("prompt", "answer")
PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


# ---------------------------------------------------------------- reading


def _cell(value: Any, where: str, column: str, ascii_only: bool) -> str:
    # Numbers are common answers in JSON ("answer": 42); anything else is a malformed row.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: column {column!r} must be a string or number, got {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise ValueError(f"{where}: column {column!r} is empty")
    bad = next((ch for ch in text if ch not in PRINTABLE), None) if ascii_only else None
    if bad is not None:
        raise ValueError(f"{where}: column {column!r} has non-printable-ASCII character {bad!r} (U+{ord(bad):04X})")
    return text


def _row(record: Any, where: str, ascii_only: bool) -> tuple[str, str]:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for column in COLUMNS:
        if column not in record or record[column] is None:
            raise ValueError(f"{where}: missing column {column!r}")
    return tuple(_cell(record[c], where, c, ascii_only) for c in COLUMNS)  # type: ignore[return-value]


def _read_jsonl(path: Path, ascii_only: bool) -> list[tuple[str, str]]:
    rows = []
    with path.open("rb") as lines:  # decoded per line so a bad byte is reported with its line
        for number, raw in enumerate(lines, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: not UTF-8") from None
            if not line.strip():  # blank lines (e.g. a trailing newline) carry no row
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: invalid JSON ({err.msg})") from None
            rows.append(_row(record, where, ascii_only))
    return rows


def _read_parquet(path: Path, ascii_only: bool) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise ValueError(f"{path}: unreadable Parquet ({err})") from None
    for column in COLUMNS:
        if column not in table.column_names:
            raise ValueError(f"{path}: missing column {column!r}")
    records = table.select(list(COLUMNS)).to_pylist()
    # Parquet has no lines; rows are numbered from 1 like JSONL lines.
    return [_row(record, f"{path}: row {i}", ascii_only) for i, record in enumerate(records, start=1)]


def read_rows(path: str | Path, ascii_only: bool = True) -> list[tuple[str, str]]:
    """(prompt, answer) pairs of a .jsonl or .parquet file; ValueError naming file and line on any problem."""
    path = Path(path)
    readers = {".jsonl": _read_jsonl, ".parquet": _read_parquet}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unknown file type {path.suffix!r} (expected .jsonl or .parquet)")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    rows = reader(path, ascii_only)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


# ---------------------------------------------------------------- checking


def _boxed(text: str) -> str | None:
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


_FRAC = re.compile(r"\\[dt]?frac\{(-?[0-9.]+)\}\{(-?[0-9.]+)\}")
# Plain decimals and fractions only: Fraction("1e999999999") would build a billion-digit integer.
_NUMBER = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+|[0-9]+/[0-9]+)$")
_THOUSANDS = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$")


def normalize(text: str) -> str:
    """Canonical string form of an answer: box content, no math delimiters, spacing or trailing period."""
    boxed = _boxed(text)
    text = boxed if boxed is not None else text
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


def fallback_equal(answer: str, completion: str) -> bool:
    gold, pred = normalize(answer), normalize(completion)
    if not pred:
        return False
    if gold == pred:
        return True
    gold_value, pred_value = as_number(gold), as_number(pred)
    return gold_value is not None and gold_value == pred_value


def _as_math(text: str) -> str:
    """Wrap a bare answer in $...$: math-verify otherwise extracts only a number from it, so "1+x"
    would read as 1 and match the answer "1". Text with its own delimiters or box is left alone."""
    if any(mark in text for mark in ("$", "\\boxed", "\\(", "\\[")):
        return text
    return f"${text.strip()}$"


def _math_verify_equal(answer: str, completion: str) -> bool:
    try:
        gold, pred = _mv_parse(_as_math(answer)), _mv_parse(_as_math(completion))
        return bool(gold and pred and _mv_verify(gold, pred))
    except Exception:  # its timeouts and parser errors must never crash a rollout
        return False


def answers_match(answer: str, completion: str) -> bool:
    """True if the completion states the answer; math-verify equivalence where installed."""
    if fallback_equal(answer, completion):  # cheap, and covers what math-verify would also accept
        return True
    return _mv_parse is not None and _math_verify_equal(answer, completion)


# ---------------------------------------------------------------- the task


def _examples(rows: list[tuple[str, str]], source: str, ids: list[int]) -> list[Example]:
    return [Example(prompt=rows[i][0], answer=rows[i][1], demonstration=rows[i][1],
                    meta={"source": source, "row": i + 1}) for i in ids]


class Dataset:
    name = "dataset"

    def __init__(self, path: str | None, val_path: str | None, val_size: int, seed: int, ascii_only: bool = True):
        if not path:
            raise ValueError("task.path: the dataset task needs a .jsonl or .parquet file")
        rows = read_rows(path, ascii_only)
        if val_path:
            val_rows = read_rows(val_path, ascii_only)
            self._val = _examples(val_rows, str(val_path), list(range(len(val_rows))))
            train_ids = list(range(len(rows)))
        else:
            if val_size >= len(rows):
                raise ValueError(f"{path}: val_size={val_size} leaves no training rows out of {len(rows)}")
            order = list(range(len(rows)))
            random.Random(seed).shuffle(order)
            val_ids, train_ids = sorted(order[:val_size]), order[val_size:]
            self._val = _examples(rows, str(path), val_ids)
        held_out = {example.prompt for example in self._val}
        train_ids = sorted(i for i in train_ids if rows[i][0] not in held_out)
        if not train_ids:
            raise ValueError(f"{path}: every training prompt also appears in the validation set")
        self._train = _examples(rows, str(path), train_ids)

    def train_examples(self) -> list[Example]:
        return self._train

    def val_examples(self) -> list[Example]:
        return self._val

    def score(self, example: Example, completion: str) -> float:
        return 1.0 if answers_match(example.answer, completion) else 0.0


@register_task("dataset")
def _build(config, seed: int) -> Dataset:
    return Dataset(config.path, config.val_path, config.val_size, seed)
