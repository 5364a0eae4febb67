"""Crash-safe writes, locks and shared-filesystem errors (scaling.fsio) and every writer that uses them."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from scaling import fsio
from scaling.config import RunConfig, save_run_config
from scaling.rl.checkpoint import save_checkpoint
from scaling.store import EVAL_COLUMNS, RunFiles, read_evals, write_rows_atomic
from scaling.study.manifest import write_manifest


@pytest.fixture
def events(monkeypatch):
    """Record fsyncs (by path) and renames, in order."""
    seen: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        seen.append(("replace", str(src), str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return seen


WRITERS = {
    "evals table": lambda d: write_rows_atomic(d / "evals.parquet", [{"step": 0}], EVAL_COLUMNS) or d / "evals.parquet",
    "marker": lambda d: RunFiles(d).mark(RunFiles(d).done, {"status": "done"}) or d / "DONE",
    "config.yaml": lambda d: save_run_config(RunConfig(), d / "config.yaml") or d / "config.yaml",
    "checkpoint": lambda d: save_checkpoint(d / "checkpoints", 3, {"model": {}}),
    "manifest": lambda d: write_manifest(d, {"runs": {}}) or d / "manifest.json",
}


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_fsyncs_file_then_renames_then_fsyncs_folder(tmp_path, events, writer):
    path = Path(WRITERS[writer](tmp_path))
    renames = [i for i, e in enumerate(events) if e[0] == "replace" and e[2] == str(path)]
    assert len(renames) == 1, events
    i = renames[0]
    tmp = events[i][1]
    assert ("fsync", tmp) in events[:i], "the data must be on disk before the rename"
    assert ("fsync", str(path.parent)) in events[i + 1:], "the rename itself must be made durable"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(fsio.TEMP_SUFFIX)]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "t.json"
    fsio.atomic_write(target, "old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fsio.atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_stale_temps_are_recognised_but_not_real_files(tmp_path):
    names = [".evals.parquet.k3j2_x", ".step_000000.pt.tmp", ".metrics.parquet.abc.tmp", "DONE.tmp",
             "evals.parquet", "config.yaml", ".lock", "run.json"]
    for name in names:
        (tmp_path / name).write_text("x")
    removed = fsio.remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:4])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[4:])


def test_lock_names_its_holder_and_waits_or_fails(tmp_path):
    lock = tmp_path / ".lock"
    with fsio.file_lock(lock):
        fd = os.open(lock, os.O_RDWR)  # a second open file description: flock conflicts as between processes
        try:
            assert not fsio.try_flock(fd, lock)
        finally:
            os.close(fd)
        assert fsio.holder(lock).endswith(f"pid {os.getpid()}")
    with fsio.file_lock(lock, wait_s=0):
        pass


def test_flock_unsupported_filesystem_is_a_clear_error(tmp_path, monkeypatch):
    def lustre_without_flock(fd, op):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", lustre_without_flock)
    for wait in (None, 0, 5):
        with pytest.raises(fsio.LockError, match="file locks are not supported.*-o flock"):
            with fsio.file_lock(tmp_path / ".lock", wait_s=wait):
                pass


def test_flock_unsupported_reaches_the_cli_as_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scaling.cli import _register, app

    monkeypatch.setattr(fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(errno.ENOLCK, "No locks available")))
    _register()
    result = CliRunner().invoke(app, ["train", "--quiet", "--set", "train.steps=1", "--set", "model.hidden_size=16",
                                      "--set", "model.heads=2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "file locks are not supported" in result.output and len(result.output.strip().splitlines()) == 1


def test_estale_on_read_is_retried(tmp_path, monkeypatch):
    from scaling.store import load_evals

    run = tmp_path / "study" / "run"
    write_rows_atomic(run / "evals.parquet", [{"step": 0, "pass_rate": 0.5}], EVAL_COLUMNS)
    save_run_config(RunConfig(), run / "config.yaml")
    import builtins

    real_open, failures = builtins.open, iter([True, True, False, True, True])

    def nfs_open(path, *args, **kwargs):
        if str(path).endswith("evals.parquet") and next(failures, False):
            raise OSError(errno.ESTALE, "Stale file handle")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", nfs_open)
    assert list(read_evals(run)["pass_rate"]) == [0.5]
    assert list(load_evals(tmp_path / "study")["pass_rate"]) == [0.5]  # what status and fits read through
