"""Where curves come from: CSV/Parquet files, run folders and studies, split into groups.

A study's table (scaling.study.results.study_evals) has one row per evaluation of every run, with the run's
config flattened into dotted columns. A curve is one group of runs: by default the runs that share
every config value that varies across the study except seeds, so seeds are pooled into one curve
(and their spread measured by per-run fits) while recipes stay apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from scaling.fit.errors import FitError

META = {"run_id", "run_name", "state"}
NOT_AXES = ("seed", "dir", "path", "output", "log", "name_or_path")


def load_source(source: str | Path) -> pd.DataFrame:
    """A CSV/Parquet file as is; a folder or .yaml spec through scaling.study.results.study_evals."""
    path = Path(source)
    if not path.exists():
        raise FitError(f"{source}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        try:
            return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        except (ValueError, OSError) as err:  # empty, corrupt, not a table: pandas/pyarrow name no file
            raise FitError(f"{source}: unreadable {suffix[1:]} file ({str(err).strip().splitlines()[0]})") from None
    if path.is_dir() or suffix in (".yaml", ".yml"):
        from scaling.study.results import study_evals

        df = study_evals(path)
        if df.empty:
            raise FitError(f"{source}: no evaluation rows found")
        return df
    raise FitError(f"{source}: expected a .csv or .parquet file, a results folder or a .yaml study spec")


def default_groups(df: pd.DataFrame) -> list[str]:
    """Config columns (dotted, from load_evals) that differ between runs: the ablation axes. Seeds, what a run
    records (`log.*`), columns a spec marks `derived` and those inferred to be (see `independent`) are left out."""
    if "run_id" not in df.columns:
        return []
    from scaling.store import EVAL_COLUMNS

    marked = set(df.attrs.get("derived", ()))  # a spec's `derived:` list (scaling.study.results.study_evals)
    cols = [c for c in df.columns if c not in EVAL_COLUMNS and c not in META and not c.startswith("log.")
            and c not in marked and not any(t in c.rsplit(".", 1)[-1].lower() for t in NOT_AXES)]
    per_run = df.groupby("run_id")[cols].first().astype(str) if cols else pd.DataFrame()
    return independent(per_run[[c for c in cols if per_run[c].nunique() > 1]])


def independent(per_run: pd.DataFrame) -> list[str]:
    """The columns of a one-row-per-run table less those that the columns kept before them determine (one value
    per combination of theirs): a spec that sets `train.steps` and `eval.every` for each batch size, only to
    equalise compute, has one axis, batch size, not three. The groups are the same either way; labels,
    comparisons and marginal effects then name the axis alone. Config order decides which column of a set
    that determine one another is kept (rollout before train and eval)."""
    kept: list[str] = []
    for column in per_run.columns:
        if kept and (per_run.groupby(kept)[column].nunique() <= 1).all():
            continue
        kept.append(column)
    return kept


def split(df: pd.DataFrame, by: list[str] | None) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """(group key, rows) for each group; unknown columns are a FitError."""
    by = list(by) if by else []
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise FitError(f"unknown column(s) {missing} for --by; available: {', '.join(map(str, df.columns))}")
    if not by:
        yield {}, df
        return
    for key, rows in df.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield {c: (v.item() if hasattr(v, "item") else v) for c, v in zip(by, key)}, rows
