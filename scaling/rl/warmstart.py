"""Supervised warm start: a base model with a low but non-zero pass rate at the sampling temperature.

RL from a model that never samples a correct answer gets no signal; from one that already solves
everything it has nothing to learn. The SFT transition on these tasks is sudden (greedy 0.4% ->
68% within ~50 steps here), so the pass rate is checked often, and a check that overshoots the
band rolls back to the previous check and continues with a finer interval. The band is judged at
the sampling temperature: a checkpoint with 12.5% greedy accuracy but 0.3% at temperature 1
collapsed under GRPO.

The result is cached by a hash of everything that determines it, behind a file lock, so every run
of a grid starts from the identical base model and it is built once.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from scaling.config import RunConfig, stable_hash
from scaling.rl.evaluate import evaluate
from scaling.fsio import atomic_write, file_lock, replace_dir
from scaling.model import make_policy
from scaling.rl.prompts import check_encodable, prompt_ids
from scaling.runtime import resolve_device
from scaling.tasks import make_task
from scaling.tasks.base import PromptStyle
from scaling.tasks.lazy import upfront, with_demonstrations

log = logging.getLogger(__name__)
CACHE_ENV = "SCALING_CACHE"
# Bumped whenever the warm-start procedure changes its result, so stale cached bases are not reused.
PROCEDURE_VERSION = 2


def warmstart_key(config: RunConfig, device: torch.device | None = None) -> str:
    """Everything that determines the base model; a GPU build samples with another generator, so it has its own key."""
    relevant = {"procedure": PROCEDURE_VERSION, "task": config.task.model_dump(), "model": config.model.model_dump(exclude={"precision"}),
                "warmstart": config.warmstart.model_dump(exclude={"cache_dir"}),
                "seed": config.warmstart_seed,
                "sampling": config.rollout.model_dump(include={"temperature", "max_new_tokens", "interrupt_text",
                                                               "interrupt_budget"})}
    if device is not None and device.type != "cpu":
        relevant["device"] = device.type
    return stable_hash(relevant)


def cache_root(config: RunConfig) -> Path:
    if config.warmstart.cache_dir:
        return Path(config.warmstart.cache_dir)
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "scaling")) / "warmstart"


def ensure_base_model(config: RunConfig, device: torch.device | None = None) -> Path:
    """The cached base checkpoint for this config's warm start; built on first use, on `device` (default:
    `config.device`). Called from inside a run's job: the first one builds it, the others wait on the lock."""
    device = device if device is not None else resolve_device(config.device)
    root = cache_root(config)
    target = root / warmstart_key(config, device)
    with file_lock(root / f"{target.name}.lock"):
        if (target / "warmstart.json").exists():
            return target
        model, tokenizer, info = supervised_warm_start(config, device)
        model.to("cpu")
        tmp = root / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        hf_logging.disable_progress_bar()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        atomic_write(tmp / "warmstart.json", json.dumps(info, indent=1))  # the marker of a complete folder
        replace_dir(tmp, target)
    return target


def _batches(examples, tokenizer, batch_size: int, generator: torch.Generator, style: PromptStyle):
    """Endless shuffled batches of prompt+demonstration+EOS, with the loss on the answer only."""
    eos = tokenizer.eos_token_id
    while True:
        order = torch.randperm(len(examples), generator=generator, device=generator.device).tolist()
        for lo in range(0, len(order) - batch_size + 1, batch_size):
            rows, labels = [], []
            for i in order[lo:lo + batch_size]:
                prompt = prompt_ids(tokenizer, examples[i].prompt, style)  # exactly what RL samples from
                answer = tokenizer.encode(examples[i].demonstration, add_special_tokens=False) + [eos]
                rows.append(prompt + answer)
                labels.append([-100] * len(prompt) + answer)
            width = max(map(len, rows))
            pad = tokenizer.pad_token_id
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=generator.device)
            lab = torch.tensor([[-100] * (width - len(r)) + r for r in labels], device=generator.device)
            yield ids, lab, (ids != pad) | (lab != -100)


def supervised_warm_start(config: RunConfig, device: torch.device | str = "cpu"):
    ws = config.warmstart
    torch.manual_seed(config.warmstart_seed)
    model, tokenizer = make_policy(config.model, config.warmstart_seed)
    model.to(device)
    task = make_task(config.task, config.warmstart_seed)
    train = with_demonstrations(task.train_examples())
    checks = task.val_examples()[:ws.check_prompts]
    check_encodable(tokenizer, [*upfront(train), *checks], task.prompt_style)

    def pass_rate() -> float:
        model.eval()
        result = evaluate(model, tokenizer, task, checks, k=1, greedy=False, seed=config.warmstart_seed,
                          rollout=config.rollout)
        model.train()
        return result.pass_rate

    info = {"steps": 0, "pass_rate": pass_rate(), "history": []}
    if not ws.enabled or ws.target_low <= info["pass_rate"] <= ws.target_high or not train:
        return model, tokenizer, info
    optimizer = torch.optim.AdamW(model.parameters(), lr=ws.lr, fused=True)
    order = torch.Generator(device=device).manual_seed(config.warmstart_seed)
    batches = _batches(train, tokenizer, min(ws.batch_size, len(train)), order, task.prompt_style)
    interval, step = ws.check_every, 0
    saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()), 0)
    while step < ws.max_steps:
        for _ in range(min(interval, ws.max_steps - step)):
            ids, labels, mask = next(batches)
            loss = model(input_ids=ids, attention_mask=mask.long(), labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        rate = pass_rate()
        info["history"].append((step, rate))
        if ws.target_low <= rate <= ws.target_high:
            info.update(steps=step, pass_rate=rate)
            return model, tokenizer, info
        if rate > ws.target_high and interval > 1:
            # Overshot the band: go back to the last check below it and look more often.
            model.load_state_dict(saved[0])
            optimizer.load_state_dict(saved[1])
            step, interval = saved[2], max(1, interval // 5)
            continue
        if rate > ws.target_high:
            break  # overshot within a single step: the band is narrower than one step moves
        saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()), step)
    log.warning("warm start ended at %d steps with pass rate %.3f outside [%.2f, %.2f]",
                step, rate, ws.target_low, ws.target_high)
    info.update(steps=step, pass_rate=rate, outside_band=True)
    return model, tokenizer, info
