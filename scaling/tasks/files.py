"""Reading (prompt, answer) rows from datasets as they are: JSONL, Parquet, CSV, or a folder saved by HF `datasets`.

Any Unicode and newlines are kept as they are: whether the policy can read a character is its tokenizer's
business (checked before training, see `scaling.rl.prompts.check_encodable`). Every problem is a ValueError
naming the file, the line or row, and the column.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable

SUFFIXES = (".jsonl", ".parquet", ".csv")


def _cell(value: Any, where: str, column: str) -> str:
    # Numbers are common answers in JSON ("answer": 42); anything else is a malformed row.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: column {column!r} must be a string or number, got {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise ValueError(f"{where}: column {column!r} is empty")
    return text


def _row(record: Any, where: str, columns: tuple[str, str]) -> tuple[str, str]:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for column in columns:
        if column not in record or record[column] is None:
            raise ValueError(f"{where}: missing column {column!r}")
    return tuple(_cell(record[c], where, c) for c in columns)  # type: ignore[return-value]


def _read_jsonl(path: Path, columns: tuple[str, str]) -> list[tuple[str, str]]:
    rows = []
    with path.open("rb") as lines:  # decoded per line so a bad byte is reported with its line
        for number, raw in enumerate(lines, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: not UTF-8") from None
            if not line.strip():  # blank lines (e.g. a trailing newline) carry no row
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: invalid JSON ({err.msg})") from None
            rows.append(_row(record, where, columns))
    return rows


def _records(path: Path, records: Iterable[dict], columns: tuple[str, str]) -> list[tuple[str, str]]:
    # Tables have no lines; data rows are numbered from 1 like JSONL lines (a CSV header is not a row).
    return [_row(record, f"{path}: row {i}", columns) for i, record in enumerate(records, start=1)]


def _missing(path: Path, present: list[str], columns: tuple[str, str]) -> None:
    for column in columns:
        if column not in present:
            raise ValueError(f"{path}: missing column {column!r} (columns: {', '.join(present)}; "
                             "set task.prompt_field / task.answer_field)")


def _read_parquet(path: Path, columns: tuple[str, str]) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise ValueError(f"{path}: unreadable Parquet ({err})") from None
    _missing(path, table.column_names, columns)
    return _records(path, table.select(list(columns)).to_pylist(), columns)


def _read_csv(path: Path, columns: tuple[str, str]) -> list[tuple[str, str]]:
    try:  # utf-8-sig: spreadsheets often write a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            _missing(path, list(reader.fieldnames or []), columns)
            records = [{c: (row[c] or None) for c in columns} for row in reader]
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 (byte {err.start})") from None
    except csv.Error as err:
        raise ValueError(f"{path}: malformed CSV ({err})") from None
    return _records(path, records, columns)


def _read_saved(path: Path, columns: tuple[str, str]) -> list[tuple[str, str]]:
    """A folder written by `datasets.Dataset.save_to_disk`."""
    if (path / "dataset_dict.json").exists():
        splits = sorted(p.name for p in path.iterdir() if p.is_dir())
        raise ValueError(f"{path}: a DatasetDict with splits {', '.join(splits)}; point task.path (and task.val_path) "
                         f"at one split's folder, e.g. {path / splits[0]}" if splits else f"{path}: an empty DatasetDict")
    try:
        from datasets import load_from_disk
    except ImportError:
        raise ValueError(f"{path}: a folder saved by HF datasets needs the `datasets` package "
                         "(pip install 'scaling[datasets]')") from None
    try:
        data = load_from_disk(str(path))
    except Exception as err:  # FileNotFoundError for a folder that is not a saved dataset, and others
        raise ValueError(f"{path}: not a folder saved by HF datasets ({str(err).splitlines()[0]})") from None
    _missing(path, list(data.column_names), columns)
    return _records(path, data.select_columns(list(columns)).to_list(), columns)


def read_rows(path: str | Path, prompt_field: str = "prompt", answer_field: str = "answer") -> list[tuple[str, str]]:
    """(prompt, answer) pairs of a .jsonl/.parquet/.csv file or a saved HF dataset folder; ValueError naming the
    file, line or row, and column on any problem."""
    path, columns = Path(path).expanduser(), (prompt_field, answer_field)
    if path.is_dir():
        rows = _read_saved(path, columns)
    else:
        readers = {".jsonl": _read_jsonl, ".parquet": _read_parquet, ".csv": _read_csv}
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise ValueError(f"{path}: unknown file type {path.suffix!r} (expected {', '.join(SUFFIXES)} "
                             "or a folder saved by HF datasets)")
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        rows = reader(path, columns)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows
