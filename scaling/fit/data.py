"""Turn a table of evaluations into validated arrays: compute, pass rate, noise, runs, window.

Everything the fitter refuses is refused here, with a one-line `FitError` naming the problem,
so that no later stage can turn bad input into a plausible-looking number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scaling.fit.errors import FitError
from scaling.fit.weights import counts_variance, prompt_set_variance

DEFAULT_SKIP = 0.10  # fraction of evaluations the default window drops (see `default_fit_from`)


@dataclass
class Curve:
    """One curve's points, sorted by run then compute.

    noise: "known" (variances given or from per-prompt counts), "binomial" (p(1-p)/(nk) from the
    fitted p, scale estimated) or "constant" (unknown, equal for all points, estimated).
    """

    x: np.ndarray
    y: np.ndarray
    var: np.ndarray | None
    nk: np.ndarray | None
    run: np.ndarray
    noise: str
    x_name: str = "flops"
    y_name: str = "pass_rate"
    shared_sd: float | None = None  # prompt-difficulty sd of the fixed evaluation set: common to all points


def as_frame(data: Any, x: str, y: str) -> pd.DataFrame:
    """Accept a DataFrame, a mapping of columns, or an (x_values, y_values) pair."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return pd.DataFrame({x: np.asarray(data[0], float), y: np.asarray(data[1], float)})
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise FitError(f"data must be a DataFrame, a dict of columns or an (x, y) pair, not {type(data).__name__}")


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        raise FitError(f"unknown column {col!r}; available: {', '.join(map(str, df.columns))}")
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = int(np.isnan(values).sum())
    if bad:
        raise FitError(f"column {col!r} has {bad} missing or non-numeric value(s) (NaN); drop or fill those rows first")
    return values


def _check_ranges(xv: np.ndarray, yv: np.ndarray, x: str, y: str) -> None:
    if len(xv) == 0:
        raise FitError("no data points")
    if not np.isfinite(xv).all():
        raise FitError(f"compute column {x!r} has infinite values")
    if (xv < 0).any():
        raise FitError(f"compute column {x!r} has {(xv < 0).sum()} negative value(s); compute must be positive")
    if not (xv > 0).any():
        raise FitError(f"compute column {x!r} has no positive value; compute must be positive")
    if ((yv < 0) | (yv > 1)).any():
        raise FitError(f"{y!r} has values outside [0, 1] (min {yv.min():.4g}, max {yv.max():.4g}); it must be a pass rate")


def _shared_sd(df: pd.DataFrame) -> float | None:
    if not {"eval_k", "correct_counts"} <= set(df.columns):
        return None
    v = prompt_set_variance(list(df["correct_counts"]), pd.to_numeric(df["eval_k"], errors="coerce").to_numpy(float))
    return float(np.sqrt(np.nanmedian(v))) if np.isfinite(v).any() else None


def _noise(df: pd.DataFrame, yv: np.ndarray, sigma: Any) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Pick the noise model: given sigma > per-prompt counts > n, k binomial > unknown constant."""
    if sigma is not None:
        s = _numeric(df, sigma) if isinstance(sigma, str) else np.broadcast_to(np.asarray(sigma, float), yv.shape)
        if not (np.isfinite(s).all() and (s > 0).all()):
            raise FitError("sigma must be positive and finite for every point")
        return np.array(s, float) ** 2, None, "known"
    have_nk = {"eval_prompts", "eval_k"} <= set(df.columns)
    if have_nk:
        n = pd.to_numeric(df["eval_prompts"], errors="coerce").to_numpy(float)
        k = pd.to_numeric(df["eval_k"], errors="coerce").to_numpy(float)
        have_nk = bool(np.isfinite(n * k).all() and (n * k > 0).all())
    if have_nk and "correct_counts" in df.columns:
        var = counts_variance(list(df["correct_counts"]), k)
        if np.isfinite(var).all():
            return var, n * k, "known"
    if have_nk:
        return None, n * k, "binomial"
    return None, None, "constant"


def prepare(data: Any, x: str = "flops", y: str = "pass_rate", sigma: Any = None,
            run_col: str = "run_id") -> Curve:
    """Validate and sort one curve's data (no window applied yet)."""
    df = as_frame(data, x, y).reset_index(drop=True)
    xv, yv = _numeric(df, x), _numeric(df, y)
    _check_ranges(xv, yv, x, y)
    var, nk, noise = _noise(df, yv, sigma)
    run = df[run_col].astype(str).to_numpy() if run_col in df.columns else np.full(len(df), "run")
    order = np.lexsort((xv, run))
    pick = (lambda a: None if a is None else np.asarray(a)[order])
    return Curve(xv[order], yv[order], pick(var), pick(nk), run[order], noise, x, y, _shared_sd(df))


def default_fit_from(x: np.ndarray) -> float:
    """Skip the first 10% of evaluations (by count, at least one) of the positive-compute points.

    ScaleRL drops the fast, near-linear rise of roughly the first epoch (~1.5k of 50-100k GPU-h);
    the OLMo ladder skips the first 10% of checkpoints. Evaluations are normally scheduled evenly in
    steps, so the first 10% of them is the first ~10% of compute: the warm-up and format-learning
    jump that the sigmoid does not describe. Counting evaluations rather than compute keeps the rule
    sane for log-spaced schedules too. R0 is still anchored by the first evaluation (see fit_curve).
    """
    pos = np.unique(x[x > 0])
    return float(pos[max(1, int(DEFAULT_SKIP * len(pos)))]) if len(pos) > 10 else float(pos[0])


def window_mask(curve: Curve, fit_from: float | None, fit_to: float | None,
                anchor_first: bool) -> tuple[np.ndarray, float, float]:
    """Points inside [fit_from, fit_to]; plus each run's first evaluation when it anchors R0."""
    lo = default_fit_from(curve.x) if fit_from is None else float(fit_from)
    hi = float(curve.x.max()) if fit_to is None else float(fit_to)
    if hi <= 0 or hi < lo:
        raise FitError(f"empty fit window [{lo:.4g}, {hi:.4g}]")
    mask = (curve.x >= lo) & (curve.x <= hi) & (curve.x > 0)
    if anchor_first:
        for r in np.unique(curve.run):
            idx = np.flatnonzero(curve.run == r)
            mask[idx[np.argmin(curve.x[idx])]] = True
    return mask, lo, hi


def check_window(curve: Curve, mask: np.ndarray, n_params: int, known_noise: bool) -> None:
    """Refuse windows that cannot pin down the parameters."""
    n = int(mask.sum())
    need = n_params if known_noise else n_params + 1
    if n < need:
        raise FitError(f"{n} point(s) in the fit window but the model has {n_params} free parameters"
                       f"{'' if known_noise else ' and an unknown noise level'}: need at least {need}")
    distinct = len(np.unique(curve.x[mask]))
    if distinct < n_params:  # seeds evaluated at the same compute add no information on the shape
        raise FitError(f"{distinct} distinct compute value(s) in the fit window but the model has {n_params} "
                       f"free parameters: need at least {n_params}")
    yw = curve.y[mask]
    if np.ptp(yw) == 0:
        raise FitError(f"{curve.y_name!r} is constant ({yw[0]:.4g}) over the fit window: there is no curve to fit")
