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
