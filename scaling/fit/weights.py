"""Per-point noise of a pass rate, from the binomial standard error of each evaluation.

A pass rate is a mean over n prompts of c_i / k (c_i correct samples out of k). Its variance is
[Var(p_i) + mean p_i (1 - p_i) / k] / n: the spread of prompt difficulty plus the sampling noise
within each prompt. With the per-prompt counts stored, the sample variance of c_i / k across
prompts estimates exactly that bracket. Without counts, p(1 - p) / (n k) from the *fitted* p is a
lower bound (it omits the prompt-difficulty spread), so its scale is estimated from the residuals.
Never from a raw 0 or 1: an evaluation at 0/nk would get zero variance and infinite weight.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def binomial_variance(p: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """p(1-p)/(nk) with p kept half a sample away from 0 and 1 (an all-wrong eval is not exact)."""
    nk = np.asarray(n, float) * np.asarray(k, float)
    p = np.clip(np.asarray(p, float), 0.5 / nk, 1.0 - 0.5 / nk)
    return p * (1.0 - p) / nk


def _as_counts(value: Any) -> np.ndarray | None:
    """A stored `correct_counts` cell as an int array (CSV files hold it as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().strip("[]")
        if not text:
            return None
        return np.array([float(t) for t in text.replace(",", " ").split()])
    arr = np.asarray(value, float)
    if arr.ndim != 1 or arr.size == 0 or np.isnan(arr).any():
        return None
    return arr


def counts_variance(counts: Sequence[Any], k: np.ndarray) -> np.ndarray:
    """Variance of each pass rate from its per-prompt counts; NaN where counts are missing.

    The sample variance (ddof=1) of c_i/k across the n prompts, divided by n, estimates
    [Var(p_i) + mean p_i(1-p_i)/k]/n. It is floored by the smoothed binomial variance so that an
    evaluation where every prompt scored the same is not treated as noise-free.
    """
    out = np.full(len(counts), np.nan)
    for i, (cell, ki) in enumerate(zip(counts, k)):
        c = _as_counts(cell)
        if c is None or c.size < 2 or not np.isfinite(ki) or ki <= 0:
            continue
        scores = c / ki
        p_smooth = (c.sum() + 0.5) / (c.size * ki + 1.0)
        floor = binomial_variance(np.array([p_smooth]), np.array([c.size]), np.array([ki]))[0]
        out[i] = max(scores.var(ddof=1) / c.size, floor)
    return out
