"""A study's results as one table: the store's readers, given a spec's runs and the scheduler's states.

The store reads folders and knows nothing of studies; this is where a spec (or its YAML path) becomes
the list of its run folders, each with its state from `study_status` (running, pending, failed, ...)
and its config columns from the spec, and where a spec's `derived:` list is passed on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scaling import store
from scaling.study.spec import Spec, expand, load_spec
from scaling.study.status import study_status


def _spec(source: Any) -> Spec | None:
    if isinstance(source, Spec):
        return source
    if isinstance(source, (str, Path)) and Path(source).suffix in (".yaml", ".yml"):
        return load_spec(source)
    return None


def study_runs(source: Any) -> tuple[list[store.RunEntry], list[str]]:
    """(run entries, derived columns) of a spec (object or YAML path), a study folder or any results folder."""
    spec = _spec(source)
    if spec is not None:
        study, runs = spec.study_dir, expand(spec)
        rows = study_status(study, [(r.run_id, r.name) for r in runs])
        return ([(study / "runs" / run.run_id, row["state"], {"run_name": run.name, **run.config.flat()})
                 for run, row in zip(runs, rows)], list(spec.derived))
    folder = Path(source)
    if (folder / "runs").is_dir():  # a study folder without its spec: states from the manifest and scheduler
        return [(folder / "runs" / r["run_id"], r["state"], None) for r in study_status(folder)], []
    return store.run_entries(folder), []


def study_evals(source: Any) -> pd.DataFrame:
    """`scaling.store.load_evals` for a study: a spec (or its YAML path), a study folder, a folder of run
    folders, one run folder, or a folder holding a combined table."""
    spec = _spec(source)
    if spec is None and store.combined_table(source) is not None:
        return store.load_evals(source)
    entries, derived = study_runs(source)
    return store.load_evals(entries, derived=derived)


def study_trajectories(source: Any) -> pd.DataFrame:
    """`scaling.store.load_trajectories` for a study (same sources as `study_evals`)."""
    entries, _ = study_runs(source)
    return store.load_trajectories(entries)
