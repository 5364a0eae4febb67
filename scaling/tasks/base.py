"""What a task is: deterministic prompt sets from a seed, and a verifier that scores completions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class Example:
    prompt: str
    answer: str
    # A reference completion for the supervised warm start (None: the task has no demonstrations).
    demonstration: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class PromptStyle:
    """How a task's prompt is shown to the model (rendered by `scaling.rl.prompts`, which knows the tokenizer)."""
    template: str = "{question}"     # the user message; {question} is the task's prompt
    system: str | None = None        # system message, or text put before the prompt without a chat template
    chat_template: str = "auto"      # auto: the tokenizer's chat template when it has one; none: raw text

    @classmethod
    def of(cls, config: Any) -> "PromptStyle":
        return cls(template=getattr(config, "prompt_template", "{question}"),
                   system=getattr(config, "system_prompt", None), chat_template=getattr(config, "chat_template", "auto"))

    def user_message(self, question: str) -> str:
        # replace, not str.format: LaTeX braces in a template ("\\boxed{}") are not format fields.
        return self.template.replace("{question}", question)


class Task(Protocol):
    name: str
    prompt_style: PromptStyle  # set by make_task from the task config

    def train_examples(self) -> Sequence[Example]: ...  # a list, or made on first use (scaling.tasks.lazy)

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
    task = factory(config, seed)
    task.prompt_style = PromptStyle.of(config)
    return task
