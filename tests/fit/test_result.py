"""FitResult: JSON round-trip, predict, and the noise models (counts, binomial, bootstrap)."""

from __future__ import annotations

import json

import numpy as np

from fit_curves import C, noisy, study
from scaling.fit import FitResult, fit_curve
from scaling.fit.weights import binomial_variance, counts_variance


def test_json_round_trip_and_predict():
    for fit_to in (100, 1000):
        fit = fit_curve((C, noisy(2)), sigma=0.01, fit_to=fit_to)
        text = fit.to_json()
        json.loads(text)  # strict JSON: open ends are null, not Infinity
        assert "Infinity" not in text
        back = FitResult.from_json(text)
        assert back.params == fit.params and back.flags == fit.flags and back.identified == fit.identified
        assert back.intervals == fit.intervals
        a, b = fit.predict(5000.0), back.predict(5000.0)
        assert (a.value, a.lo, a.hi) == (b.value, b.lo, b.hi)
        assert a.lo <= a.value <= a.hi
        arr = back.predict(np.array([10.0, 1e5]))
        assert arr.value.shape == (2,) and np.all(arr.lo <= arr.hi)


def test_weights_never_from_raw_zero_or_one():
    assert binomial_variance(np.array([0.0, 1.0]), np.array([100]), np.array([4])).min() > 0
    v = counts_variance([[0, 0, 0], [4, 4, 4], [0, 4, 2]], np.array([4, 4, 4]))
    assert np.all(v > 0) and v[2] > v[0]
    v = counts_variance(["[1, 2, 3]", None], np.array([4, 4]))
    assert np.isfinite(v[0]) and np.isnan(v[1])


def test_counts_give_known_noise_and_bootstrap_over_runs():
    df = study(5, {"r": {"A": 0.6, "B": 2.0, "C_mid": 300.0, "R0": 0.1}}, seed=1)
    fit = fit_curve(df)
    assert fit.noise == "known" and fit.n_runs == 5
    assert fit.bootstrap and fit.bootstrap["n_runs"] == 5
    lo, hi = fit.bootstrap["A"]
    assert lo <= fit.params["A"] <= hi + 0.01 and hi - lo < 0.1
    no_counts = fit_curve(df.drop(columns="correct_counts"))
    assert no_counts.noise == "binomial"
    plain = fit_curve(df[["flops", "pass_rate"]])
    assert plain.noise == "constant" and plain.bootstrap is None
