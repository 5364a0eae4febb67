"""Trackers: W&B writes an offline run folder by default and trackio its project database, each holding what the
run sent (each skipped when its package is missing).
(TensorBoard is read back from a real run in tests/rl/test_run_logs.py.)"""

from __future__ import annotations

import json
import struct
import time

import pytest

from scaling.config import LogConfig
from scaling.rl.trackers import open_trackers, scalars


def test_scalars_keep_finite_numbers_only():
    row = {"step": 3, "pass_rate": 0.5, "eval_k": 4, "greedy_accuracy": float("nan"), "dtype": "float32",
           "correct_counts": [1, 2], "flag": True}
    assert scalars(row, "eval") == {"eval/pass_rate": 0.5, "eval/eval_k": 4.0}


def _wandb_records(path):
    """Records of a .wandb file: a 7-byte header, then 32 KiB blocks of LevelDB-style chunks (crc, length, type)."""
    from wandb.proto import wandb_internal_pb2

    raw, pos, buf = path.read_bytes(), 7, b""
    while pos + 7 <= len(raw):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        data, pos = raw[pos + 7:pos + 7 + length], pos + 7 + length
        buf = data if kind in (1, 2) else buf + data  # full / first chunk start a record
        if kind in (1, 4) and buf:  # full / last chunk end it
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            yield record


def test_wandb_is_offline_by_default_and_its_run_folder_holds_the_rows(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    trackers = open_trackers(LogConfig(report_to=["wandb"]), tmp_path, {"seed": 0})
    trackers.log([{"step": 1, "reward_mean": 0.25}, {"step": 2, "reward_mean": 0.5}], "train")
    trackers.log([{"step": 2, "pass_rate": 0.3, "correct_counts": [1]}], "eval")
    trackers.close()
    (run,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    deadline = time.time() + 60
    while time.time() < deadline:  # wandb-core may still be writing the file's tail after finish() returns
        records = list(_wandb_records(run))
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        time.sleep(0.2)
    history = [{(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    assert [(h["step"], h.get("train/reward_mean"), h.get("eval/pass_rate")) for h in history] == \
        [(1, 0.25, None), (2, 0.5, None), (2, None, 0.3)]


def test_trackio_stores_the_rows_in_its_project_database(tmp_path):
    """In a subprocess: trackio reads TRACKIO_DIR (where its SQLite projects live) once, at import."""
    import os
    import subprocess
    import sys

    pytest.importorskip("trackio")
    code = ("from pathlib import Path; from scaling.config import LogConfig; from scaling.rl.trackers import open_trackers\n"
            f"t = open_trackers(LogConfig(report_to=['trackio'], project='p'), Path({str(tmp_path / 'run')!r}), {{}})\n"
            "t.log([{'step': 1, 'reward_mean': 0.25}, {'step': 2, 'reward_mean': 0.5}], 'train')\n"
            "t.log([{'step': 2, 'pass_rate': 0.3, 'dtype': 'float32'}], 'eval'); t.close()\n"
            "from trackio.sqlite_storage import SQLiteStorage; import json\n"
            "print(json.dumps([{k: v for k, v in r.items() if k != 'timestamp'} for r in SQLiteStorage.get_logs('p', 'run')]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        {"train/reward_mean": 0.25, "step": 1}, {"train/reward_mean": 0.5, "step": 2}, {"eval/pass_rate": 0.3, "step": 2}]
