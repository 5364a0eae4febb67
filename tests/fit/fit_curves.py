"""Synthetic curves shared by the fit tests (anchors.md "Fitting facts").

A module of its own, not conftest.py: `from conftest import ...` resolves to whichever conftest.py
was imported first when several test folders are collected together (tests/study has one too).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.fit.sigmoid import sigmoid_curve

TRUTH = {"A": 0.6, "B": 1.5, "C_mid": 300.0, "R0": 0.1}
C = np.geomspace(1, 1e4, 41)


def noisy(seed: int, sd: float = 0.01, truth: dict = TRUTH, c: np.ndarray = C) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(sigmoid_curve(c, **truth) + rng.normal(0, sd, len(c)), 0, 1)


def study(n_runs: int, recipes: dict, seed: int = 0, n: int = 200, k: int = 8) -> pd.DataFrame:
    """Runs with binomial evaluations and per-prompt counts; prompt difficulty spread around the mean."""
    rng = np.random.default_rng(seed)
    frames = []
    steps = np.arange(0, 41) * 25.0
    for name, truth in recipes.items():
        for r in range(n_runs):
            p_mean = sigmoid_curve(np.maximum(steps, 0), **truth)
            counts = [rng.binomial(k, np.clip(p + rng.normal(0, 0.1, n), 0, 1)).tolist() for p in p_mean]
            frames.append(pd.DataFrame({
                "flops": steps, "pass_rate": [np.mean(c) / k for c in counts], "eval_prompts": n, "eval_k": k,
                "correct_counts": counts, "run_id": f"{name}-{r}", "recipe": name}))
    return pd.concat(frames, ignore_index=True)
