"""`fit_curve`: one sigmoid fit with intervals, flags, alternatives and (across seeds) per-run fits.

R0 modes
  * None (default): R0 is the pass rate before RL, anchored by each run's first evaluation: that
    point is always in the fit (at C = 0 the model is exactly R0), even when the window excludes
    the early rise. R0 is thus set by the measured value at the first evaluation, but carries its
    standard error into the intervals instead of being treated as exact.
  * "fit": R0 is a free parameter fitted from the window alone.
  * a float: R0 fixed at that value (exact).

Noise: `sigma` (float, array or column) > per-prompt `correct_counts` (known noise) > `eval_prompts`
and `eval_k` (binomial from the fitted p, iterated twice; the scale is estimated, never below 1,
because this binomial omits the prompt-difficulty spread) > unknown and constant (estimated from
the residuals). A known noise level is a floor: the scale is chi2/dof when larger (with the F
threshold, so a window of few points gets the wide interval it should), and residuals more scattered
than the noise allows (chi-square p < 0.01) are flagged: a silent narrow interval is worse than a wide one.

Intervals (`FitResult.interval_method` says which were combined): the profile likelihood with its
threshold widened by the within-run autocorrelation of the residuals, and, when 2 or more runs are
pooled, the hull of that and a t interval over per-run fits (scaling.fit.spread): the pooled
points are clustered by run, and only the run-to-run spread measures that. One run has no such
spread to lean on: its widening comes from an AR(1) wander on top of the known measurement noise,
fitted by restricted likelihood (scaling.fit.wander), and never falls below the lag-one factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as sps

from scaling.fit import data as fdata
from scaling.fit import spread, wander
from scaling.fit.errors import FitError
from scaling.fit.identify import A_WIDTH, identifiability
from scaling.fit.intervals import likelihood_set, param_intervals, threshold_delta
from scaling.fit.powerlaw import fit_power_law, information
from scaling.fit.result import FitResult
from scaling.fit.sigmoid import fit_point, sigmoid_curve
from scaling.fit.weights import binomial_variance


def _r0_mode(r0: Any) -> tuple[str, float | None]:
    if r0 is None:
        return "anchored", None
    if isinstance(r0, str):
        if r0 != "fit":
            raise FitError(f"r0 must be None, 'fit' or a number, not {r0!r}")
        return "fit", None
    r0 = float(r0)
    if not 0 <= r0 < 1:
        raise FitError(f"fixed r0={r0} is outside [0, 1)")
    return "fixed", r0


def _weights(curve: fdata.Curve, mask, r0, start) -> tuple[np.ndarray, dict]:
    """Weights 1/var for the window's points, and the best fit under them."""
    xw, yw = curve.x[mask], curve.y[mask]
    if curve.noise == "known":
        w = 1.0 / curve.var[mask]
        return w, fit_point(xw, yw, w, r0, False, start)
    w = np.ones_like(yw)
    best = fit_point(xw, yw, w, r0, True, start)
    if curve.noise == "binomial":
        for _ in range(2):  # weights from the fitted p, never from the raw (possibly 0 or 1) rate
            p = sigmoid_curve(xw, best["A"], best["B"], best["C_mid"], best["R0"])
            w = 1.0 / binomial_variance(p, curve.nk[mask], np.ones_like(p))
            best = fit_point(xw, yw, w, r0, True, start)
    return w, best


def _scale(noise: str, ssr: float, dof: int) -> tuple[float, int | None, list[str], list[str]]:
    """Noise scale, dof for the F threshold (None: chi-square), flags, messages."""
    red = ssr / dof if dof > 0 else float("nan")
    if noise == "constant":
        return red, dof, [], []
    if dof <= 0:
        return 1.0, None, [], []
    # The measurement noise is a floor, not the whole story (training noise, wander): the scale is
    # estimated, never below 1, with the F threshold; few points then give the wide interval they should.
    if noise == "binomial" or sps.chi2.sf(ssr, dof) >= 0.01:
        return max(1.0, red), dof, [], []
    return red, dof, ["overdispersed"], [
        f"residuals scatter {np.sqrt(red):.2f}x more than the measurement noise allows "
        f"(chi2/dof = {red:.2f}); intervals were widened to the scatter (autocorrelated points, "
        f"seed-to-seed variation, or a curve the sigmoid does not describe)"]


def _residuals(yw, pred, w, ssr, dof, scale) -> dict:
    r = yw - pred
    return {"chi2": float(ssr), "dof": int(dof), "chi2_red": float(ssr / dof) if dof > 0 else float("nan"),
            "rms": float(np.sqrt(np.mean(r ** 2))), "max_abs": float(np.max(np.abs(r))),
            "noise_scale": float(scale)}


def fit_curve(data: Any, x: str = "flops", y: str = "pass_rate", r0: Any = None,
              fit_from: float | None = None, fit_to: float | None = None, sigma: Any = None,
              level: float = 0.95, a_width: float = A_WIDTH, run_col: str = "run_id",
              group: dict | None = None, start: dict | None = None) -> FitResult:
    """Fit R(C) - R0 = (A - R0) / (1 + (C_mid/C)^B) to one curve (one or several runs pooled).

    data: DataFrame (columns `x`, `y`, optionally run_id, correct_counts, eval_prompts, eval_k) or
    an (x, y) pair. Window: [fit_from, fit_to] in units of `x`; fit_from=None drops the first 10%
    of evaluations (ScaleRL drops the early near-linear rise, ~one epoch; see
    `scaling.fit.data.default_fit_from`), fit_from=0 keeps them all. Raises FitError on bad input.
    """
    mode, r0_fixed = _r0_mode(r0)
    curve = fdata.prepare(data, x, y, sigma, run_col)
    mask, lo, hi = fdata.window_mask(curve, fit_from, fit_to, anchor_first=(mode == "anchored"))
    n_params = 3 + (r0_fixed is None)
    fdata.check_window(curve, mask, n_params, curve.noise == "known")
    xw, yw, rw = curve.x[mask], curve.y[mask], curve.run[mask]
    w, best = _weights(curve, mask, r0_fixed, start)
    params = {k: best[k] for k in ("A", "B", "C_mid", "R0")}
    pred = sigmoid_curve(xw, **params)
    dof = int(mask.sum()) - n_params
    scale, fdof, flags, msgs = _scale(curve.noise, best["ssr"], dof)
    runs = _runs(xw, yw, w, rw, r0_fixed, n_params, pred, scale)
    pscale = _profile_scale(runs, scale, curve.noise)
    if not (runs["params"] and len(runs["ids"]) >= 2):  # pooled: the t interval over per-run fits is the robust part
        runs.update(_wander(xw, yw, pred, w, rw, runs, params, r0_fixed is None, curve.noise, pscale, level, fdof))
    delta = threshold_delta(level, pscale * runs["long_run_factor"], fdof)
    ls = likelihood_set(xw, yw, w, r0_fixed, best, delta)
    iv = param_intervals(ls, best)
    iv = _hull(iv, spread.param_t_intervals(runs, params, level))
    if not ls.resolved:
        flags.append("set_unresolved")
        msgs.append("the confidence set is thinner than the search grid (a near-exact fit of very few points); "
                    "intervals are reported as the full feasible range")
    f3, m3 = _spread_notes(runs)
    window_end = float(min(hi, xw.max()))
    ident, f2, m2 = identifiability(best, iv, window_end, a_width, x, level)
    sig = 1.0 / np.sqrt(w) * np.sqrt(scale)
    return FitResult(
        params=params, intervals=iv, level=level, window=[float(lo), window_end],
        n_points=int(mask.sum()), n_runs=int(len(np.unique(curve.run))),
        residuals=_residuals(yw, pred, w, best["ssr"], dof, scale), noise=curve.noise,
        identified=ident, flags=flags + f2 + f3, messages=m2 + msgs + m3, x=x, y=y, group=dict(group or {}),
        r0_mode=mode, runs=runs, interval_method=_method(runs, scale, curve.noise),
        alternatives=_alternatives(xw, yw, w, best["ssr"], pred, n_params, scale, curve.noise),
        data=_data(curve, mask, w, sig), settings={"r0": r0_fixed, "delta": delta, "ssr": best["ssr"],
                                                   "prompt_set_sd": curve.shared_sd})


def _runs(xw, yw, w, rw, r0, n_params, pred, scale) -> dict:
    """Per-run fits (2+ runs), the within-run autocorrelation factor and the scatter about each run's trend."""
    own = spread.per_run_fits(xw, yw, w, rw, r0, n_params) if len(np.unique(rw)) > 1 else \
        {"ids": [str(rw[0])], "skipped": [], "params": {}, "resid": yw - pred}
    resid = np.where(np.isnan(own["resid"]), yw - pred, own["resid"])
    std = resid * np.sqrt(w / scale)
    pos = xw > 0  # the anchoring first point (C = 0) is fitted exactly by R0: not a residual
    factor = spread.long_run_factor(std[pos], rw[pos], n_params)
    n_fit = len(own["ids"]) if own["params"] else 1
    dof = max(int(pos.sum()) - n_params * n_fit, 1)
    within = float(np.sqrt(np.sum(resid[pos] ** 2) / dof))
    within_scale = float(np.sum(w[pos] * resid[pos] ** 2) / dof)  # chi2/dof about each run's own curve
    return {**{k: own[k] for k in ("ids", "skipped", "params")}, "long_run_factor": factor, "within_sd": within,
            "within_scale": within_scale}


def _wander(xw, yw, pred, w, rw, runs, params, free_r0, noise, pscale, level, fdof) -> dict:
    """The autocorrelation widening of a one-run fit from the AR(1) wander model (scaling.fit.wander), fitted by
    REML to its residuals. Pooled fits keep the lag-one factor: there the hull with the t interval over per-run
    fits carries the runs' own wander (measured: 95-100% at every rho; adding this on top over-covers)."""
    wm = wander.widening(xw, yw - pred, w, rw, [(np.ones(len(xw), bool), params)], params, free_r0,
                         noise != "constant", pscale, level, 10 ** 6 if fdof is None else fdof)
    # Never below the lag-one factor: with a window of a few points (n - p < ~6) the likelihood cannot see a
    # wander at all, and that factor's short-series correction is the more cautious one there.
    return {"long_run_factor": max(wm["factor"], runs["long_run_factor"]), "lag_one_factor": runs["long_run_factor"],
            "wander_factor": wm["factor"], "wander_rho": wm["rho"], "wander_dof": wm["dof"],
            "wander_weight": wm["weight"], "wander_sd": float(np.sqrt(wm["wander_var"] * np.mean(1.0 / w)))}


def _profile_scale(runs: dict, scale: float, noise: str) -> float:
    """The profile's noise scale: the pooled fit's, or with 2+ runs fitted alone the scatter about each run's
    own curve (the run-to-run offsets are the t interval's part; counting them here too would count them twice)."""
    if len(runs["ids"]) < 2 or not runs["params"]:
        return scale
    return runs["within_scale"] if noise == "constant" else max(1.0, runs["within_scale"])


def _hull(iv: dict, other: dict) -> dict:
    return {k: ([min(v[0], other[k][0]), max(v[1], other[k][1])] if k in other else v) for k, v in iv.items()}


def _spread_notes(runs: dict) -> tuple[list[str], list[str]]:
    flags, msgs = [], []
    if runs["long_run_factor"] > 1.5:
        flags.append("autocorrelated")
        msgs.append(f"residuals are autocorrelated within runs (long-run variance factor "
                    f"{runs['long_run_factor']:.2f}): intervals widened by its square root")
    if runs["skipped"]:
        msgs.append(f"run(s) {', '.join(runs['skipped'])} too short to fit alone: not in the across-run interval")
    if len(runs["ids"]) == 2 or len(runs["ids"]) == 3:
        msgs.append(f"only {len(runs['ids'])} runs: the across-run interval is a t interval with "
                    f"{len(runs['ids']) - 1} degree(s) of freedom (wide by design; a run bootstrap would have "
                    f"at most 10 distinct resamples)")
    return flags, msgs


def _method(runs: dict, scale: float, noise: str) -> str:
    prof = (f"profile likelihood (noise {noise}, scale {scale:.3g}, "
            f"autocorrelation factor {runs['long_run_factor']:.2f}")
    if "wander_rho" in runs:
        prof += (f" from an AR(1) wander fitted by REML: sd {runs['wander_sd']:.3g}, rho {runs['wander_rho']:.2f}, "
                 f"weight {runs['wander_weight']:.2f}")
    prof += ")"
    if runs["params"] and len(runs["ids"]) >= 2:
        return f"{prof} ∪ per-run fits combined (t, {len(runs['ids']) - 1} dof over {len(runs['ids'])} runs)"
    return prof + "; one run: no seed-to-seed spread in the interval"


def _alternatives(xw, yw, w, ssr, pred, n_params, scale, noise) -> dict:
    """Sigmoid vs power law by AIC/BIC, both scored on the window's positive-compute points."""
    pos = xw > 0
    known = None if noise == "constant" else scale
    pl = fit_power_law(xw, yw, w)
    ssr_sig = float(np.sum(w[pos] * (yw[pos] - pred[pos]) ** 2))
    return {"sigmoid": {"ssr": ssr_sig, **information(ssr_sig, int(pos.sum()), n_params, known)},
            "power_law": {**pl, **information(pl["ssr"], pl["n"], 3, known)}}


def _data(curve: fdata.Curve, mask, w, sig) -> dict:
    full_w = np.zeros(len(curve.x))
    full_w[mask] = w
    full_s = np.full(len(curve.x), np.nan)
    full_s[mask] = sig
    return {"x": curve.x.tolist(), "y": curve.y.tolist(), "w": full_w.tolist(), "sigma": full_s.tolist(),
            "in_window": mask.tolist(), "run": curve.run.tolist()}
