"""The run end to end: outputs, exact resume, determinism, recorded failures."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scaling.config import ConfigError, build_config
from scaling.rl.checkpoint import checkpoint_paths
from scaling.rl.loop import TrainingFailed, train
from scaling.store import RunFiles, read_evals, read_metrics

from resume_helpers import comparable, sigkill_after_evals


def test_run_writes_curve_and_metrics(tmp_path, tiny_tree):
    summary = train(build_config(tiny_tree), tmp_path / "run")
    evals, metrics = read_evals(tmp_path / "run"), read_metrics(tmp_path / "run")
    assert summary["status"] == "done"
    assert list(evals["step"]) == [0, 2, 4, 6] and list(metrics["step"]) == list(range(1, 7))
    assert evals["flops"].is_monotonic_increasing and evals["flops"].iloc[0] == 0 and evals["flops"].iloc[-1] > 0
    assert all(len(c) == 16 and max(c) <= 2 for c in evals["correct_counts"])
    assert evals["pass_rate"].between(0, 1).all()
    assert (metrics["samples_seen"].diff().dropna() == 16).all()
    assert RunFiles(tmp_path / "run").done.exists()
    # Every step and evaluation row says how the run is doing (scaling.rl.health), and so does DONE.
    assert set(metrics["health"]) == {"ok"} and set(evals["health"]) == {"ok"} and summary["health"] == "ok"


def test_same_seed_same_rows(tmp_path, tiny_tree):
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    pd.testing.assert_frame_equal(comparable(read_evals(tmp_path / "a")), comparable(read_evals(tmp_path / "b")))
    pd.testing.assert_frame_equal(comparable(read_metrics(tmp_path / "a")), comparable(read_metrics(tmp_path / "b")))


@pytest.mark.parametrize("stop_after", [1, 3, 4])
def test_resume_after_stop_is_exact(tmp_path, tiny_tree, stop_after):
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "straight")
    calls = iter(range(100))
    stopped = train(cfg, tmp_path / "resumed", should_stop=lambda: next(calls) >= stop_after)
    assert stopped == {"status": "stopped", "step": stop_after}
    train(cfg, tmp_path / "resumed")
    for read in (read_evals, read_metrics):
        pd.testing.assert_frame_equal(comparable(read(tmp_path / "straight")), comparable(read(tmp_path / "resumed")))


def test_resume_from_older_checkpoint_drops_and_redoes_later_rows(tmp_path, tiny_tree):
    """As if killed after writing rows past its newest checkpoint."""
    tiny_tree["checkpoint_every"] = 100
    cfg = build_config(tiny_tree)
    run = tmp_path / "run"
    train(cfg, run)
    reference = comparable(read_evals(run))
    files = RunFiles(run)
    files.done.unlink()
    for step, path in checkpoint_paths(files.checkpoints)[1:]:
        path.unlink()  # leave only the step-4 checkpoint: rows for step 6 must be redone
    assert [s for s, _ in checkpoint_paths(files.checkpoints)] == [4]
    train(cfg, run)
    pd.testing.assert_frame_equal(reference, comparable(read_evals(run)))


def test_sigkill_mid_run_then_resume_matches(tmp_path, tiny_tree):
    tiny_tree["train"]["steps"] = 40
    tiny_tree["eval"]["every"] = 4
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "straight")
    run = tmp_path / "killed"
    sigkill_after_evals(cfg, run, evals=3, timeout_s=120)
    train(cfg, run)
    pd.testing.assert_frame_equal(comparable(read_evals(tmp_path / "straight")), comparable(read_evals(run)))


def test_non_finite_loss_stops_with_reason(tmp_path, tiny_tree, monkeypatch):
    import scaling.rl.step as step

    original = step.compute_advantages
    monkeypatch.setattr(step, "compute_advantages", lambda r, n: original(r, n) * math.nan)
    with pytest.raises(TrainingFailed, match="non-finite loss"):
        train(build_config(tiny_tree), tmp_path / "run")
    reason = RunFiles(tmp_path / "run").read_marker(RunFiles(tmp_path / "run").failed)
    assert "non-finite loss" in reason["reason"]


def test_run_folder_refuses_a_different_config(tmp_path, tiny_tree):
    train(build_config(tiny_tree), tmp_path / "run")
    tiny_tree["seed"] = 1
    with pytest.raises(ConfigError, match="different config"):
        train(build_config(tiny_tree), tmp_path / "run")


def test_run_with_forced_interruption_trains(tmp_path, tiny_tree):
    tiny_tree["rollout"].update({"max_new_tokens": 2, "interrupt_text": "=", "interrupt_budget": 3})
    summary = train(build_config(tiny_tree), tmp_path / "run")
    metrics = read_metrics(tmp_path / "run")
    assert summary["status"] == "done" and metrics["loss"].notna().all()
    assert metrics["response_tokens"].max() > 2  # interrupted completions went past the budget
