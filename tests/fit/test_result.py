"""FitResult: JSON round-trip, predict, and the noise models (counts, binomial) and per-run spread."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fit_curves import C, noisy, study
from scaling.fit import FitResult, fit_curve
from scaling.fit.weights import binomial_variance, counts_variance, prompt_set_variance


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


def test_prompt_difficulty_is_not_point_noise():
    """Prompts that always or never pass (a fixed set, wide difficulty spread) add no noise between
    evaluations; only the within-prompt sampling does. The spread is reported on its own."""
    k = np.array([4.0])
    spread_only = [[0] * 50 + [4] * 50]                     # p_i in {0, 1}: no sampling noise
    sampling = [[2] * 100]                                    # every p_i = 0.5: all sampling noise
    assert counts_variance(spread_only, k)[0] < 1e-5 < prompt_set_variance(spread_only, k)[0]
    assert counts_variance(sampling, k)[0] == pytest.approx(0.5 * 0.5 / 4 / 100 * 4 / 3, rel=1e-9)
    assert prompt_set_variance(sampling, k)[0] == 0.0
    rng = np.random.default_rng(0)   # unbiased: the mean over many evaluations matches the truth
    p = rng.uniform(0, 1, 200)
    est = [counts_variance([rng.binomial(8, p).tolist()], np.array([8.0]))[0] for _ in range(400)]
    assert np.mean(est) == pytest.approx(np.mean(p * (1 - p)) / 8 / 200, rel=0.03)


def test_counts_give_known_noise_and_per_run_spread():
    df = study(5, {"r": {"A": 0.6, "B": 2.0, "C_mid": 300.0, "R0": 0.1}}, seed=1)
    fit = fit_curve(df)
    assert fit.noise == "known" and fit.n_runs == 5
    assert len(fit.runs["ids"]) == 5 and len(fit.runs["params"]["A"]) == 5
    assert "per-run fits combined (t, 4 dof" in fit.interval_method
    lo, hi = fit.intervals["A"]
    assert lo <= fit.params["A"] <= hi and hi - lo < 0.1
    no_counts = fit_curve(df.drop(columns="correct_counts"))
    assert no_counts.noise == "binomial"
    plain = fit_curve(df[["flops", "pass_rate"]])
    assert plain.noise == "constant" and plain.n_runs == 1 and "one run" in plain.interval_method


def test_three_kinds_of_interval_nest():
    df = study(3, {"r": {"A": 0.6, "B": 2.0, "C_mid": 300.0, "R0": 0.1}}, seed=2)
    fit = fit_curve(df)
    c = 4 * fit.window[1]
    mean, run, one = (fit.predict(c, kind) for kind in ("mean", "run", "eval"))
    assert mean.value == run.value == one.value
    assert one.lo <= run.lo <= mean.lo <= mean.value <= mean.hi <= run.hi <= one.hi
    assert one.hi - one.lo > mean.hi - mean.lo
    avg = fit.predict(c, "eval", n_mean=10)
    assert avg.lo >= one.lo and avg.hi <= one.hi
    single = fit_curve(df[df["run_id"] == "r-0"])
    assert single.predict(c, "run").note.startswith("one run")
    with pytest.raises(ValueError, match="kind"):
        fit.predict(c, "band")
