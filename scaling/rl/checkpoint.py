"""Checkpoints for exact resume: model, master weights, optimizer, scheduler, scaler, every RNG,
the prompt pool and the compute meter, in one file written atomically (scaling.fsio).

Loading falls back from the newest checkpoint to older ones: a file cut by a crash, or one that a
torch upgrade cannot read, must not send a run back to step 0, because a restart at step 0 drops
every evaluation row after it. When none loads, `load_latest` says which files failed and why,
and the loop refuses to start over a folder that holds rows (`CheckpointError`).
Tensors are loaded onto the resuming run's device (`map_location`), whatever device saved them.

With `checkpoint.keep_eval_weights`, the policy of every evaluation step is also kept as a saved model
(`weights/step_N/`: save_pretrained files plus `compute.json`, the evaluation row's compute columns),
never pruned: the checkpoints `scaling infer` samples from.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from scaling.fsio import StorageError, atomic_write, replace_dir
from scaling.runtime import Runtime, device_rng_state, set_device_rng_state

log = logging.getLogger(__name__)
KEEP = 2
PATTERN = re.compile(r"step_(\d+)\.pt$")
UNREADABLE = ".unreadable"  # suffix of a checkpoint set aside after it failed to load


class CheckpointError(StorageError):
    """Checkpoints exist but none loads; the message names each file and its error."""


@dataclass
class Loaded:
    state: dict | None  # the newest checkpoint that loaded (global RNGs restored), or None
    failed: list[tuple[Path, str]] = field(default_factory=list)  # newer files that did not load, newest first

    def describe(self) -> str:
        return "; ".join(f"{path.name}: {reason}" for path, reason in self.failed)


def checkpoint_paths(folder: Path) -> list[tuple[int, Path]]:
    if not folder.exists():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := PATTERN.match(p.name))]
    return sorted(found)


def save_checkpoint(folder: Path, step: int, state: dict, runtime: Runtime | None = None) -> Path:
    state = {**state, "step": step, "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                            "python": random.getstate(),
                                            "device": device_rng_state(runtime) if runtime else None}}
    path = folder / f"step_{step:06d}.pt"
    atomic_write(path, lambda handle: torch.save(state, handle))
    for _, old in checkpoint_paths(folder)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def _read(path: Path, device: torch.device, mmap: bool = False) -> dict:
    state = torch.load(path, map_location=device, weights_only=False, mmap=mmap)
    if not isinstance(state, dict) or not {"rng", "step"} <= set(state):
        raise ValueError("not a checkpoint of this trainer (no step / rng entries)")
    return state


def load_latest(folder: Path, runtime: Runtime | None = None, on_cpu: bool = False) -> Loaded:
    """The newest checkpoint that loads, its tensors mapped onto the run's device (a GPU checkpoint resumes on
    another GPU, or on the CPU; `on_cpu`: memory-mapped on the CPU, as FSDP ranks want it: each takes only its
    shard, and the ranks of a node share the file's pages), with global RNGs restored; the newer ones that did
    not, with why."""
    device = runtime.device if runtime and not on_cpu else torch.device("cpu")
    failed: list[tuple[Path, str]] = []
    for _, path in reversed(checkpoint_paths(folder)):
        try:
            state = _read(path, device, mmap=on_cpu)
        except Exception as err:  # noqa: BLE001 - truncated file, unpickling error, torch version: try an older one
            failed.append((path, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")))
            continue
        torch.set_rng_state(state["rng"]["torch"].cpu())  # generator states are CPU byte tensors wherever they ran
        if runtime is not None:
            set_device_rng_state(runtime, state["rng"].get("device"))
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return Loaded(state, failed)
    return Loaded(None, failed)


def set_aside(failed: list[tuple[Path, str]]) -> None:
    """Rename unreadable checkpoints newer than the one resumed from, so that pruning (which keeps the
    newest KEEP by step) cannot keep them and delete the good one; kept, not deleted, for inspection."""
    for path, reason in failed:
        path.rename(path.with_name(path.name + UNREADABLE))
        log.warning("%s did not load (%s); renamed to %s%s and resumed from an older checkpoint",
                    path, reason, path.name, UNREADABLE)


WEIGHTS_PATTERN = re.compile(r"step_(\d+)$")
COMPUTE_FILE = "compute.json"


def save_eval_weights(folder: Path, step: int, model, tokenizer, row: dict) -> Path:
    """Keep the policy at an evaluation step as a saved model, once (a resumed run finds it done)."""
    target = folder / f"step_{step:06d}"
    if (target / COMPUTE_FILE).exists():
        return target
    tmp = folder / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    compute = {k: v for k, v in row.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    atomic_write(tmp / COMPUTE_FILE, json.dumps(compute, indent=1))
    shutil.rmtree(target, ignore_errors=True)  # a copy cut by a crash has no compute.json
    replace_dir(tmp, target)
    return target


def eval_weight_paths(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every kept evaluation policy, oldest first."""
    if not folder.exists():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := WEIGHTS_PATTERN.match(p.name)) and (p / COMPUTE_FILE).exists()]
    return sorted(found)
