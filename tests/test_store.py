from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scaling.store import EVAL_COLUMNS, TableLog, read_evals, schema_markdown, write_rows_atomic

ROOT = Path(__file__).resolve().parents[1]


def test_schema_document_is_in_sync():
    assert schema_markdown() in (ROOT / "docs" / "schema.md").read_text()


def _row(step: int) -> dict:
    return {"step": step, "flops": float(step), "pass_rate": 0.5, "correct_counts": [1, 0]}


def test_table_log_appends_truncates_and_keeps_schema(tmp_path):
    log = TableLog(tmp_path / "evals.parquet", EVAL_COLUMNS)
    log.append([_row(0), _row(2)])
    log.append([_row(4)])
    log.truncate_after(2)
    frame = read_evals(tmp_path)
    assert list(frame["step"]) == [0, 2]
    schema = pq.read_schema(tmp_path / "evals.parquet")
    assert schema.names == list(EVAL_COLUMNS) and schema.metadata[b"scaling_schema_version"] == b"1"
    assert TableLog(tmp_path / "evals.parquet", EVAL_COLUMNS).rows[-1]["step"] == 2


def test_unknown_column_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(KeyError, match="not in the schema"):
        write_rows_atomic(tmp_path / "evals.parquet", [{"step": 0, "bogus": 1}], EVAL_COLUMNS)
    assert list(tmp_path.iterdir()) == []


def test_load_evals_reads_a_combined_table_folder_and_a_single_run_folder(tmp_path):
    """`scaling fit results/cpu_study` (a folder holding one combined table) and `scaling fit runs/x` (one run's
    folder) both find their rows; before, each answered 'no evaluation rows found'."""
    from scaling.config import RunConfig, save_run_config
    from scaling.store import load_evals

    combined = load_evals(ROOT / "results" / "cpu_study")
    assert len(combined) > 0 and {"run_id", "loss.type", "flops", "pass_rate"} <= set(combined.columns)
    run = tmp_path / "run"
    TableLog(run / "evals.parquet", EVAL_COLUMNS).append([_row(0), _row(2)])
    save_run_config(RunConfig(), run / "config.yaml")
    single = load_evals(run)
    assert list(single["step"]) == [0, 2] and set(single["run_id"]) == {"run"} and "loss.type" in single.columns
