"""Per-point noise of a pass rate, from the binomial standard error of each evaluation.

A pass rate is a mean over n prompts of c_i / k (c_i correct samples out of k). Were the prompts
drawn afresh, its variance would be [Var(p_i) + mean p_i (1 - p_i) / k] / n: the spread of prompt
difficulty plus the sampling noise within each prompt. But the evaluation set (and its random
numbers) is fixed across evaluations (scaling/rl/evaluate.py), so the difficulty part is one draw
shared by every point of every run: it moves the whole curve together, never one point against
another. Only the within-prompt sampling noise, mean p_i (1 - p_i) / (k n), is independent from
point to point; that is the variance the fit weights use (`counts_variance`), and the shared part is
reported on its own (`prompt_set_variance`: how far the pass rate on a fresh prompt set could sit).
Without counts, p(1 - p) / (n k) from the *fitted* p is used and its scale estimated from the
residuals. Never from a raw 0 or 1: an evaluation at 0/nk would get zero variance and infinite weight.
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


def _per_prompt(counts: Sequence[Any], k: np.ndarray):
    for cell, ki in zip(counts, k):
        c = _as_counts(cell)
        ok = c is not None and c.size >= 2 and np.isfinite(ki) and ki > 0
        yield (c, float(ki)) if ok else (None, None)


def _within(c: np.ndarray, k: float) -> float:
    """Unbiased mean over prompts of p_i (1 - p_i) / k, divided by n: the independent sampling part."""
    if k <= 1:
        return 0.0
    return float((c * (k - c)).sum() / (k * (k - 1)) / k / c.size ** 2)


def counts_variance(counts: Sequence[Any], k: np.ndarray) -> np.ndarray:
    """Independent (sampling) variance of each pass rate from its per-prompt counts; NaN where missing.

    sum_i p_i (1 - p_i) / k / n^2, with the unbiased per-prompt estimate c_i (k - c_i) / (k (k - 1))
    of p_i (1 - p_i). Floored at a quarter of one sample's squared weight, 1 / (4 (n k)^2), so that
    an evaluation where every prompt scored all or nothing is not treated as noise-free.
    """
    out = np.full(len(counts), np.nan)
    for i, (c, ki) in enumerate(_per_prompt(counts, k)):
        if c is None:
            continue
        out[i] = max(_within(c, ki), 0.25 / (c.size * ki) ** 2)
    return out


def prompt_set_variance(counts: Sequence[Any], k: np.ndarray) -> np.ndarray:
    """The prompt-difficulty part Var(p_i) / n of each evaluation: shared by all points, not noise
    between them (the sample variance of c_i / k minus its within-prompt share, floored at 0)."""
    out = np.full(len(counts), np.nan)
    for i, (c, ki) in enumerate(_per_prompt(counts, k)):
        if c is None:
            continue
        out[i] = max((c / ki).var(ddof=1) / c.size - _within(c, ki), 0.0)
    return out
