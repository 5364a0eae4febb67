"""With the real trainer (scaling.rl.loop) and tiny configs: a local study end to end into one
DataFrame, and a SIGKILLed run that is shown failed and resumes from its checkpoint."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from scaling.store import EVAL_COLUMNS, read_evals, read_metrics
from scaling.study.results import study_evals
from scaling.study import local
from scaling.study.launch import launch
from scaling.study.spec import load_spec
from scaling.study.status import status

from study_helpers import wait_finished

pytest.importorskip("scaling.rl.loop")
TINY = {
    "threads": 1, "checkpoint_every": 2,
    "task": {"name": "addition", "digits": 2, "train_size": 2000, "val_size": 16},
    "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
    "warmstart": {"max_steps": 30, "check_every": 10, "target_low": 0.0},
    "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4},
    "train": {"steps": 4}, "eval": {"every": 2, "k": 2},
}


@pytest.fixture(autouse=True)
def shared_warmstart_cache(tmp_path_factory, monkeypatch) -> None:
    """One base model for every test here (the cache key ignores the RL settings)."""
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path_factory.getbasetemp() / "warmstart-cache"))


def test_local_study_of_four_tiny_runs_gives_one_table(write_spec) -> None:
    spec = write_spec(base=TINY, axes={"loss.type": {"values": ["grpo", "cispo"], "short": "loss"}}, seeds=[0, 1])
    assert len(launch(spec).submitted) == 4
    rows = wait_finished(spec, timeout_s=150)
    assert [r["state"] for r in rows] == ["done"] * 4, rows
    frame = study_evals(spec)
    assert len(frame) == 4 * 3
    assert set(EVAL_COLUMNS) | {"run_id", "run_name", "state", "loss.type", "seed", "rollout.prompts_per_step"} <= set(frame.columns)
    assert sorted(frame["run_name"].unique()) == ["loss=cispo,seed=0", "loss=cispo,seed=1", "loss=grpo,seed=0", "loss=grpo,seed=1"]
    assert frame["pass_rate"].between(0, 1).all() and (frame.groupby("run_id")["flops"].diff().dropna() > 0).all()
    assert (frame["threads"] == 1).all() and set(frame["state"]) == {"done"}


def _wait_for_checkpoint(study: Path, run_id: str, past_step: int, timeout_s: float = 90) -> int:
    folder = study / "runs" / run_id / "checkpoints"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        steps = [int(p.name[5:11]) for p in folder.glob("step_*.pt")] if folder.exists() else []
        state = local.read_state(study, run_id) or {}
        if steps and max(steps) > past_step and state.get("state") == "running":
            return int(state["pid"])
        time.sleep(0.05)
    raise TimeoutError("no checkpoint past step %d" % past_step)


def test_sigkilled_run_fails_then_resumes_from_its_checkpoint(write_spec) -> None:
    base = {**TINY, "train": {"steps": 16}}
    spec = write_spec(base=base, axes={"loss.type": ["grpo"]}, seeds=[0])
    study = load_spec(spec).study_dir
    run_id = launch(spec).submitted[0]
    os.kill(_wait_for_checkpoint(study, run_id, past_step=2), signal.SIGKILL)
    row = wait_finished(spec)[0]
    assert row["state"] == "failed" and row["step"] < 16
    newest = max(int(p.name[5:11]) for p in (study / "runs" / run_id / "checkpoints").glob("step_*.pt"))
    before = read_evals(study / "runs" / run_id)
    before = before[before["step"] <= newest]  # a row past the newest checkpoint is redone on resume
    assert newest > 2 and len(before) >= 2
    assert not (study / "runs" / run_id / "DONE").exists()

    assert launch(spec).submitted == [run_id]
    assert wait_finished(spec, timeout_s=90)[0]["state"] == "done"
    after = read_evals(study / "runs" / run_id)
    assert list(after["step"]) == list(range(0, 17, 2))  # none lost, none twice
    assert list(read_metrics(study / "runs" / run_id)["step"]) == list(range(1, 17))
    kept = after[after["step"].isin(before["step"])]
    # rows written before the kill are kept as they were (eval_seconds is wall-clock: a redone
    # evaluation would differ), so the run resumed instead of starting over
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), before.reset_index(drop=True), check_like=True)
    assert status(spec)[0]["state"] == "done"


@pytest.mark.slow
def test_local_data_parallel_run_is_two_processes_and_one_run(write_spec) -> None:
    """resources.tasks_per_node: 2 -> one run of two rank processes (gloo), its rows written once, by rank 0."""
    spec = write_spec(base=TINY, axes={"loss.type": ["grpo"]}, seeds=[0],
                      resources={"executor": "local", "cpus_per_run": 1, "tasks_per_node": 2})
    study = load_spec(spec).study_dir
    run_id = launch(spec).submitted[0]
    rows = wait_finished(spec, timeout_s=240)
    assert [r["state"] for r in rows] == ["done"], rows
    evals, metrics = read_evals(study / "runs" / run_id), read_metrics(study / "runs" / run_id)
    assert list(evals["step"]) == [0, 2, 4] and all(len(c) == 16 for c in evals["correct_counts"])
    assert (metrics["samples_seen"].diff().dropna() == 16).all()  # both ranks' 8 samples a step
    log = (study / "logs" / f"{run_id}.log").read_text()
    assert log.count('"status": "done"') == 2  # each rank reported its end


@pytest.mark.slow
def test_local_data_parallel_run_stops_on_sigterm_and_resumes(write_spec) -> None:
    """SIGTERM to a data-parallel run's worker reaches both ranks: they checkpoint the same step and stop;
    a relaunch resumes both ranks from it."""
    base = {**TINY, "train": {"steps": 12}}
    spec = write_spec(base=base, axes={"loss.type": ["grpo"]}, seeds=[0],
                      resources={"executor": "local", "cpus_per_run": 1, "tasks_per_node": 2})
    study = load_spec(spec).study_dir
    run_id = launch(spec).submitted[0]
    os.kill(_wait_for_checkpoint(study, run_id, past_step=2, timeout_s=240), signal.SIGTERM)
    row = wait_finished(spec, timeout_s=120)[0]
    assert row["state"] != "done" and row["step"] < 12, row
    log = (study / "logs" / f"{run_id}.log").read_text()
    assert log.count('"status": "stopped"') == 2  # both ranks stopped cleanly, at the same step
    assert launch(spec).submitted == [run_id]
    assert wait_finished(spec, timeout_s=240)[0]["state"] == "done"
    assert list(read_evals(study / "runs" / run_id)["step"]) == list(range(0, 13, 2))
    assert list(read_metrics(study / "runs" / run_id)["step"]) == list(range(1, 13))
