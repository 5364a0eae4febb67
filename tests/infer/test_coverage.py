"""The coverage law exp(a k^b): exact recovery on the law itself, and recovery within its bootstrap interval
from simulated problems; the maj@k plateau."""

import numpy as np
import pytest
from scipy.special import betaln

from scaling.infer.coverage import fit_coverage, fit_curve, law, log_grid, plateau, saturation_k
from scaling.infer.estimators import pass_at_k_curve


def test_fit_recovers_the_large_language_monkeys_parameters_from_the_law_itself():
    ks = log_grid(10_000, 40)
    a, b = fit_curve(ks, law(ks, -1.33, -0.43))
    assert a == pytest.approx(-1.33, rel=1e-6) and b == pytest.approx(-0.43, rel=1e-6)


def test_fit_recovers_the_population_law_within_its_interval_from_simulated_problems():
    # Problems with pass probabilities p ~ Beta(0.4, 2): population coverage 1 - E[(1-p)^k] in closed form;
    # the law's parameters for that population are what each estimate from 300 problems x 64 samples must
    # cover. 95% intervals: over 20 independent simulations at least 16 must cover both (P(< 16) < 1e-3).
    alpha, beta, n = 0.4, 2.0, 64
    ks = log_grid(n)
    population = 1 - np.exp(betaln(alpha, beta + ks) - betaln(alpha, beta))
    target = fit_curve(ks, population)
    covered = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        p = rng.beta(alpha, beta, 300)
        curves = np.stack([pass_at_k_curve(n, int(c)) for c in rng.binomial(n, p)])
        fit = fit_coverage(curves, boots=100, seed=seed)
        assert fit.a < 0 and fit.b < 0 and fit.a_interval[1] - fit.a_interval[0] < 0.5
        covered += (fit.a_interval[0] <= target[0] <= fit.a_interval[1]) and (fit.b_interval[0] <= target[1] <= fit.b_interval[1])
    assert covered >= 16, covered


def test_unfittable_coverage_is_a_clear_error():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        fit_curve(np.arange(1, 9), np.ones(8))


def test_plateau_and_saturation_k():
    assert saturation_k(np.array([0.2, 0.5, 0.6, 0.605, 0.602]), 0.01) == 3
    assert saturation_k(np.array([0.5, 0.5]), 0.01) == 1
    curves = np.array([[0.0, 0.5, 1.0, 1.0], [1.0, 0.5, 0.0, 0.0]])
    result = plateau(curves, tolerance=0.01, boots=50)
    assert result.value == 0.5 and result.k_saturated == 1 and result.peak_k == 1
