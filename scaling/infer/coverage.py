"""Fitted laws of repeated sampling (pure numpy/scipy).

Coverage (Brown et al. 2024, "Large Language Monkeys"): the share of problems solved by at least one
of k samples follows c(k) ~ exp(a k^b), a < 0, b < 0 (Llama-3-8B on MATH: a = -1.33, b = -0.43).
It is fitted as log c(k) = a k^b by least squares (scipy) on log-spaced k, so that k = 1..4 weigh as
much as k = 32..64. The k points of one
curve come from the same samples and are strongly correlated, so intervals come from a bootstrap
over problems (each problem's n samples resampled as a unit), never from the least-squares covariance.

Majority voting saturates: maj@k approaches the share of problems whose most likely answer is right.
`plateau` reports maj@N (with the same problem bootstrap) and the k from which the curve stays within
a tolerance of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

B_BOUND = 4.0  # |b| searched; the anchors sit near -0.4


def law(k, a: float, b: float):
    return np.exp(a * np.power(np.asarray(k, dtype=float), b))


def log_grid(n: int, points: int = 24) -> np.ndarray:
    """Distinct integer k in 1..n, evenly spaced in log k."""
    return np.unique(np.round(np.geomspace(1, n, min(points, n))).astype(int))


def fit_curve(ks: np.ndarray, coverage: np.ndarray) -> tuple[float, float]:
    """(a, b) of log c(k) = a k^b by least squares; ValueError when the curve says nothing about the law.

    For fixed b the model is linear in a (closed form, a <= 0), so the fit is a 1-D search over b: a grid,
    then a bounded refinement around its best point (fast enough for hundreds of bootstrap refits)."""
    ks, coverage = np.asarray(ks, float), np.asarray(coverage, float)
    if ((coverage > 0) & (coverage < 1)).sum() < 2:
        raise ValueError("coverage law: fewer than 2 points strictly between 0 and 1 (nothing solved, or everything)")
    pos = coverage > 0
    k, y = ks[pos], np.log(coverage[pos])

    def best_a(b):
        x = np.power(k, np.atleast_1d(b)[:, None])
        return np.minimum((x * y).sum(1) / (x * x).sum(1), 0.0), x

    def sse(b):
        a, x = best_a(b)
        return ((y - a[:, None] * x) ** 2).sum(1)

    grid = np.linspace(-B_BOUND, B_BOUND, 401)
    i = int(np.argmin(sse(grid)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    b = minimize_scalar(lambda v: float(sse(v)[0]), bounds=(lo, hi), method="bounded",
                        options={"xatol": 1e-10}).x
    return float(best_a(b)[0][0]), float(b)


@dataclass
class CoverageFit:
    a: float
    b: float
    a_interval: tuple[float, float]
    b_interval: tuple[float, float]
    ks: np.ndarray
    coverage: np.ndarray
    level: float = 0.95
    boots: int = 0
    failed_boots: int = 0
    extra: dict = field(default_factory=dict)

    def predict(self, k) -> np.ndarray:
        return law(k, self.a, self.b)

    def row(self) -> dict:
        return {"a": self.a, "a_lo": self.a_interval[0], "a_hi": self.a_interval[1], "b": self.b,
                "b_lo": self.b_interval[0], "b_hi": self.b_interval[1], "coverage_at_1": float(self.coverage[0]),
                "coverage_at_n": float(self.coverage[-1]), "n": int(self.ks[-1]), "boots": self.boots}


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def fit_coverage(per_problem: np.ndarray, *, boots: int = 300, level: float = 0.95, seed: int = 0,
                 points: int = 24) -> CoverageFit:
    """Fit the law to per-problem pass@k curves, shape (problems, n) with k = 1..n along axis 1."""
    per_problem = np.asarray(per_problem, float)
    if per_problem.ndim != 2 or per_problem.shape[0] < 2:
        raise ValueError("coverage law: needs pass@k curves of at least 2 problems")
    ks = log_grid(per_problem.shape[1], points)
    cols = per_problem[:, ks - 1]
    a, b = fit_curve(ks, cols.mean(axis=0))
    rng = np.random.default_rng(seed)
    draws, failed = [], 0
    for _ in range(boots):
        sample = cols[rng.integers(0, len(cols), len(cols))].mean(axis=0)
        try:
            draws.append(fit_curve(ks, sample))
        except ValueError:
            failed += 1
    if not draws:
        raise ValueError("coverage law: no bootstrap resample could be fitted")
    draws = np.asarray(draws)
    return CoverageFit(a, b, _interval(draws[:, 0], level), _interval(draws[:, 1], level), ks, cols.mean(axis=0),
                       level, boots, failed)


@dataclass
class Plateau:
    value: float
    interval: tuple[float, float]
    k_saturated: int
    tolerance: float
    peak_k: int
    peak: float

    saturated: bool = True

    def row(self) -> dict:
        return {"plateau": self.value, "plateau_lo": self.interval[0], "plateau_hi": self.interval[1],
                "k_saturated": self.k_saturated, "saturated": self.saturated, "tolerance": self.tolerance,
                "peak_k": self.peak_k, "peak": self.peak}


def saturation_k(curve: np.ndarray, tolerance: float) -> int:
    """The smallest k from which the curve stays within `tolerance` of its last value."""
    far = np.abs(np.asarray(curve) - curve[-1]) > tolerance
    return int(np.nonzero(far)[0].max() + 2) if far.any() else 1


def plateau(per_problem: np.ndarray, *, tolerance: float = 0.01, boots: int = 300, level: float = 0.95,
            seed: int = 0) -> Plateau:
    """maj@N as the plateau of maj@k (per-problem curves, shape (problems, N)) and where it is reached. The
    curve counts as saturated only when it stayed within the tolerance over at least the last half of the k
    measured; otherwise maj@N is a lower bound of the plateau."""
    per_problem = np.asarray(per_problem, float)
    curve = per_problem.mean(axis=0)
    rng = np.random.default_rng(seed)
    ends = [per_problem[rng.integers(0, len(per_problem), len(per_problem)), -1].mean() for _ in range(boots)]
    peak = int(np.argmax(curve))
    k_sat = saturation_k(curve, tolerance)
    return Plateau(float(curve[-1]), _interval(np.asarray(ends), level), k_sat, tolerance, peak + 1, float(curve[peak]),
                   saturated=k_sat <= max(1, len(curve) // 2))
