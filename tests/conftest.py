"""Shared fixtures: a tiny run config that trains in seconds, and an isolated warm-start cache."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY = {
    "threads": 1,
    "task": {"digits": 2, "train_size": 400, "val_size": 16},
    "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
    "warmstart": {"max_steps": 20, "check_every": 10, "check_prompts": 16, "target_low": 0.0, "target_high": 1.0},
    "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4, "max_new_tokens": 4},
    "optim": {"lr": 3e-3, "warmup_steps": 0},
    "train": {"steps": 6},
    "eval": {"every": 2, "k": 2},
    "checkpoint_every": 1,
}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    # The local executor's core slots are machine-wide: a study running beside the tests would starve them.
    monkeypatch.setenv("SCALING_SLOTS_DIR", str(tmp_path_factory.getbasetemp() / "slots"))


@pytest.fixture
def tiny_tree():
    import copy
    return copy.deepcopy(TINY)
