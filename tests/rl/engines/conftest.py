"""vLLM tests (marker `vllm`) run in the vLLM environment (tests/rl/engines/setup_vllm.sh builds .venv-vllm):
skipped with the reason where vLLM is not importable (the main environment, a laptop), failed instead when
SCALING_REQUIRE_VLLM=1 (CI's vLLM stage), so that stage cannot pass by skipping everything."""

from __future__ import annotations

import importlib.util
import os

import pytest


def _vllm_problem() -> str | None:
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        return "vllm is not installed (bash tests/rl/engines/setup_vllm.sh builds .venv-vllm)"
    return None


def pytest_runtest_setup(item):
    """Before any fixture (the module's engine) is built."""
    if item.get_closest_marker("vllm") is None:
        return
    problem = _vllm_problem()
    if problem is not None:
        if os.environ.get("SCALING_REQUIRE_VLLM", "") == "1":
            pytest.fail(f"SCALING_REQUIRE_VLLM=1 but {problem}", pytrace=False)
        pytest.skip(problem)
