"""Fixtures for study tests: a fake trainer importable by worker subprocesses, private core slots."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from study_helpers import HERE, tiny_spec


@pytest.fixture(autouse=True)
def study_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workers import `fake_trainer` (PYTHONPATH), lock slots in tmp, trace to a file."""
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    monkeypatch.setenv("SCALING_SLOTS_DIR", str(tmp_path / "slots"))
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_TRACE", str(tmp_path / "trace"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    def write(spec: dict[str, Any] | None = None, name: str = "spec.yaml", **changes: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec if spec is not None else tiny_spec(tmp_path, **changes)))
        return path
    return write
