"""Unreadable checkpoints: fall back to an older one; with none readable, refuse and touch nothing."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from scaling.config import build_config
from scaling.rl.checkpoint import UNREADABLE, CheckpointError, checkpoint_paths, load_latest
from scaling.rl.loop import train
from scaling.store import RunFiles, read_evals

from resume_helpers import comparable


def _snapshot(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in ("FAILED", ".lock")}


def _stopped_run(tmp_path, tiny_tree, stop_after: int):
    cfg = build_config(tiny_tree)
    calls = iter(range(100))
    run = tmp_path / "run"
    assert train(cfg, run, should_stop=lambda: next(calls) >= stop_after)["status"] == "stopped"
    return cfg, run


def test_corrupt_newest_checkpoint_falls_back_to_the_older_one(tmp_path, tiny_tree):
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "straight")
    cfg, run = _stopped_run(tmp_path, tiny_tree, 4)
    (older_step, _), (newest_step, newest) = checkpoint_paths(RunFiles(run).checkpoints)
    assert (older_step, newest_step) == (3, 4)
    newest.write_bytes(newest.read_bytes()[:100])  # cut by a crash
    loaded = load_latest(RunFiles(run).checkpoints)
    assert loaded.state["step"] == 3 and [p for p, _ in loaded.failed] == [newest]
    assert train(cfg, run)["status"] == "done"
    pd.testing.assert_frame_equal(comparable(read_evals(tmp_path / "straight")), comparable(read_evals(run)))
    assert (newest.parent / (newest.name + UNREADABLE)).exists()  # set aside for inspection, never loaded again


def test_no_readable_checkpoint_with_rows_refuses_and_changes_nothing(tmp_path, tiny_tree):
    cfg, run = _stopped_run(tmp_path, tiny_tree, 3)
    for _, path in checkpoint_paths(RunFiles(run).checkpoints):
        path.write_bytes(b"written by a torch from the future")
    before = _snapshot(run)
    with pytest.raises(CheckpointError) as err:
        train(cfg, run)
    message = str(err.value)
    assert "\n" not in message and "step_000003.pt" in message and "step_000002.pt" in message
    assert "not restarting from step 0" in message
    assert _snapshot(run) == before  # no truncated table, no pruned or renamed checkpoint


def test_resume_removes_temp_files_of_a_killed_writer(tmp_path, tiny_tree):
    cfg, run = _stopped_run(tmp_path, tiny_tree, 2)
    leftovers = [run / ".evals.parquet.k3j2_x", run / ".metrics.parquet.a1b2c3d4.tmp",
                 run / "checkpoints" / ".step_000003.pt.tmp", run / "checkpoints" / ".step_000003.pt.x9y8z7.tmp"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)  # a full model's size in real life
    assert train(cfg, run)["status"] == "done"
    assert not [p for p in leftovers if p.exists()]


def test_a_run_that_never_started_does_not_claim_its_folder(tmp_path, tiny_tree, monkeypatch):
    """Failing after validation but before training (here the warm start) leaves no config.yaml: the
    folder does not belong to the failed config, and a corrected one trains there."""
    import scaling.rl.state as state_module

    def no_base(*args, **kwargs):
        raise RuntimeError("warm-start cache unwritable")

    run = tmp_path / "run"
    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="unwritable"):
        patch.setattr(state_module, "ensure_base_model", no_base)
        train(build_config(tiny_tree), run)
    assert not RunFiles(run).config.exists() and "unwritable" in RunFiles(run).read_marker(RunFiles(run).failed)["reason"]
    tiny_tree["seed"] = 3  # another config: accepted, the failed one never owned the folder
    assert train(build_config(tiny_tree), run)["status"] == "done"
