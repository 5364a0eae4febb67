"""Checkpoints for exact resume: model, master weights, optimizer, scheduler, scaler, every RNG,
the prompt pool and the compute meter, in one file written atomically (temp file + rename).

With `checkpoint.keep_eval_weights`, the policy of every evaluation step is also kept as a saved model
(`weights/step_N/`: save_pretrained files plus `compute.json`, the evaluation row's compute columns),
never pruned: the checkpoints `scaling infer` samples from."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

KEEP = 2
PATTERN = re.compile(r"step_(\d+)\.pt$")


def checkpoint_paths(folder: Path) -> list[tuple[int, Path]]:
    if not folder.exists():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := PATTERN.match(p.name))]
    return sorted(found)


def save_checkpoint(folder: Path, step: int, state: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    state = {**state, "step": step, "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                            "python": random.getstate()}}
    path = folder / f"step_{step:06d}.pt"
    tmp = folder / f".{path.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    for _, old in checkpoint_paths(folder)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def load_latest(folder: Path) -> dict | None:
    """The newest checkpoint that loads (a file cut by a crash is skipped), with global RNGs restored."""
    for _, path in reversed(checkpoint_paths(folder)):
        try:
            state = torch.load(path, weights_only=False)
        except Exception:  # noqa: BLE001 - a truncated file from a killed writer: try the previous one
            continue
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return state
    return None


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
    (tmp / COMPUTE_FILE).write_text(json.dumps(compute, indent=1))
    shutil.rmtree(target, ignore_errors=True)  # a copy cut by a crash has no compute.json
    os.replace(tmp, target)
    return target


def eval_weight_paths(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every kept evaluation policy, oldest first."""
    if not folder.exists():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := WEIGHTS_PATTERN.match(p.name)) and (p / COMPUTE_FILE).exists()]
    return sorted(found)
