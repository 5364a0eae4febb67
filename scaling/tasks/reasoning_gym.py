"""`reasoning_gym`: any generator of reasoning-gym (Stojanovski et al. 2025), with its own verifier.

`task.dataset` names the generator, `task.options` is its config passed through as is; the seed is the
run's task seed (`warmstart_seed`) and the size is val_size + train_size, so the prompt sets are
deterministic. The first `val_size` entries are held out, and training entries whose question also
appears there are dropped (small generators repeat questions). The demonstration is the entry's answer.

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

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _load():
    try:
        import reasoning_gym
    except ImportError:
        raise ValueError("task.name: reasoning_gym needs the reasoning-gym package "
                         "(pip install 'scaling[reasoning-gym]')") from None
    return reasoning_gym


def _create(generator: str | None, options: dict[str, Any], size: int, seed: int):
    """The generator and its first `size` entries; cached, because a run builds its task up to three times in one
    process (input checks, warm start, training) and some generators are slow (countdown: ~7 ms an entry)."""
    return _cached(generator, json.dumps(options, sort_keys=True), size, seed)


@functools.lru_cache(maxsize=4)
def _cached(generator: str | None, options_json: str, size: int, seed: int):
    options = json.loads(options_json)
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
    return data, tuple(data[i] for i in range(size))


class ReasoningGym:
    name = "reasoning_gym"
    prompt_style = PromptStyle()  # make_task sets the configured one

    def __init__(self, generator: str | None, options: dict[str, Any], train_size: int, val_size: int, seed: int,
                 answer_format: str = "auto"):
        self.answer_format = answer_format
        self.data, entries = _create(generator, dict(options), train_size + val_size, seed)
        examples = [self._example(entry) for entry in entries]
        self._val = examples[:val_size]
        held_out = {example.prompt for example in self._val}
        self._train = [example for example in examples[val_size:] if example.prompt not in held_out]
        if not self._train:
            raise ValueError(f"task.dataset: {generator} repeats every validation question in training; "
                             "raise train_size or make the generator's space larger (task.options)")

    @staticmethod
    def _example(entry: dict) -> Example:
        answer = str(entry["answer"])
        return Example(prompt=entry["question"], answer=answer, demonstration=answer, meta={"entry": entry})

    def train_examples(self) -> list[Example]:
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
