"""Checkpoints for exact resume: model, master weights, optimizer, scheduler, scaler, every RNG,
the prompt pool and the compute meter, in one file written atomically (temp file + rename)."""

from __future__ import annotations

import os
import random
import re
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
