"""Backtest: fit on the first part of the compute, score the predictions of the final pass rate.

This is the framework's own measure of how far its extrapolations can be trusted, scored the way
its claims are made:

* horizons: fitted on the first 25% and 50% of each run's compute (`fractions`), i.e. predictions
  at 4x and 2x the fit window, reported separately;
* targets: the last evaluation (against the interval for a single evaluation) and the mean of the
  evaluations in the last 10% of compute (`tail`; against the interval for that mean);
* two modes: "run", each run fitted on its own first part (its own trend, extrapolated), and
  "loso", leave one seed out: the recipe's pooled fit on the *other* seeds, cut at the same
  compute, predicting the held-out seed as a new run (the claim the report's pooled fits make).
  LOSO fits use the other seeds only, never the held-out seed's own first part.

Collapsed runs (see scaling.fit.health) are left out and listed in the `error` column.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from scaling.fit import data as fdata
from scaling.fit import health
from scaling.fit.errors import FitError
from scaling.fit.fitter import fit_curve
from scaling.fit.result import FitResult
from scaling.fit.source import default_groups, split

FRACTIONS = (0.25, 0.5)
TAIL = 0.10


def _score(fit: FitResult, xs: np.ndarray, ys: np.ndarray, tail: float) -> dict[str, Any]:
    """Final evaluation and tail mean of one held-out run against the fit's intervals."""
    top = float(xs.max())
    final = fit.predict(top, "eval")
    in_tail = xs >= (1 - tail) * top
    tp = fit.predict(xs[in_tail], "eval", n_mean=int(in_tail.sum()))
    t_pred, t_lo, t_hi = float(np.mean(tp.value)), float(np.mean(tp.lo)), float(np.mean(tp.hi))
    y_last, y_tail = float(ys[np.argmax(xs)]), float(np.mean(ys[in_tail]))
    return {"final_x": top, "final_y": y_last, "final_pred": final.value, "final_lo": final.lo,
            "final_hi": final.hi, "final_error": final.value - y_last,
            "final_covered": bool(final.lo <= y_last <= final.hi),
            "tail_n": int(in_tail.sum()), "tail_y": y_tail, "tail_pred": t_pred, "tail_lo": t_lo, "tail_hi": t_hi,
            "tail_error": t_pred - y_tail, "tail_covered": bool(t_lo <= y_tail <= t_hi),
            "identified": fit.identified, "A": fit.params["A"], "A_text": fit.a_text(), "n_fit": fit.n_points,
            "note": fit.predict(top, "run").note, "error": ""}


def _xy(rows: pd.DataFrame, x: str, y: str, run_col: str) -> tuple[np.ndarray, np.ndarray]:
    c = fdata.prepare(rows, x, y, None, run_col)
    return c.x, c.y


def _one(mode: str, group: str, run: str, fraction: float, xs, ys, fit_rows: pd.DataFrame, x: str, y: str,
         tail: float, fit_kw: dict) -> dict[str, Any]:
    cut = fraction * float(xs.max())
    base = {"mode": mode, "group": group, "run": run, "fraction": fraction, "horizon": 1 / fraction, "fit_to": cut}
    try:
        rows = fit_rows[pd.to_numeric(fit_rows[x], errors="coerce") <= cut]
        if rows.empty:
            raise FitError("no evaluations before the cut")
        return {**base, **_score(fit_curve(rows, x=x, y=y, **fit_kw), xs, ys, tail)}
    except FitError as err:
        return {**base, "error": str(err)}


def backtest(data: Any, fractions: Sequence[float] = FRACTIONS, x: str = "flops", y: str = "pass_rate",
             run_col: str = "run_id", by: list[str] | None = None, tail: float = TAIL, loso: bool = True,
             **fit_kw: Any) -> pd.DataFrame:
    """One row per (mode, run, fraction); see the module docstring. `by` groups runs into recipes
    for leave-one-seed-out (default: the study's varying config columns, seeds excluded)."""
    fractions = [float(f) for f in ([fractions] if np.isscalar(fractions) else fractions)]
    if not fractions or not all(0 < f < 1 for f in fractions):
        raise FitError(f"fractions must be in (0, 1), not {fractions}")
    if not 0 < tail < 1:
        raise FitError(f"tail must be in (0, 1), not {tail}")
    df = fdata.as_frame(data, x, y)
    if run_col not in df.columns:
        df = df.assign(**{run_col: "run"})
    df, collapsed, _ = health.split_collapsed(df, run_col)
    fit_kw = {**fit_kw, "run_col": run_col}
    out = [{"mode": "run", "run": r, "error": "collapsed: left out"} for r in collapsed]
    by = default_groups(df) if by is None else by
    for key, rows in split(df, by):
        label = ", ".join(f"{k}={v}" for k, v in key.items()) or "all"
        runs = {str(r): sub for r, sub in rows.groupby(run_col, sort=True)}
        for run, sub in runs.items():
            xs, ys = _xy(sub, x, y, run_col)
            for f in fractions:
                out.append(_one("run", label, run, f, xs, ys, sub, x, y, tail, fit_kw))
                if loso and len(runs) > 1:
                    others = rows[rows[run_col].astype(str) != run]
                    out.append(_one("loso", label, run, f, xs, ys, others, x, y, tail, fit_kw))
    return pd.DataFrame(out)


def summary_table(bt: pd.DataFrame) -> pd.DataFrame:
    """Per mode and horizon: runs scored, failures, median |error| and coverage, final and tail."""
    rows = []
    if bt.empty or "fraction" not in bt:
        return pd.DataFrame(rows)
    for (mode, frac), g in bt.dropna(subset=["fraction"]).groupby(["mode", "fraction"], sort=True):
        ok = g[g["error"].fillna("") == ""]
        rows.append({"mode": mode, "fit_on": f"first {frac:.0%}", "horizon": f"{1 / frac:.3g}x",
                     "runs": int(len(ok)), "failed": int(len(g) - len(ok)),
                     "median_abs_final_error": float(ok["final_error"].abs().median()) if len(ok) else np.nan,
                     "final_coverage": float(ok["final_covered"].mean()) if len(ok) else np.nan,
                     "median_abs_tail_error": float(ok["tail_error"].abs().median()) if len(ok) else np.nan,
                     "tail_coverage": float(ok["tail_covered"].mean()) if len(ok) else np.nan,
                     "identified": float(ok["identified"].mean()) if len(ok) else np.nan})
    return pd.DataFrame(rows)


def summary(bt: pd.DataFrame, mode: str = "run", fraction: float = 0.5) -> dict[str, float]:
    """One line of `summary_table` as a dict (runs = 0 when nothing could be scored)."""
    t = summary_table(bt)
    hit = t[(t["mode"] == mode) & (t["fit_on"] == f"first {fraction:.0%}")] if not t.empty else t
    if hit.empty:
        return {"runs": 0, "failed": int(len(bt))}
    return hit.iloc[0].to_dict()
