"""Reading `scaling infer` tables back as one pandas table (no torch).

SOURCE may be one table, a setting folder, an infer folder (<setting>/step_N.parquet), a run folder
(its infer/), a study (its spec, or its folder: every runs/*/infer/) or a folder holding run folders. A `run`
column names the run each row came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scaling.store import SAMPLE_COLUMNS, arrow_schema, read_table_pinned

SETTING_FILE = "setting.json"


def _run_name(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "run.json").read_text()).get("name", run_dir.name)
    except (OSError, json.JSONDecodeError):
        return run_dir.name


def sample_tables(source: str | Path) -> list[tuple[str, Path]]:
    """(run name, table path) for every sample table under SOURCE."""
    source = Path(source)
    if source.suffix in (".yaml", ".yml") and source.is_file():
        from scaling.study.spec import load_spec  # lazy: a spec names its study folder

        source = load_spec(source).study_dir
    if source.is_file():
        if source.suffix != ".parquet" or not {"prompt_id", "sample"} <= set(pq.read_schema(source).names):
            return []
        return [(source.parent.parent.parent.name, source)]
    found = []
    for setting in sorted(source.rglob(SETTING_FILE)):
        folder = setting.parent
        infer_dir = folder.parent
        run = infer_dir.parent if infer_dir.name == "infer" else infer_dir
        found += [(_run_name(run), p) for p in sorted(folder.glob("step_*.parquet"))]
    return found


def has_samples(source: str | Path) -> bool:
    return bool(sample_tables(source)) if Path(source).exists() else False


def samples_only(source: str | Path) -> bool:
    """SOURCE holds `scaling infer` samples and no training curves (an infer folder or a sample table)."""
    source = Path(source)
    training = source.suffix in (".yaml", ".yml", ".csv") or (source / "config.yaml").exists() or \
        (source / "runs").is_dir() or (source / "evals.parquet").exists()
    return has_samples(source) and not training


def load_samples(source: str | Path) -> pd.DataFrame:
    """Every sample row under SOURCE, with a `run` column; empty (with the schema's columns) if none."""
    tables = []
    for run, path in sample_tables(source):
        table = read_table_pinned(path)
        tables.append(table.append_column("run", pa.array([run] * table.num_rows, pa.string())))
    if not tables:
        return arrow_schema(SAMPLE_COLUMNS).empty_table().to_pandas().assign(run=pd.Series(dtype=str))
    return pa.concat_tables(tables, promote_options="default").to_pandas()
