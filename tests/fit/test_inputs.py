"""Every bad input is a one-line FitError (or a flagged result), never a silent number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fit_curves import C, noisy
from scaling.fit import FitError, fit_curve


@pytest.mark.parametrize("xs, ys, sigma, message", [
    (C[:3], noisy(0)[:3], 0.01, "free parameters"),
    (C, np.full(41, 0.3), 0.01, "constant"),
    (C, np.r_[noisy(0)[:40], np.nan], 0.01, "NaN"),
    (np.r_[-1.0, C[1:]], noisy(0), 0.01, "negative"),
    (np.zeros(41), noisy(0), 0.01, "no positive"),
    (np.r_[np.inf, C[1:]], noisy(0), 0.01, "infinite"),
    (C, noisy(0) + 0.6, 0.01, r"outside \[0, 1\]"),
    (C, noisy(0) - 0.2, 0.01, r"outside \[0, 1\]"),
    (C, noisy(0), -1.0, "sigma"),
    (C[:4], noisy(0)[:4], None, "unknown noise"),
])
def test_bad_input_raises_one_line_error(xs, ys, sigma, message):
    with pytest.raises(FitError, match=message) as err:
        fit_curve((xs, ys), sigma=sigma, fit_from=0)
    assert "\n" not in str(err.value)


def test_unknown_column():
    df = pd.DataFrame({"flops": C, "pass_rate": noisy(0)})
    with pytest.raises(FitError, match="unknown column 'gpu_hours'"):
        fit_curve(df, x="gpu_hours")


def test_bad_r0_and_window():
    with pytest.raises(FitError, match="r0"):
        fit_curve((C, noisy(0)), r0="guess")
    with pytest.raises(FitError, match="outside"):
        fit_curve((C, noisy(0)), r0=1.5)
    with pytest.raises(FitError, match="window"):
        fit_curve((C, noisy(0)), fit_from=100, fit_to=10)


def test_zero_compute_is_the_baseline_not_a_curve_point():
    y = noisy(4)
    fit = fit_curve((np.r_[0.0, C], np.r_[0.1, y]), sigma=0.01)
    assert fit.data["x"][0] == 0.0 and fit.data["in_window"][0]  # anchors R0
    assert abs(fit.params["R0"] - 0.1) < 0.01


def test_seeds_at_the_same_compute_do_not_count_as_shape_points():
    xs = np.repeat([1.0, 10.0, 100.0], 5)
    with pytest.raises(FitError, match="3 distinct compute"):
        fit_curve((xs, np.repeat([0.1, 0.2, 0.3], 5) + np.tile(np.linspace(0, 0.01, 5), 3)), sigma=0.01, fit_from=0)


def test_excess_scatter_is_flagged_not_hidden():
    fit = fit_curve((C, noisy(5, sd=0.05)), sigma=0.01, fit_from=0)
    assert "overdispersed" in fit.flags
    assert fit.residuals["noise_scale"] > 5
    assert any("widened" in m for m in fit.messages)
