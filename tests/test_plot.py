"""Figures that must not crash on the fits real runs produce."""

import io

import numpy as np

from scaling import plot
from scaling.fit.result import FitResult


def test_efficiency_plot_survives_a_flat_curve_with_a_huge_c_mid():
    # A run that never learned fits C_mid far beyond the data; C_mid**B overflowed a Python float before.
    x = np.geomspace(1e9, 1e11, 8)
    fit = FitResult(params={"A": 0.2, "B": 3.0, "C_mid": 1e200, "R0": 0.09}, intervals={}, level=0.95,
                    window=[1e9, 1e11], n_points=8, n_runs=1, residuals={}, noise="binomial", identified=False,
                    flags=[], messages=[], data={"x": list(x), "y": [0.1] * 8, "in_window": [True] * 8})
    fig = plot.efficiency([fit])
    fig.savefig(io.BytesIO(), format="png")
    assert "slope B = 3.00" in fig.axes[0].get_legend_handles_labels()[1][0]


def test_efficiency_plot_survives_when_nothing_positive_is_left_to_draw():
    # The quickstart test's 12-step runs fit B = 85 at FLOPs ~5e7: C_mid**B and C**B overflow, so no point or
    # line is finite, and log axes over no data raised "Data cannot be log-scaled" when the figure was saved.
    x = np.geomspace(1.3e7, 8.1e7, 8)
    fit = FitResult(params={"A": 0.25, "B": 85.0, "C_mid": 3.5e7, "R0": 0.04}, intervals={}, level=0.95,
                    window=[1.3e7, 8.1e7], n_points=8, n_runs=1, residuals={}, noise="binomial", identified=True,
                    flags=[], messages=[], data={"x": list(x), "y": list(np.linspace(0.1, 0.24, 8)), "in_window": [True] * 8})
    fig = plot.efficiency([fit])
    fig.savefig(io.BytesIO(), format="png")
    assert "nothing to draw" in fig.axes[0].texts[0].get_text()
