"""Fixtures for the fit tests; the synthetic curves live in fit_curves.py."""

from __future__ import annotations

import pytest

from fit_curves import study

@pytest.fixture
def small_csv(tmp_path):
    df = study(2, {"x": {"A": 0.7, "B": 2.0, "C_mid": 200.0, "R0": 0.1},
                   "y": {"A": 0.5, "B": 2.0, "C_mid": 200.0, "R0": 0.1}}, seed=3)
    path = tmp_path / "curves.csv"
    df.to_csv(path, index=False)
    return path
