"""Run health as the fitter reads it: collapsed runs are left out, diverging ones flagged.

The trainer (scaling.rl.health) marks each evaluation row's `health` as "ok", "collapsed" (pass rate
and reward near zero, every group zero-variance, no gradient: the run can no longer learn), "nan"
(non-finite loss, reward or entropy) or "diverging" (entropy collapse, gradient-norm or truncation
spikes). A collapsed or NaN run no longer follows any sigmoid, so a recipe's curve is fitted without
it and the result says so; a diverging run is kept (it may recover) but named. Tables without the
column (older results, other trainers) count as all "ok".
"""

from __future__ import annotations

import pandas as pd

COLUMN = "health"


def run_health(df: pd.DataFrame, run_col: str = "run_id") -> dict[str, str]:
    """Each run's worst state over its evaluations: nan > collapsed > diverging > ok."""
    if COLUMN not in df.columns or run_col not in df.columns:
        return {}
    rank = {"ok": 0, "diverging": 1, "collapsed": 2, "nan": 3}
    worst = df.groupby(run_col)[COLUMN].agg(
        lambda s: max(s.fillna("ok").astype(str), key=lambda v: rank.get(v, 0)))
    return {str(k): v for k, v in worst.items()}


def split_collapsed(df: pd.DataFrame, run_col: str = "run_id") -> tuple[pd.DataFrame, list[str], list[str]]:
    """(rows of the runs kept, collapsed or NaN run ids left out, diverging run ids kept)."""
    state = run_health(df, run_col)
    collapsed = sorted(r for r, s in state.items() if s in ("collapsed", "nan"))
    diverging = sorted(r for r, s in state.items() if s == "diverging")
    if collapsed:
        df = df[~df[run_col].astype(str).isin(collapsed)]
    return df, collapsed, diverging


def notes(collapsed: list[str], diverging: list[str]) -> tuple[list[str], list[str]]:
    """Flags and messages a fit carries about its runs' health."""
    flags, msgs = [], []
    if collapsed:
        flags.append("collapsed_runs_left_out")
        msgs.append(f"left out {len(collapsed)} collapsed run(s) ({', '.join(collapsed)}): pass rate fell to "
                    f"near zero with no learning signal (or the loss went NaN); the curve describes the runs "
                    f"that did not collapse")
    if diverging:
        flags.append("diverging_runs")
        msgs.append(f"run(s) {', '.join(diverging)} showed signs of divergence (gradient-norm, entropy or "
                    f"truncation spikes); kept in the fit")
    return flags, msgs
