"""Everything about a run's inputs that can be checked before anything is written.

A run rejected after it wrote `config.yaml` would own its folder, and the corrected command would
then be refused as "a different config"; so `train` calls `validate_inputs` before it locks or
writes anything, and `launch` calls it before it submits. It builds the task (the prompt sets: a
dataset file is read and checked row by row here), checks the batch against them, and opens the
tokenizer and model config of a pretrained model. Errors are `ConfigError`s naming the field.
"""

from __future__ import annotations

from scaling.config import ConfigError, ModelConfig, RunConfig, check_inputs
from scaling.model import char_tokenizer
from scaling.rl.engines import check_engine
from scaling.rl.prompts import check_encodable
from scaling.tasks import make_task
from scaling.tasks.base import Task
from scaling.tasks.lazy import upfront


def load_tokenizer(model: ModelConfig):
    """The run's tokenizer; a model folder or hub name must hold a model config and a tokenizer (not just exist)."""
    if model.name_or_path is None:
        return char_tokenizer()
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = model.name_or_path
    loaded = None
    for what, loader in (("model config", AutoConfig), ("tokenizer", AutoTokenizer)):
        try:
            loaded = loader.from_pretrained(source)
        except Exception as err:  # noqa: BLE001 - OSError, ValueError, EnvironmentError: all mean "not a model here"
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"model.name_or_path: no {what} loads from {source!r} ({first})") from None
    return loaded


def validate_inputs(config: RunConfig, encode: bool = True) -> Task:
    """The run's task, built and checked against the config; a `ConfigError` for any input that cannot run.
    `encode=False` skips tokenizing every prompt (~5 s for the default 21,000 on 2 cores; `launch` leaves it
    to the job, whose own call does it before writing anything)."""
    check_inputs(config)
    check_engine(config)
    try:
        task = make_task(config.task, config.warmstart_seed)
    except ConfigError:
        raise
    except ValueError as err:
        message = str(err)
        raise ConfigError(message if message.startswith("task") else f"task.{config.task.name}: {message}") from None
    train, val = len(task.train_examples()), len(task.val_examples())
    train = min(train, getattr(config.task, "train_prompts", None) or train)  # RFT trains on a fixed subset
    if config.rollout.prompts_per_step > train:
        raise ConfigError(f"rollout.prompts_per_step: {config.rollout.prompts_per_step} prompts per step but the task "
                          f"has {train} training prompts")
    if config.eval.prompts is not None and config.eval.prompts > val:
        raise ConfigError(f"eval.prompts: {config.eval.prompts} requested but the task has {val} held-out prompts")
    tokenizer = load_tokenizer(config.model)
    if not encode:
        return task
    try:
        check_encodable(tokenizer, [*upfront(task.train_examples()), *task.val_examples()],
                        getattr(task, "prompt_style", None))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return task
