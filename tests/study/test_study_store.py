"""load_evals: many writer processes at once lose no rows, and a reader never sees half a file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from scaling.config import RunConfig, save_run_config
from scaling.store import load_evals

WRITER = """
import sys
from pathlib import Path
from scaling.store import EVAL_COLUMNS, TableLog
log = TableLog(Path(sys.argv[1]) / "evals.parquet", EVAL_COLUMNS)
for step in range(int(sys.argv[2])):
    log.append([{"step": step, "pass_rate": step / 1000, "correct_counts": [1, 0, 2]}])
"""


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    writers, rows_each = 6, 60
    for index in range(writers):
        run_dir = tmp_path / f"run{index}"
        run_dir.mkdir()
        save_run_config(RunConfig(seed=index), run_dir / "config.yaml")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / f"run{i}"), str(rows_each)])
             for i in range(writers)]
    reads = 0
    while any(p.poll() is None for p in procs):  # read while they write: never a torn file
        frame = load_evals(tmp_path)
        assert frame.groupby("run_id")["step"].apply(lambda s: list(s) == list(range(len(s)))).all()
        reads += 1
        time.sleep(0.01)
    assert [p.returncode for p in procs] == [0] * writers
    frame = load_evals(tmp_path)
    assert len(frame) == writers * rows_each
    assert not frame.duplicated(["run_id", "step"]).any()
    assert sorted(frame["seed"].unique()) == list(range(writers))
    assert set(frame["state"]) == {"incomplete"} and reads > 0
    assert list(frame["correct_counts"].iloc[0]) == [1, 0, 2]


def test_empty_study_has_the_schema_columns(tmp_path: Path) -> None:
    frame = load_evals(tmp_path)
    assert len(frame) == 0 and {"step", "pass_rate", "run_id", "run_name", "state"} <= set(frame.columns)
