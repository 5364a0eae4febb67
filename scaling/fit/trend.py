"""From small runs to a larger one: how A, B and C_mid move along a numeric config axis.

ScaleRL extrapolates along compute; planning often asks across an axis instead ("we ran batch 256
and 512; what will 2048 do?"). Each value of the axis gets its own fit (seeds pooled, with its
intervals); A, log B and log C_mid are then regressed on log(axis value), each point weighted by
its interval (se = half-width / z; an open interval carries no weight), and evaluated at the new
value. With more values than two, a scatter about the line larger than the intervals allow widens
the prediction by sqrt(chi2/dof). The new value's curve is R0 (the mean over values) plus the
sigmoid at those parameters; its interval comes from drawing the three parameters from their
predicted normal distributions. Backtest: leave out the largest value, predict it from the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from scaling.fit.errors import FitError
from scaling.fit.groups import fit_groups
from scaling.fit.result import FitResult
from scaling.fit.sigmoid import sigmoid_curve
from scaling.fit.source import default_groups, split

TRENDED = ("A", "B", "C_mid")
LOG = ("B", "C_mid")
N_DRAWS = 4000


def _axis_values(df: pd.DataFrame, axis: str) -> pd.Series:
    if axis not in df.columns:
        raise FitError(f"unknown axis {axis!r}; available: {', '.join(map(str, df.columns))}")
    v = pd.to_numeric(df[axis], errors="coerce")
    if v.isna().any() or (v <= 0).any():
        raise FitError(f"axis {axis!r} must be positive numbers for every run (its trend is fitted in log)")
    return v


def other_axes(df: pd.DataFrame, axis: str, run_col: str = "run_id") -> list[str]:
    """Varying config columns other than `axis`, less those the axis value determines (steps, eval interval)."""
    cols = [c for c in default_groups(df) if c != axis]
    if not cols or run_col not in df.columns:
        return []
    per_run = df.groupby(run_col).first()
    return [c for c in cols if not (per_run.groupby(axis)[c].nunique() <= 1).all()]


def _param(fit: FitResult, name: str, z: float) -> tuple[float, float]:
    """(value, se) on the trend's scale; se = inf for an open interval."""
    lo, hi = fit.intervals[name]
    v = fit.params[name]
    if name in LOG:
        if not (lo > 0 and np.isfinite(hi)):
            return float(np.log(v)), float("inf")
        return float(np.log(v)), float((np.log(hi) - np.log(lo)) / (2 * z))
    if name == "A" and not fit.identified:
        return float(v), float("inf")
    return float(v), float((hi - lo) / (2 * z))


def _line(u: np.ndarray, v: np.ndarray, se: np.ndarray, u_new: float) -> dict:
    """Weighted least squares v = a + b u; prediction and its se at u_new."""
    ok = np.isfinite(se) & (se > 0)
    if ok.sum() < 2 or len(np.unique(u[ok])) < 2:
        return {"value": float("nan"), "se": float("inf"), "slope": float("nan"), "used": int(ok.sum())}
    w = 1.0 / se[ok] ** 2
    X = np.column_stack([np.ones(ok.sum()), u[ok]])
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ (X.T @ (w * v[ok]))
    dof = int(ok.sum()) - 2
    chi2 = float(np.sum(w * (v[ok] - X @ coef) ** 2))
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    xn = np.array([1.0, u_new])
    return {"value": float(xn @ coef), "se": float(np.sqrt(xn @ cov @ xn * scale)), "slope": float(coef[1]),
            "intercept": float(coef[0]), "chi2_red": chi2 / dof if dof > 0 else float("nan"), "used": int(ok.sum())}


def trend_predict(fits: list[FitResult], axis: str, value: float, at: np.ndarray, level: float = 0.95,
                  seed: int = 0) -> dict[str, Any]:
    """The new value's parameters and curve at compute `at`, from per-value fits along `axis`."""
    if value <= 0:
        raise FitError(f"--axis value must be positive, not {value}")
    vals = np.array([float(f.group[axis]) for f in fits])
    if len(np.unique(vals)) < 2:
        raise FitError(f"need fits at 2 or more values of {axis!r} to fit a trend, got {sorted(set(vals))}")
    z = sps.norm.ppf(0.5 + level / 2)
    u = np.log(vals)
    lines = {}
    for name in TRENDED:
        pv = np.array([_param(f, name, z) for f in fits])
        lines[name] = _line(u, pv[:, 0], pv[:, 1], float(np.log(value)))
    missing = [n for n, ln in lines.items() if not np.isfinite(ln["value"])]
    if missing:
        raise FitError(f"{', '.join(missing)} not identified at 2 or more values of {axis!r}: no trend to extrapolate")
    r0 = float(np.mean([f.params["R0"] for f in fits]))
    rng = np.random.default_rng(seed)
    draw = {n: rng.normal(lines[n]["value"], lines[n]["se"], N_DRAWS) for n in TRENDED}
    A = np.clip(draw["A"], r0, 1.0)
    B, Cm = np.exp(draw["B"]), np.exp(draw["C_mid"])
    params = {"A": float(np.clip(lines["A"]["value"], r0, 1.0)), "B": float(np.exp(lines["B"]["value"])),
              "C_mid": float(np.exp(lines["C_mid"]["value"])), "R0": r0}
    tail = 100 * (1 - level) / 2
    within = float(np.mean([f.runs.get("within_sd", 0.0) for f in fits]))
    preds = []
    for c in np.atleast_1d(np.asarray(at, float)):
        samples = _curve_draws(c, A, B, Cm, r0)
        lo, hi = np.percentile(samples, [tail, 100 - tail])
        mid = float(sigmoid_curve(np.array([c]), **params)[0])
        preds.append({"C": float(c), "R": mid, "interval": [float(lo), float(hi)],
                      "one_eval_interval": [float(max(0, mid - np.hypot(mid - lo, z * within))),
                                            float(min(1, mid + np.hypot(hi - mid, z * within)))]})
    a_iv = [float(np.clip(lines["A"]["value"] - z * lines["A"]["se"], 0, 1)),
            float(np.clip(lines["A"]["value"] + z * lines["A"]["se"], 0, 1))]
    return {"axis": axis, "value": float(value), "from_values": sorted(vals.tolist()), "params": params,
            "A_interval": a_iv, "identified": a_iv[1] < 1 - 1e-6,
            "trend": {n: {k: lines[n][k] for k in ("slope", "value", "se", "used")} for n in TRENDED},
            "predictions": preds}


def _curve_draws(c: float, A: np.ndarray, B: np.ndarray, Cm: np.ndarray, r0: float) -> np.ndarray:
    """Sigmoid at one compute for many parameter draws."""
    s = 1.0 / (1.0 + (Cm / c) ** B) if c > 0 else np.zeros_like(A)
    return r0 + (A - r0) * s


def axis_predict(df: pd.DataFrame, axis: str, value: float, at, **kw: Any) -> tuple[list[dict], list[str]]:
    """`trend_predict` for each combination of the other varying axes; (results, error lines)."""
    _axis_values(df, axis)
    out, errors = [], []
    for key, rows in split(df, other_axes(df, axis, kw.get("run_col", "run_id"))):
        label = ", ".join(f"{k}={v}" for k, v in key.items()) or "all"
        fits, errs = fit_groups(rows, by=[axis], **kw)
        errors += [f"{label}: {e}" for e in errs]
        try:
            out.append({"group": key, **trend_predict(fits, axis, value, at)})
        except FitError as err:
            errors.append(f"{label}: {err}")
    return out, errors


def axis_backtest(df: pd.DataFrame, axis: str, x: str = "flops", y: str = "pass_rate", run_col: str = "run_id",
                  tail: float = 0.1, **kw: Any) -> pd.DataFrame:
    """Leave out the largest axis value; predict each of its runs' final pass rate (last evaluation, and
    the mean over the last `tail` of compute) from the trend of the other values."""
    vals = _axis_values(df, axis)
    top = float(vals.max())
    rows = []
    for key, group in split(df, other_axes(df, axis, run_col)):
        v = pd.to_numeric(group[axis])
        fits, errs = fit_groups(group[v != top], by=[axis], x=x, y=y, run_col=run_col, **kw)
        for run, sub in group[v == top].groupby(run_col, sort=True):
            xs, ys = pd.to_numeric(sub[x]).to_numpy(float), pd.to_numeric(sub[y]).to_numpy(float)
            in_tail = xs >= (1 - tail) * xs.max()
            base = {"axis": axis, "held_out": top, "group": ", ".join(f"{k}={g}" for k, g in key.items()) or "all",
                    "run": str(run), "final_y": float(ys[np.argmax(xs)]), "tail_y": float(ys[in_tail].mean())}
            try:
                p = trend_predict(fits, axis, top, np.r_[xs.max(), xs[in_tail]])
            except FitError as err:
                rows.append({**base, "error": "; ".join([str(err)] + errs)})
                continue
            fin, tl = p["predictions"][0], p["predictions"][1:]
            lo, hi = fin["one_eval_interval"]
            t_pred = float(np.mean([q["R"] for q in tl]))
            t_lo, t_hi = (float(np.mean([q["interval"][i] for q in tl])) for i in (0, 1))
            rows.append({**base, "from_values": p["from_values"], "final_pred": fin["R"], "final_lo": lo,
                         "final_hi": hi, "final_error": fin["R"] - base["final_y"],
                         "final_covered": bool(lo <= base["final_y"] <= hi), "tail_pred": t_pred,
                         "tail_error": t_pred - base["tail_y"], "tail_covered": bool(t_lo <= base["tail_y"] <= t_hi),
                         "A_pred": p["params"]["A"], "identified": p["identified"], "error": ""})
    return pd.DataFrame(rows)
