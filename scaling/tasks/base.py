"""What a task is: deterministic prompt sets from a seed, and a verifier that scores completions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class Example:
    prompt: str
    answer: str
    # A reference completion for the supervised warm start (None: the task has no demonstrations).
    demonstration: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


class Task(Protocol):
    name: str

    def train_examples(self) -> list[Example]: ...

    def val_examples(self) -> list[Example]: ...

    def score(self, example: Example, completion: str) -> float:
        """Reward of one completion (EOS and everything after it already removed)."""
        ...

    def extract_answer(self, completion: str) -> str | None:
        """The completion's final answer in canonical form, or None when it states none.

        Two completions with equal extracted answers give the same answer, so a majority vote (maj@k) compares
        these strings; score the vote by scoring one completion that gave the winning answer.
        """
        ...


TaskFactory = Callable[..., Task]
_REGISTRY: dict[str, TaskFactory] = {}


def register_task(name: str) -> Callable[[TaskFactory], TaskFactory]:
    def wrap(factory: TaskFactory) -> TaskFactory:
        _REGISTRY[name] = factory
        return factory
    return wrap


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def make_task(config: Any, seed: int) -> Task:
    """Build the task named by a TaskConfig; the seed fixes both prompt sets."""
    factory = _REGISTRY.get(config.name)
    if factory is None:
        raise ValueError(f"task.name: unknown task {config.name!r} (known: {', '.join(task_names())})")
    return factory(config, seed)
