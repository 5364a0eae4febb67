"""Fit one curve per group of a table, collecting per-group errors instead of stopping."""

from __future__ import annotations

from typing import Any

import pandas as pd

from scaling.fit import health
from scaling.fit.errors import FitError
from scaling.fit.fitter import fit_curve
from scaling.fit.result import FitResult
from scaling.fit.source import default_groups, split


def fit_groups(df: pd.DataFrame, by: list[str] | None = None, **kw: Any) -> tuple[list[FitResult], list[str]]:
    """Fits for every group (`by`, or the study's varying config columns), and one error line per failed group."""
    for col in (kw.get("x", "flops"), kw.get("y", "pass_rate")):
        if col not in df.columns:  # one error for the table, not one per group
            raise FitError(f"unknown column {col!r}; available: {', '.join(map(str, df.columns))}")
    by = default_groups(df) if by is None else by
    run_col = kw.get("run_col", "run_id")
    fits, errors = [], []
    for key, rows in split(df, by):
        label = ", ".join(f"{k}={v}" for k, v in key.items()) or "all"
        kept, collapsed, diverging = health.split_collapsed(rows, run_col)
        try:
            if kept.empty:
                raise FitError(f"all {len(collapsed)} run(s) collapsed ({', '.join(collapsed)}); nothing to fit")
            fit = fit_curve(kept, group=key, **kw)
        except FitError as err:
            errors.append(f"{label}: {err}")
            continue
        flags, msgs = health.notes(collapsed, diverging)
        fit.flags += flags
        fit.messages += msgs
        fits.append(fit)
    return fits, errors
