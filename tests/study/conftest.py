"""Fixtures for study tests: a fake trainer importable by worker subprocesses, private core slots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from scaling.study.executors import Entry
from scaling.study.status import LIVE, status

HERE = Path(__file__).parent
FAKE = Entry(train="fake_trainer:train", warmstart="fake_trainer:ensure_base_model")


@pytest.fixture(autouse=True)
def study_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workers import `fake_trainer` (PYTHONPATH), lock slots in tmp, trace to a file."""
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    monkeypatch.setenv("SCALING_SLOTS_DIR", str(tmp_path / "slots"))
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_TRACE", str(tmp_path / "trace"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


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


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    def write(spec: dict[str, Any] | None = None, name: str = "spec.yaml", **changes: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec if spec is not None else tiny_spec(tmp_path, **changes)))
        return path
    return write


def wait_finished(spec: Any, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = status(spec)
        if not any(r["state"] in LIVE for r in rows):
            return rows
        time.sleep(0.2)
    raise TimeoutError(f"runs still live after {timeout_s}s: {[(r['name'], r['state']) for r in rows]}")
