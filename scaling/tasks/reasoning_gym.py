"""`reasoning_gym`: any generator of reasoning-gym (Stojanovski et al. 2025), with its own verifier.

`task.dataset` names the generator, `task.options` is its config passed through as is; the seed is the
run's task seed (`warmstart_seed`) and the size is val_size + train_size, so the prompt sets are
deterministic. The first `val_size` entries are held out and made when the task is built. Training entries are
made on first use (`scaling.tasks.lazy`: some generators take ~7 ms an entry, minutes for 20,000 before the first
step otherwise); training prompt i is entry val_size + i, or, where that entry repeats a held-out question (small
generators repeat questions), the same slot of the generator under the next seeds (seed + k * size) until one does
not, so every prompt is a pure function of (seed, i) and the pool keeps train_size prompts. The demonstration is
the entry's answer.

Scoring: the completion's answer (`task.answer_format`; auto: the content of <answer>...</answer>, the
format reasoning-gym's prompts ask for, else the whole completion) goes to the generator's
`score_answer`. A pass is full credit (1.0): some generators give partial credit to a wrong but
well-formed answer (countdown: 0.05), which would make a pass rate no longer a rate.

Needs the `reasoning-gym` extra: pip install 'scaling[reasoning-gym]'.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from scaling.tasks.answers import as_number, extract
from scaling.tasks.base import Example, PromptStyle, register_task
from scaling.tasks.lazy import UPFRONT, LazyExamples

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
SUBSTITUTES = 256  # further seeds tried for a training slot whose entry repeats a held-out question


def _load():
    try:
        import reasoning_gym
    except ImportError:
        raise ValueError("task.name: reasoning_gym needs the reasoning-gym package "
                         "(pip install 'scaling[reasoning-gym]')") from None
    return reasoning_gym


def _create(generator: str | None, options: dict[str, Any], train_size: int, val_size: int, seed: int):
    """The generator, its held-out examples and its lazily made training examples; cached, because a run builds its
    task up to three times in one process (input checks, warm start, training): each entry is made once."""
    return _cached(generator, json.dumps(options, sort_keys=True), train_size, val_size, seed)


@functools.lru_cache(maxsize=4)
def _cached(generator: str | None, options_json: str, train_size: int, val_size: int, seed: int):
    options = json.loads(options_json)
    data = _dataset(generator, options, train_size + val_size, seed)
    val = [_example(data[i]) for i in range(val_size)]
    slots = _Slots(data, generator, options, seed, val_size, frozenset(e.prompt for e in val))
    return data, val, LazyExamples(train_size, slots.example)


def _dataset(generator: str | None, options: dict[str, Any], size: int, seed: int):
    reasoning_gym = _load()
    if not generator:
        raise ValueError("task.dataset: name a reasoning-gym generator, e.g. basic_arithmetic or countdown")
    known = reasoning_gym.factory.DATASETS
    if generator not in known:
        raise ValueError(f"task.dataset: unknown reasoning-gym generator {generator!r} ({len(known)} known, "
                         "e.g. basic_arithmetic, countdown, chain_sum)")
    try:
        data = reasoning_gym.create_dataset(generator, seed=seed, size=size, **options)
    except (TypeError, ValueError, AssertionError) as err:  # its configs validate with asserts
        raise ValueError(f"task.options: {generator}: {err}") from None
    return data


def _example(entry: dict) -> Example:
    answer = str(entry["answer"])
    return Example(prompt=entry["question"], answer=answer, demonstration=answer, meta={"entry": entry})


class _Slots:
    """Training prompt i: the entry at val_size + i of the generator under its seed, else under the next seeds."""

    def __init__(self, data, generator: str, options: dict, seed: int, val_size: int, held_out: frozenset[str]):
        self.generator, self.options, self.seed, self.val_size, self.held_out = generator, options, seed, val_size, held_out
        self.datasets = [data]  # the generator under seed + k * size, made when first needed

    def example(self, i: int) -> Example:
        for k in range(SUBSTITUTES + 1):
            if k == len(self.datasets):
                size = len(self.datasets[0])
                self.datasets.append(_dataset(self.generator, self.options, size, self.seed + k * size))
            entry = self.datasets[k][self.val_size + i]
            if entry["question"] not in self.held_out:
                return _example(entry)
        raise ValueError(f"task.dataset: {self.generator}: training prompt {i} repeats a held-out question under "
                         f"{SUBSTITUTES + 1} seeds; make the generator's space larger (task.options) or val_size smaller")


class ReasoningGym:
    name = "reasoning_gym"
    prompt_style = PromptStyle()  # make_task sets the configured one

    def __init__(self, generator: str | None, options: dict[str, Any], train_size: int, val_size: int, seed: int,
                 answer_format: str = "auto"):
        self.answer_format = answer_format
        self.data, val, self._train = _create(generator, dict(options), train_size, val_size, seed)
        self._val = list(val)
        # The prompts checked before a run starts (scaling.tasks.lazy.upfront), made now: a generator whose space is
        # too small for its held-out set fails here, before anything is written, rather than mid-run.
        list(self._train[:UPFRONT])

    def train_examples(self) -> LazyExamples:
        return self._train

    def val_examples(self) -> list[Example]:
        return self._val

    def _answer(self, completion: str) -> str | None:
        if self.answer_format != "auto":
            return extract(completion, self.answer_format)
        tagged = _ANSWER_TAG.findall(completion)
        answer = tagged[-1] if tagged else completion
        return answer.strip() or None

    def score(self, example: Example, completion: str) -> float:
        answer = self._answer(completion)
        if answer is None:
            return 0.0
        try:
            credit = self.data.score_answer(answer, entry=example.meta["entry"])
        except Exception:  # a generator's verifier must never crash a rollout
            return 0.0
        return 1.0 if credit >= 1.0 else 0.0

    def extract_answer(self, completion: str) -> str | None:
        """The answer the verifier is given, whitespace collapsed; exact numbers canonical ("-4.0" -> "-4")."""
        answer = self._answer(completion)
        if answer is None:
            return None
        value = as_number(answer.replace(" ", ""))
        return str(value) if value is not None else " ".join(answer.split())


@register_task("reasoning_gym")
def _build(config, seed: int) -> ReasoningGym:
    return ReasoningGym(config.dataset, config.options, config.train_size, config.val_size, seed, config.answer_format)
