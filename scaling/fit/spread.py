"""What the profile intervals leave out: autocorrelation within a run and the spread between runs.

Successive evaluations of one run share its training noise (the policy wanders and comes back),
and each seed settles on its own curve. Points are then neither independent nor from one curve,
and a chi-square scale alone makes intervals too narrow. Two corrections, both reported:

* Within a run, the residuals about the run's own fit are autocorrelated; the variance of a smooth
  function of them (a parameter, a point of the curve) grows by the long-run factor
  (1 + rho) / (1 - rho) of an AR(1) with the residuals' (bias-corrected) lag-one correlation rho.
  The profile threshold is widened by that factor. A fit of one run uses the AR(1) wander model of
  scaling.fit.wander instead (the lag-one reading mixes the wander with the measurement noise and
  under-widens at high rho), never below this factor; pooled fits keep this one, since the t
  interval below carries each run's wander too.
* Across runs (2 or more seeds pooled), each run is fitted alone and the spread of the per-run
  estimates gives a t interval with (runs - 1) degrees of freedom around the pooled estimate: the
  "per-run fits combined" cluster-robust interval. With 2-3 runs a run bootstrap has at most 10
  distinct resamples; the t interval is exact for normal per-run estimates at any number of runs.
  The reported interval is the hull of the two, so neither source of error can hide the other.

The same per-run fits give the spread of a new run around the mean curve (a prediction interval
for a new seed) and the scatter of single evaluations around their own run's trend.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from scaling.fit.errors import FitError
from scaling.fit.sigmoid import fit_point, sigmoid_curve

NAMES = ("A", "B", "C_mid", "R0")
LOG = ("B", "C_mid")  # positive, skewed: combined on the log scale


def long_run_factor(resid: np.ndarray, run: np.ndarray, n_params: int = 4) -> float:
    """(1 + rho) / (1 - rho) from the pooled within-run lag-one autocorrelation of the residuals; >= 1.

    Residuals of a fitted curve understate the autocorrelation of what they were drawn from: the
    curve absorbs part of a slow wander and a short series biases the estimate towards zero. The
    estimate is corrected by (1 + 3 rho + p) / n (Kendall's short-series bias plus the fitted
    parameters' share, n points per run) and kept within [0, 0.9].
    """
    num = den = 0.0
    sizes = []
    for r in np.unique(run):
        e = resid[run == r]
        if len(e) < 3:
            continue
        e = e - e.mean()
        num += float(np.dot(e[:-1], e[1:]))
        den += float(np.dot(e, e))
        sizes.append(len(e))
    if den <= 0 or not sizes:
        return 1.0
    n = float(np.mean(sizes))
    rho = num / den
    rho = float(np.clip(rho + (1 + 3 * rho + n_params) / n, 0.0, 0.9))
    return (1 + rho) / (1 - rho)


def per_run_fits(x, y, w, run, r0: float | None, n_params: int) -> dict:
    """Each run fitted alone: parameters, residuals about its own curve, and the runs left out."""
    params, resid, kept, skipped = {n: [] for n in NAMES}, np.full(len(x), np.nan), [], []
    for r in np.unique(run):
        m = run == r
        if len(np.unique(x[m][x[m] > 0])) < n_params + 1:
            skipped.append(str(r))
            continue
        try:
            best = fit_point(x[m], y[m], w[m], r0)
        except (FitError, ValueError):
            skipped.append(str(r))
            continue
        for n in NAMES:
            params[n].append(best[n])
        resid[m] = y[m] - sigmoid_curve(x[m], best["A"], best["B"], best["C_mid"], best["R0"])
        kept.append(str(r))
    return {"ids": kept, "skipped": skipped, "params": params, "resid": resid}


def t_half(values: np.ndarray, level: float, new: bool = False) -> float:
    """Half-width t_{G-1} * sd / sqrt(G) (the mean), or * sqrt(1 + 1/G) (one new run); NaN if G < 2."""
    v = np.asarray(values, float)
    g = len(v)
    if g < 2:
        return float("nan")
    t = sps.t.ppf(0.5 + level / 2, g - 1)
    sd = float(np.std(v, ddof=1))
    return float(t * sd * (np.sqrt(1 + 1 / g) if new else 1 / np.sqrt(g)))


def param_t_intervals(per_run: dict, centre: dict, level: float) -> dict:
    """t intervals around the pooled estimates, log scale for B and C_mid; {} with fewer than 2 runs."""
    out = {}
    if len(per_run["ids"]) < 2:
        return out
    for n in NAMES:
        v = np.asarray(per_run["params"][n], float)
        if n in LOG:
            h = t_half(np.log(v), level)
            out[n] = [float(centre[n] * np.exp(-h)), float(centre[n] * np.exp(h))]
        else:
            h = t_half(v, level)
            out[n] = [float(max(centre[n] - h, 0.0)), float(min(centre[n] + h, 1.0))]
    return out


def run_curves(per_run_params: dict, C: np.ndarray) -> np.ndarray:
    """(runs, len(C)) predicted curves of the per-run fits."""
    p = per_run_params
    return np.array([sigmoid_curve(C, a, b, c, r) for a, b, c, r in zip(p["A"], p["B"], p["C_mid"], p["R0"])])
