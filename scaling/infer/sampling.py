"""Many samples per held-out prompt from one checkpoint, scored, answers extracted, written to Parquet.

One table per (checkpoint, setting), one row per sample (scaling.store.SAMPLE_COLUMNS). Prompts are
sampled in fixed chunks; chunk j always uses a generator seeded from (setting seed, j) on the model's
device, so every checkpoint sees the same random numbers (common random numbers, as in evaluation)
and a killed `infer` that is run again continues after its last complete chunk and writes exactly the
table an uninterrupted one would. Each chunk rewrites the table atomically (scaling.store).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from scaling.compute import ModelShape, attended_positions
from scaling.fsio import atomic_write
from scaling.infer.budget import Budget, BudgetForcing, single_token, thinking_tokens
from scaling.model import count_parameters, stop_ids
from scaling.rl.rollout import decode, encode_prompts, sample
from scaling.store import SAMPLE_COLUMNS, read_rows, write_rows_atomic
from scaling.tasks.base import Example, Task

SETTING_FILE = "setting.json"


@dataclass(frozen=True)
class Setting:
    """How the samples of one table are drawn."""

    n: int
    prompts: int
    temperature: float
    max_new_tokens: int
    budget_min: int | None = None
    budget_max: int | None = None
    wait_text: str = "Wait"
    seed: int = 0
    batch_rows: int = 1024  # completions per sampler call

    def __post_init__(self):
        if self.n < 1 or self.prompts < 1 or self.max_new_tokens < 1 or self.temperature <= 0:
            raise ValueError("--n, --prompts and --max-new-tokens must be >= 1 and --temperature > 0")

    @property
    def budget(self) -> Budget | None:
        return None if self.budget_min is None else Budget(self.budget_min, self.budget_max)

    @property
    def label(self) -> str:
        text = f"n{self.n}-p{self.prompts}-t{self.temperature:g}"
        if self.budget is not None:
            text += f"-think{self.budget_min}-{'' if self.budget_max is None else self.budget_max}"
        return text

    @property
    def prompts_per_chunk(self) -> int:
        return max(1, self.batch_rows // self.n)

    def to_dict(self) -> dict:
        return asdict(self)


def claim_setting(folder: Path, setting: Setting) -> None:
    """A setting folder holds samples of one setting; a different one there would mix two tables."""
    path = folder / SETTING_FILE
    if path.exists():
        existing = json.loads(path.read_text())
        if existing != setting.to_dict():
            changed = sorted(k for k in setting.to_dict() if existing.get(k) != setting.to_dict()[k])
            raise ValueError(f"{folder}: holds samples drawn with different settings ({', '.join(changed)}); "
                             "choose another --out")
        return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(setting.to_dict(), indent=1))


@dataclass
class CheckpointInfo:
    step: int
    train_flops: float


class _Forcer:
    """The task's thinking marker and the budget-forcing token ids for a tokenizer."""

    def __init__(self, task: Task, tokenizer, setting: Setting):
        marker = getattr(task, "think_end", None)
        self.end_id = single_token(tokenizer, marker, "the end-of-thinking marker") if marker else None
        self.budget = setting.budget
        if self.budget is not None and marker is None:
            raise ValueError(f"--budget: task {task.name!r} has no thinking section (try task.name=addition_think)")
        if self.budget is not None:
            self.stop_ids = tokenizer.encode(marker + getattr(task, "answer_prefix", ""), add_special_tokens=False)
            self.wait_ids = tokenizer.encode(setting.wait_text, add_special_tokens=False)

    def controller(self, rows: int, eos_id: list[int], device) -> BudgetForcing | None:
        if self.budget is None:
            return None
        return BudgetForcing(rows, self.budget, end_id=self.end_id, eos_id=eos_id, wait_ids=self.wait_ids,
                             stop_ids=self.stop_ids, device=device)


def _chunk_rows(model, tokenizer, task: Task, chunk: list[tuple[int, Example]], setting: Setting,
                forcer: _Forcer, shape: ModelShape, info: CheckpointInfo, seed: int) -> list[dict]:
    device = next(model.parameters()).device
    ids, mask = encode_prompts(tokenizer, [ex.prompt for _, ex in chunk], task.prompt_style)
    ids, mask = ids.to(device), mask.to(device)
    n = setting.n
    generator = torch.Generator(device=device).manual_seed(seed)
    stops = stop_ids(model, tokenizer)
    forcing = forcer.controller(len(chunk) * n, stops, device)
    out = sample(model, ids, mask, max_new_tokens=setting.max_new_tokens, temperature=setting.temperature,
                 eos_id=stops, pad_id=tokenizer.pad_token_id, generator=generator, repeat=n,
                 forcing=forcing)
    texts = decode(tokenizer, out)
    own = out.action_mask.sum(-1).long().tolist()
    total = out.lengths.long().tolist()
    truncated = out.truncated.tolist()
    thinking = (thinking_tokens(out.tokens, out.action_mask, forcer.end_id, stops).tolist()
                if forcer.end_id is not None else [None] * len(texts))
    prompt_lens = mask.sum(-1).long().tolist()
    rows = []
    for r, text in enumerate(texts):
        pid, example = chunk[r // n]
        length = prompt_lens[r // n] + total[r]
        rows.append({"step": info.step, "train_flops": info.train_flops, "setting": setting.label,
                     "temperature": setting.temperature, "budget_min": setting.budget_min,
                     "budget_max": setting.budget_max, "prompt_id": pid, "sample": r % n,
                     "answer": task.extract_answer(text), "correct": float(task.score(example, text)),
                     "prompt_tokens": prompt_lens[r // n], "completion_tokens": own[r],
                     "forced_tokens": total[r] - own[r], "thinking_tokens": thinking[r], "truncated": bool(truncated[r]),
                     "inference_flops": shape.forward_flops(length, attended_positions(0, length))})
    return rows


def table_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:06d}.parquet"


@torch.no_grad()
def sample_checkpoint(model, tokenizer, task: Task, examples: list[Example], setting: Setting, info: CheckpointInfo,
                      folder: Path, *, on_chunk: Callable[[int, int], None] | None = None) -> Path:
    """Write (or finish) the table of one checkpoint under `folder`; returns its path.

    `on_chunk(done_prompts, total_prompts)` is called after each chunk is on disk (progress bars; tests
    use it to interrupt a run)."""
    if len(examples) < setting.prompts:
        raise ValueError(f"--prompts {setting.prompts}: the task has only {len(examples)} held-out prompts")
    claim_setting(folder, setting)
    path = table_path(folder, info.step)
    rows = read_rows(path)
    per_chunk, total = setting.prompts_per_chunk, setting.prompts
    if len(rows) % (per_chunk * setting.n) and len(rows) != total * setting.n:
        raise ValueError(f"{path}: {len(rows)} rows is not a whole number of chunks; remove the file to resample it")
    forcer = _Forcer(task, tokenizer, setting)
    shape = ModelShape.of(model, count_parameters(model)["matmul"])
    indexed = list(enumerate(examples[:total]))
    done = len(rows) // setting.n
    if on_chunk:
        on_chunk(done, total)
    for lo in range(done, total, per_chunk):
        chunk = indexed[lo:lo + per_chunk]
        rows += _chunk_rows(model, tokenizer, task, chunk, setting, forcer, shape, info,
                            seed=setting.seed * 1_000_003 + lo // per_chunk)
        write_rows_atomic(path, rows, SAMPLE_COLUMNS)
        if on_chunk:
            on_chunk(lo + len(chunk), total)
    return path
