"""Shared helpers for study tests (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scaling.study.executors import Entry
from scaling.study.status import LIVE, status

HERE = Path(__file__).parent
FAKE = Entry(train="fake_trainer:train", warmstart="fake_trainer:ensure_base_model")


def tiny_spec(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "tiny",
        "output": str(tmp_path / "results"),
        "base": {"train": {"steps": 4}, "eval": {"every": 2}},
        "axes": {"loss.type": ["grpo", "cispo"]},
        "seeds": [0, 1],
        "resources": {"executor": "local"},
    }
    spec.update(changes)
    return spec


def wait_finished(spec: Any, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = status(spec)
        if not any(r["state"] in LIVE for r in rows):
            return rows
        time.sleep(0.2)
    raise TimeoutError(f"runs still live after {timeout_s}s: {[(r['name'], r['state']) for r in rows]}")
