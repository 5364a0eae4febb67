"""Parameter recovery, the global search's independence of its start, and the R0 modes."""

from __future__ import annotations

import warnings

import lmfit
import numpy as np
import pytest

from fit_curves import C, TRUTH, noisy
from scaling.fit import fit_curve
from scaling.fit.sigmoid import sigmoid_curve


def test_recovers_known_parameters_on_full_window():
    fit = fit_curve((C, noisy(1)), sigma=0.01, fit_from=0)
    for name, tol in (("A", 0.015), ("B", 0.15), ("C_mid", 30), ("R0", 0.01)):
        assert abs(fit.params[name] - TRUTH[name]) < tol, (name, fit.params)
        lo, hi = fit.intervals[name]
        assert lo <= fit.params[name] <= hi
    assert fit.identified and not fit.flags


def test_noise_free_curve_is_exact():
    fit = fit_curve((C, sigmoid_curve(C, **TRUTH)), sigma=0.01, fit_from=0)
    assert fit.params["A"] == pytest.approx(0.6, abs=1e-4)
    assert fit.params["C_mid"] == pytest.approx(300, rel=1e-3)


def test_fixed_and_free_r0():
    y = noisy(2)
    fixed = fit_curve((C, y), sigma=0.01, r0=0.1)
    free = fit_curve((C, y), sigma=0.01, r0="fit")
    assert fixed.params["R0"] == 0.1 and fixed.intervals["R0"] == [0.1, 0.1]
    assert fixed.r0_mode == "fixed" and free.r0_mode == "fit"
    assert abs(free.params["R0"] - 0.1) < 0.03


def _ssr(p, y, m):
    return float(np.sum((y[m] - sigmoid_curve(C[m], p["A"], p["B"], p["C_mid"], p["R0"])) ** 2))


@pytest.mark.parametrize("fit_to", [100, 1000])
def test_same_optimum_from_any_start(fit_to):
    """The grid makes the start irrelevant; plain lmfit from the same starts does not agree with itself."""
    y, m = noisy(7), C <= fit_to
    rng = np.random.default_rng(0)
    starts = [{"A": rng.uniform(0.2, 1), "B": rng.uniform(0.3, 8), "C_mid": 10 ** rng.uniform(0, 5)} for _ in range(12)]
    fits = [fit_curve((C[m], y[m]), sigma=0.01, fit_from=0, start=s) for s in starts]
    ssr = [_ssr(f.params, y, m) for f in fits]
    assert max(ssr) - min(ssr) < 1e-6
    assert np.ptp([f.params["A"] for f in fits]) < 1e-3
    plain = []
    for s in starts:  # the single-start baseline the grid replaces
        p = lmfit.Parameters()
        p.add("A", value=s["A"], min=0, max=1); p.add("B", value=s["B"], min=0.01, max=100)
        p.add("C_mid", value=s["C_mid"], min=1e-3, max=1e8); p.add("R0", value=0.1, min=0, max=1)
        res = lmfit.minimize(lambda q: y[m] - sigmoid_curve(C[m], **q.valuesdict()), p, method="leastsq")
        plain.append(_ssr(res.params.valuesdict(), y, m))
    assert min(plain) >= min(ssr) - 1e-9  # nothing beats the global search
    if fit_to == 100:
        assert max(plain) > min(ssr) + 1e-4  # and single starts do get stuck here


def test_power_law_alternative_is_scored():
    fit = fit_curve((C, noisy(3)), sigma=0.01, fit_from=0)
    alt = fit.alternatives
    assert {"aic", "bic"} <= set(alt["sigmoid"]) and {"A", "B", "D", "aic", "bic"} <= set(alt["power_law"])
    assert alt["sigmoid"]["aic"] < alt["power_law"]["aic"]  # a sigmoid is a sigmoid
    pl = 0.8 - 0.7 * C ** -0.3
    fit = fit_curve((C, pl), sigma=0.01, fit_from=0)
    assert fit.alternatives["power_law"]["aic"] < fit.alternatives["sigmoid"]["aic"] + 2


def test_one_grid_search_serves_every_fit(monkeypatch):
    """The pooled fit, each per-run fit and the shared-A refits all go through sigmoid.grid_search."""
    from fit_curves import study
    from scaling.fit import sigmoid
    from scaling.fit.compare import shared_a

    calls = []
    real = sigmoid.grid_search
    monkeypatch.setattr(sigmoid, "grid_search", lambda *a, **k: calls.append(1) or real(*a, **k))
    fit = fit_curve(study(3, {"r": TRUTH}, seed=4))
    assert len(calls) == 1 + 3
    shared_a([fit, fit], n=5)
    assert len(calls) > 4


@pytest.mark.parametrize("r0", ["fit", None, 0.0])
def test_a_late_take_off_fits_without_numpy_warnings(r0):
    """Zero until the last evaluation (a common early curve): J'J is singular there and lmfit's unused standard errors
    took the square root of a negative variance ("invalid value encountered in sqrt"), printed on every fit."""
    x = np.array([0, 1, 2, 4, 8, 16, 32, 64.0])
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_curve((x, y), fit_from=0, r0=r0)  # noise estimated from the residuals (no sigma given)
    assert fit.params["A"] >= 0.5 - 1e-6 and np.isfinite(fit.params["B"])
