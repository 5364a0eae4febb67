"""`countdown`: reach a target from given numbers with + - * / (TinyZero; Gandhi et al. 2024, Stream of Search).

Prompt "3,5,2=16:", demonstration "(3+5)*2". Prompts are kept this short because the default
policy is a tiny character-level decoder with 8-16 new tokens.

Rules (decided here, checked by `score`):
- each given number may be used at most once; using all of them is NOT required (the TV-game
  rule). Every target is built from all numbers, so the demonstration uses all of them, but a
  shorter correct expression also scores 1. Targets equal to a given number are never generated,
  so the trivial answer "n" cannot score.
- generation keeps every intermediate value a positive integer (subtraction only larger minus
  smaller, division only when exact); the verifier is more lenient and accepts any expression
  whose exact rational value (fractions.Fraction) equals the target, e.g. "8/3*6" for 16.
- the completion is only the expression: no "=16", no unary minus, no other characters.
Model text is never eval'd: a small recursive-descent parser reads it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from fractions import Fraction

from scaling.tasks.base import Example, PromptStyle, register_task

# Longer completions are not expressions the task asks for; the cap also bounds parser recursion.
MAX_COMPLETION_CHARS = 200
_PROMPT = re.compile(r"^([0-9]+(?:,[0-9]+)*)=([0-9]+):$")
_TOKEN = re.compile(r"\s*(?:([0-9]+)|([-+*/()]))")
# Precedence of an expression's outermost operator; atoms bind tightest.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_ATOM = 3


class _Malformed(Exception):
    """Completion is not a well-formed expression over integer literals."""


# ---------------------------------------------------------------- verifier


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _Malformed(f"unexpected character at {pos}")
        tokens.append(match.group(1) or match.group(2))
        pos = match.end()
    return tokens


class _Parser:
    """expr := term (('+'|'-') term)* ; term := factor (('*'|'/') factor)* ; factor := INT | '(' expr ')'."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.pos, self.literals = tokens, 0, []

    def parse(self) -> Fraction:
        if not self.tokens:
            raise _Malformed("empty")
        value = self._expr()
        if self.pos != len(self.tokens):
            raise _Malformed(f"trailing token {self.tokens[self.pos]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise _Malformed("unexpected end")
        self.pos += 1
        return token

    def _expr(self) -> Fraction:
        value = self._term()
        while self._peek() in ("+", "-"):
            value = value + self._term() if self._take() == "+" else value - self._term()
        return value

    def _term(self) -> Fraction:
        value = self._factor()
        while self._peek() in ("*", "/"):
            op, right = self._take(), self._factor()
            if op == "/" and right == 0:
                raise _Malformed("division by zero")
            value = value * right if op == "*" else value / right
        return value

    def _factor(self) -> Fraction:
        token = self._take()
        if token == "(":
            value = self._expr()
            if self._take() != ")":
                raise _Malformed("unbalanced parenthesis")
            return value
        if not token.isdigit():
            raise _Malformed(f"expected a number, got {token!r}")
        self.literals.append(int(token))
        return Fraction(int(token))


def evaluate(expression: str) -> tuple[Fraction, list[int]]:
    """Exact value of an arithmetic expression and the integer literals it uses; raises ValueError."""
    if len(expression) > MAX_COMPLETION_CHARS:
        raise ValueError("expression too long")
    try:
        parser = _Parser(_tokenize(expression))
        return parser.parse(), parser.literals
    except _Malformed as err:
        raise ValueError(str(err)) from None


def parse_prompt(prompt: str) -> tuple[list[int], int]:
    """Numbers and target of a prompt "3,5,2=16:" (the prompt is the single source of truth)."""
    match = _PROMPT.match(prompt)
    if match is None:
        raise ValueError(f"countdown: not a countdown prompt: {prompt!r}")
    return [int(n) for n in match.group(1).split(",")], int(match.group(2))


def check(numbers: list[int], target: int, completion: str) -> float:
    """1.0 if `completion` uses each number at most once and equals `target` exactly; never raises."""
    try:
        value, literals = evaluate(completion)
    except ValueError:
        return 0.0
    if Counter(literals) - Counter(numbers):  # some literal is not given, or used too often
        return 0.0
    return 1.0 if value == target else 0.0


# ---------------------------------------------------------------- generation


def _combine(left: tuple[str, int, int], op: str, right: tuple[str, int, int]) -> tuple[str, int, int]:
    """Join two (text, value, precedence) items with the fewest parentheses that keep the meaning."""
    (ltext, lvalue, lprec), (rtext, rvalue, rprec) = left, right
    prec = _PRECEDENCE[op]
    if lprec < prec:
        ltext = f"({ltext})"
    # The right side also needs them at equal precedence under - and /: a-(b-c) != a-b-c.
    if rprec < prec or (rprec == prec and op in "-/"):
        rtext = f"({rtext})"
    value = {"+": lvalue + rvalue, "-": lvalue - rvalue, "*": lvalue * rvalue}.get(op)
    if value is None:
        value = lvalue // rvalue
    return f"{ltext}{op}{rtext}", value, prec


def _valid_ops(a: int, b: int) -> list[str]:
    # Keep every intermediate a positive integer: no zero or negative values, only exact division.
    ops = ["+", "*"]
    if a > b:
        ops.append("-")
    if a % b == 0:
        ops.append("/")
    return ops


def random_expression(numbers: list[int], rng: random.Random) -> tuple[str, int]:
    """Combine all numbers in a random order with random operators; returns (text, value)."""
    items = [(str(n), n, _ATOM) for n in numbers]
    while len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        left, right = items[i], items[j]
        op = rng.choice(_valid_ops(left[1], right[1]))
        items = [item for k, item in enumerate(items) if k not in (i, j)] + [_combine(left, op, right)]
    text, value, _ = items[0]
    return text, value


def make_example(numbers: list[int], target: int, demonstration: str) -> Example:
    prompt = ",".join(map(str, numbers)) + f"={target}:"
    meta = {"numbers": list(numbers), "target": target}
    return Example(prompt=prompt, answer=str(target), demonstration=demonstration, meta=meta)


class Countdown:
    name = "countdown"
    prompt_style = PromptStyle()  # make_task sets the configured one

    def __init__(self, numbers: int, max_number: int, train_size: int, val_size: int, seed: int):
        if numbers < 2 or max_number < 2:
            raise ValueError("task: countdown needs at least 2 numbers and max_number >= 2")
        self.numbers, self.max_number = numbers, max_number
        examples = self._distinct_examples(random.Random(seed), train_size + val_size)
        self._val, self._train = examples[:val_size], examples[val_size:]

    def _draw(self, rng: random.Random) -> Example | None:
        numbers = [rng.randint(1, self.max_number) for _ in range(self.numbers)]
        text, target = random_expression(numbers, rng)
        if target in numbers:  # would be solved by copying one number
            return None
        return make_example(numbers, target, text)

    def _distinct_examples(self, rng: random.Random, count: int) -> list[Example]:
        # Distinct by (multiset, target): a reordering of a val prompt must not appear in training.
        seen: set[tuple[tuple[int, ...], int]] = set()
        examples: list[Example] = []
        budget = 50 * count + 10_000  # rejection sampling; fails loudly if the space is too small
        for _ in range(budget):
            example = self._draw(rng)
            if example is None:
                continue
            key = (tuple(sorted(example.meta["numbers"])), example.meta["target"])
            if key not in seen:
                seen.add(key)
                examples.append(example)
                if len(examples) == count:
                    return examples
        raise ValueError(
            f"task: could not draw {count} distinct countdown problems with numbers={self.numbers}, "
            f"max_number={self.max_number}; lower train_size/val_size or raise max_number")

    def train_examples(self) -> list[Example]:
        return self._train

    def val_examples(self) -> list[Example]:
        return self._val

    def score(self, example: Example, completion: str) -> float:
        numbers, target = parse_prompt(example.prompt)
        return check(numbers, target, completion)

    def extract_answer(self, completion: str) -> str | None:
        """The expression's exact value ("16", "8/3"), so different expressions reaching the same number are one
        vote; None when it does not parse. Which numbers it used is the verifier's business, not the answer's."""
        try:
            value, _ = evaluate(completion)
        except ValueError:
            return None
        return str(value)


@register_task("countdown")
def _build(config, seed: int) -> Countdown:
    return Countdown(config.numbers, config.max_number, config.train_size, config.val_size, seed)
