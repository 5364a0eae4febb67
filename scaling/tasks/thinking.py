"""`addition_think`: addition that thinks before it answers, for thinking budgets (s1, Muennighoff et al. 2025).

The prompt is the addition task's (`321+654=`, digits least-significant first). The completion is a
thinking section, the end-of-thinking marker `|`, the answer prefix `A:` and the answer:

    321+654=  ->  09,07,05|A:9750        each column's sum with the incoming carry, two digits each

A column sum's last digit is the answer digit and its first the carry, so a model that wrote the whole
scratchpad only copies; one cut off early (a small thinking budget) must add the remaining columns
without it. Budget forcing (scaling.infer.budget) forces `|A:` at the budget, or "Wait" before it.
"""

from __future__ import annotations

from scaling.tasks.addition import Addition
from scaling.tasks.base import Example, register_task

THINK_END = "|"
ANSWER_PREFIX = "A:"


def scratchpad(prompt: str) -> str:
    """Per-column sums with carries of a reversed-digit addition prompt `a+b=`."""
    a, b = prompt.rstrip("=").split("+")
    sums, carry = [], 0
    for x, y in zip(a, b):
        total = int(x) + int(y) + carry
        sums.append(f"{total:02d}")
        carry = total // 10
    return ",".join(sums)


def _thinking(example: Example) -> Example:
    demo = f"{scratchpad(example.prompt)}{THINK_END}{ANSWER_PREFIX}{example.answer}"
    return Example(prompt=example.prompt, answer=example.answer, demonstration=demo, meta=example.meta)


class AdditionThinking(Addition):
    name = "addition_think"
    think_end = THINK_END        # read by `scaling infer` for thinking tokens and budget forcing
    answer_prefix = ANSWER_PREFIX

    def __init__(self, digits: int, train_size: int, val_size: int, seed: int):
        super().__init__(digits, train_size, val_size, seed)
        self._train = [_thinking(ex) for ex in self._train]
        self._val = [_thinking(ex) for ex in self._val]

    def extract_answer(self, completion: str) -> str | None:
        """The digits after the last end-of-thinking marker (and the answer prefix); None without a marker."""
        head, marker, tail = completion.strip().rpartition(THINK_END)
        if not marker:
            return None
        tail = tail.strip().removeprefix(ANSWER_PREFIX).strip()
        return tail if tail.isascii() and tail.isdigit() else None

    def score(self, example: Example, completion: str) -> float:
        return 1.0 if self.extract_answer(completion) == example.answer else 0.0


@register_task("addition_think")
def _build(config, seed: int) -> AdditionThinking:
    return AdditionThinking(config.digits, config.train_size, config.val_size, seed)
