"""The within-run wander model (scaling.fit.wander) and what it does to one run's intervals.

The residuals of a run are an AR(1) wander on top of independent measurement noise of known size. Read as a
pure AR(1), their lag-one correlation mixes the two (the noise dilutes it) and the long-run factor comes out
several times too small; the restricted likelihood separates them. On simulated single runs (no seed offset) the
95% intervals for A and for R at 2x and 4x the window cover the truth as in the table of
benchmarks/README.md (bench_coverage.py): 90-99% up to rho = 0.6, 88-90% at 0.8 and 83-86% at 0.9 (66% before).
The gap at high rho is a run whose fitted curve has absorbed its own slow swing: its residuals look like pure
noise, and no estimate from that run alone can see it (several seeds can: pooled fits hold 95-99%).
"""

from __future__ import annotations

import numpy as np
import pytest

from scaling.fit import spread, wander
from scaling.fit.simulate import ar1, coverage


def _series(rho: float, n: int = 300, sd: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ar1(rng, n, rho, sd) + rng.normal(0, 1, n)


def test_reml_separates_the_wander_from_the_known_noise():
    e = _series(0.8)
    n = len(e)
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)
    theta, _, gain = wander._reml(e - e.mean(), np.ones((n, 1)) / np.sqrt(n), lag, np.ones((n, n), bool), True)
    assert np.tanh(theta[0]) == pytest.approx(0.8, abs=0.08)
    assert np.exp(theta[1]) == pytest.approx(1.5 ** 2, rel=0.4)
    assert gain > 20  # the wander is plain to see in 300 points
    # Read as one AR(1), the lag-one correlation is diluted by the noise, and (1 + r) / (1 - r) misses the
    # long-run variance over the marginal one, (s2 (1 + rho) / (1 - rho) + 1) / (s2 + 1) = 6.5, by a third or more.
    truth = (2.25 * 9 + 1) / 3.25
    rho, s2 = np.tanh(theta[0]), np.exp(theta[1])
    assert (s2 * (1 + rho) / (1 - rho) + 1) / (s2 + 1) == pytest.approx(truth, rel=0.25)
    assert spread.long_run_factor(e, np.zeros(n), n_params=1) < 0.7 * truth


def test_no_wander_leaves_the_factor_near_one():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 4000, 41)
    p = {"A": 0.6, "B": 1.5, "C_mid": 1000.0, "R0": 0.1}
    w = np.full(41, 1e4)  # sd 0.01
    factors = []
    for _ in range(10):
        resid = rng.normal(0, 0.01, 41)
        resid[0] = 0.0
        out = wander.widening(x, resid, w, np.zeros(41), [(np.ones(41, bool), p)], p, True, True, 1.0, 0.95, 37)
        factors.append(out["factor"])
    assert np.median(factors) < 1.3, factors


def test_jacobian_matches_finite_differences():
    from scaling.fit.sigmoid import sigmoid_curve

    x = np.array([0.0, 300.0, 1000.0, 5000.0])
    p = {"A": 0.6, "B": 1.5, "C_mid": 1000.0, "R0": 0.1}
    J = wander.jacobian(x, **p)
    h = 1e-6
    num = [(sigmoid_curve(x, **{**p, "A": 0.6 + h}) - sigmoid_curve(x, **p)) / h,
           (sigmoid_curve(x, **{**p, "B": 1.5 * np.exp(h)}) - sigmoid_curve(x, **p)) / h,
           (sigmoid_curve(x, **{**p, "C_mid": 1000 * np.exp(h)}) - sigmoid_curve(x, **p)) / h,
           (sigmoid_curve(x, **{**p, "R0": 0.1 + h}) - sigmoid_curve(x, **p)) / h]
    assert J == pytest.approx(np.column_stack(num), abs=1e-5)


# (rho, lowest coverage asserted): 90% where it is met; at 0.8 and 0.9 the measured level (see the module
# docstring) less the sampling error of 100 studies, so that a return to the old 66-78% fails.
BANDS = [(0.0, 0.90), (0.3, 0.90), (0.6, 0.90), (0.8, 0.84), (0.9, 0.78)]


@pytest.mark.parametrize("rho, low", BANDS)
def test_one_run_coverage_against_autocorrelation(rho, low):
    """100 simulated one-run studies (~6 s)."""
    cov = coverage(100, 1, rho, seed=11, seed_sd=0.0)
    for key in ("A", "R@2x", "R@4x"):
        assert low <= cov[key] <= 0.99, (key, cov)
