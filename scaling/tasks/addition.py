"""`addition`: a + b with operands zero-padded and every number written least-significant digit first.

Reversed digits let a left-to-right decoder compute carries in the order it emits them; written
most-significant first, a 1M-parameter model did not learn 4-digit addition in 3,000 SFT steps.
"""

from __future__ import annotations

import random

from scaling.tasks.base import Example, PromptStyle, register_task


def _reversed(number: int, width: int) -> str:
    return str(number).zfill(width)[::-1]


def make_example(a: int, b: int, digits: int) -> Example:
    prompt = f"{_reversed(a, digits)}+{_reversed(b, digits)}="
    answer = _reversed(a + b, digits + 1)
    return Example(prompt=prompt, answer=answer, demonstration=answer)


class Addition:
    name = "addition"
    prompt_style = PromptStyle()  # make_task sets the configured one

    def __init__(self, digits: int, train_size: int, val_size: int, seed: int):
        self.digits = digits
        space = (10 ** digits) ** 2
        if train_size + val_size > space:
            raise ValueError(f"task: {train_size + val_size} prompts requested but {digits}-digit addition has {space}")
        rng = random.Random(seed)
        pairs = self._distinct_pairs(rng, train_size + val_size)
        examples = [make_example(a, b, digits) for a, b in pairs]
        self._val, self._train = examples[:val_size], examples[val_size:]

    def _distinct_pairs(self, rng: random.Random, count: int) -> list[tuple[int, int]]:
        top = 10 ** self.digits
        seen: set[tuple[int, int]] = set()
        pairs = []
        while len(pairs) < count:
            pair = (rng.randrange(top), rng.randrange(top))
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
        return pairs

    def train_examples(self) -> list[Example]:
        return self._train

    def val_examples(self) -> list[Example]:
        return self._val

    def score(self, example: Example, completion: str) -> float:
        return 1.0 if completion.strip() == example.answer else 0.0

    def extract_answer(self, completion: str) -> str | None:
        """The digits as written (reversed, zero-padded): the score compares exactly this string."""
        text = completion.strip()
        return text if text.isascii() and text.isdigit() else None


@register_task("addition")
def _build(config, seed: int) -> Addition:
    return Addition(config.digits, config.train_size, config.val_size, seed)
