"""Backtest: fit each run on the first part of its compute and score the predictions of the rest.

This is the framework's own measure of how far its extrapolations can be trusted. Predictions are
scored against the observed evaluations, so the interval used for coverage is the mean's profile
band widened by the measurement noise of each held-out point (half-widths added in quadrature).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from scaling.fit import data as fdata
from scaling.fit.errors import FitError
from scaling.fit.fitter import fit_curve
from scaling.fit.result import FitResult
from scaling.fit.weights import binomial_variance


def _obs_var(full: fdata.Curve, test: np.ndarray, pred: np.ndarray, fit: FitResult) -> np.ndarray:
    scale = fit.residuals["noise_scale"]
    if full.var is not None:
        return full.var[test] * scale
    if full.nk is not None:
        return binomial_variance(pred, full.nk[test], np.ones_like(pred)) * scale
    return np.full(len(pred), scale)


def _score(run: str, fit: FitResult, full: fdata.Curve, cut: float) -> dict[str, Any]:
    test = full.x > cut
    xt, yt = full.x[test], full.y[test]
    p = fit.predict(xt)
    z = sps.norm.ppf(0.5 + fit.level / 2)
    noise = z * np.sqrt(_obs_var(full, test, p.value, fit))
    lo = p.value - np.hypot(p.value - p.lo, noise)
    hi = p.value + np.hypot(p.hi - p.value, noise)
    inside = (yt >= lo) & (yt <= hi)
    return {"run": run, "fit_to": cut, "n_fit": fit.n_points, "n_test": int(test.sum()),
            "final_x": float(xt[-1]), "final_y": float(yt[-1]), "final_pred": float(p.value[-1]),
            "final_lo": float(lo[-1]), "final_hi": float(hi[-1]), "final_error": float(p.value[-1] - yt[-1]),
            "final_covered": bool(inside[-1]), "coverage": float(inside.mean()),
            "mean_abs_error": float(np.mean(np.abs(p.value - yt))), "identified": fit.identified,
            "A": fit.params["A"], "A_text": fit.a_text(), "error": ""}


def backtest(data: Any, fraction: float = 0.5, x: str = "flops", y: str = "pass_rate",
             run_col: str = "run_id", **fit_kw: Any) -> pd.DataFrame:
    """One row per run: fitted on x <= fraction * max(x), scored on the later evaluations."""
    if not 0 < fraction < 1:
        raise FitError(f"fraction must be in (0, 1), not {fraction}")
    df = fdata.as_frame(data, x, y)
    runs = df.groupby(run_col, sort=True) if run_col in df.columns else [("run", df)]
    rows = []
    for run, sub in runs:
        full = fdata.prepare(sub, x, y, fit_kw.get("sigma"), run_col)
        cut = fraction * float(full.x.max())
        try:
            if not (full.x > cut).any():
                raise FitError("no evaluations after the cut")
            fit = fit_curve(sub[pd.to_numeric(sub[x], errors="coerce") <= cut], x=x, y=y,
                            run_col=run_col, n_boot=0, **fit_kw)
            rows.append(_score(str(run), fit, full, cut))
        except FitError as err:
            rows.append({"run": str(run), "fit_to": cut, "error": str(err)})
    return pd.DataFrame(rows)


def summary(bt: pd.DataFrame) -> dict[str, float]:
    """Median |error| at the final point, and coverage of the final point and of all held-out points."""
    ok = bt[bt.get("error", "") == ""] if "error" in bt else bt
    if ok.empty:
        return {"runs": 0, "failed": int(len(bt))}
    return {"runs": int(len(ok)), "failed": int(len(bt) - len(ok)),
            "median_abs_final_error": float(ok["final_error"].abs().median()),
            "final_coverage": float(ok["final_covered"].mean()), "point_coverage": float(ok["coverage"].mean()),
            "identified": float(ok["identified"].mean())}
