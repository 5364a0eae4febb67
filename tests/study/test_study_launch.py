"""The local executor end to end with a torch-free trainer: cap, relaunch, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from scaling.store import read_evals
from scaling.study.results import study_evals
from scaling.study import local
from scaling.study.launch import launch
from scaling.study.manifest import read_manifest
from scaling.study.spec import load_spec
from scaling.study.status import status

from study_helpers import FAKE, tiny_spec, wait_finished


def test_dry_run_submits_and_writes_nothing(write_spec, tmp_path: Path) -> None:
    result = launch(write_spec(), dry_run=True, entry=FAKE)
    assert [r["state"] for r in result.rows] == ["missing"] * 4
    assert len(result.submitted) == 4
    assert not (tmp_path / "results").exists()


def test_local_study_end_to_end_and_idempotent_relaunch(write_spec, tmp_path: Path) -> None:
    spec = write_spec()
    first = launch(spec, entry=FAKE)
    assert first.executor == "local" and len(first.submitted) == 4
    rows = wait_finished(spec)
    assert [r["state"] for r in rows] == ["done"] * 4
    assert all(r["step"] == 4 and r["pass_rate"] == pytest.approx(0.04) for r in rows)

    frame = study_evals(spec)
    assert len(frame) == 4 * 3  # evaluations at steps 0, 2, 4
    assert {"run_id", "run_name", "state", "loss.type", "seed", "step", "pass_rate", "train.steps"} <= set(frame.columns)
    assert set(frame["loss.type"]) == {"grpo", "cispo"} and set(frame["state"]) == {"done"}
    assert all(list(steps) == [0, 2, 4] for _, steps in frame.groupby("run_id")["step"])

    manifest = read_manifest(load_spec(spec).study_dir)
    record = next(iter(manifest["runs"].values()))
    assert record["job_id"].startswith("local-") and record["spec_hash"] and "git_commit" in record

    again = launch(spec, entry=FAKE)
    assert again.submitted == []
    more = launch(write_spec(seeds=[0, 1, 2]), entry=FAKE)  # one more seed: only its two runs go
    assert sorted(n for n in (r["name"] for r in more.rows if r["run_id"] in more.submitted)) == [
        "loss.type=cispo,seed=2", "loss.type=grpo,seed=2"]
    assert [r["state"] for r in wait_finished(spec)] == ["done"] * 6


def test_cap_holds_one_run_at_a_time(write_spec, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    spec = write_spec(seeds=[0])
    launch(spec, entry=FAKE, max_parallel=1)
    wait_finished(spec)
    events = [line.split() for line in (tmp_path / "trace").read_text().splitlines() if not line.startswith("warm")]
    alive, peak = 0, 0
    for kind, _, _ in sorted(events, key=lambda e: float(e[2])):
        alive += 1 if kind == "start" else -1
        peak = max(peak, alive)
    assert peak == 1 and len(events) == 4


def test_warm_start_is_built_before_any_run_starts(write_spec, tmp_path: Path) -> None:
    spec = write_spec(axes={"loss.type": ["grpo", "cispo"], "model.hidden_size": [16, 32]}, seeds=[0])
    launch(spec, entry=FAKE)
    wait_finished(spec)
    lines = (tmp_path / "trace").read_text().splitlines()
    warm = [i for i, line in enumerate(lines) if line.startswith("warmstart")]
    starts = [i for i, line in enumerate(lines) if line.startswith("start")]
    assert len(warm) == 4 and max(warm) < min(starts)  # fake trainer has no warmstart_key: one per config


def _running_pid(study_dir: Path, run_id: str, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = local.read_state(study_dir, run_id) or {}
        if state.get("state") == "running" and (study_dir / "runs" / run_id / "checkpoints" / "step-2.json").exists():
            return int(state["pid"])
        time.sleep(0.05)
    raise TimeoutError("run never got past its first evaluation")


def test_sigkilled_run_is_failed_then_resumes_without_lost_or_duplicated_rows(write_spec, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.15")
    spec = write_spec(base={"train": {"steps": 12}, "eval": {"every": 2}}, axes={"loss.type": ["grpo"]}, seeds=[0])
    study = load_spec(spec).study_dir
    run_id = launch(spec, entry=FAKE).submitted[0]
    os.kill(_running_pid(study, run_id), signal.SIGKILL)
    rows = wait_finished(spec)
    assert rows[0]["state"] == "failed" and "killed by SIGKILL" in rows[0]["error"]
    killed_at = rows[0]["step"]
    assert killed_at is not None and killed_at < 12

    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    assert launch(spec, entry=FAKE).submitted == [run_id]
    assert wait_finished(spec)[0]["state"] == "done"
    steps = list(read_evals(study / "runs" / run_id)["step"])
    assert steps == list(range(0, 13, 2))
    log = (study / "logs" / f"{run_id}.log").read_text()
    assert "resumed from step" in log and "resumed from step 0" not in log


def test_sigterm_checkpoints_and_shows_cancelled(write_spec, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.15")
    spec = write_spec(base={"train": {"steps": 40}, "eval": {"every": 2}}, axes={"loss.type": ["grpo"]}, seeds=[0])
    study = load_spec(spec).study_dir
    run_id = launch(spec, entry=FAKE).submitted[0]
    assert launch(spec, entry=FAKE).submitted == []  # running: left alone
    os.kill(_running_pid(study, run_id), signal.SIGTERM)
    row = wait_finished(spec)[0]
    assert row["state"] == "cancelled"
    newest = max(int(p.stem.split("-")[1]) for p in (study / "runs" / run_id / "checkpoints").glob("step-*.json"))
    assert newest >= row["step"] - 1  # a checkpoint at the step it stopped, not just the last evaluation


def test_failure_is_recorded_with_its_error_and_relaunched(write_spec, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL", "3")
    spec = write_spec(axes={"loss.type": ["grpo"]}, seeds=[0])
    launch(spec, entry=FAKE)
    row = wait_finished(spec)[0]
    assert row["state"] == "failed" and "fake failure at step 3" in row["error"]
    failed = json.loads((load_spec(spec).study_dir / "runs" / row["run_id"] / "FAILED").read_text())
    assert failed["reason"] == "ValueError: fake failure at step 3"
    monkeypatch.delenv("FAKE_FAIL")
    assert launch(spec, entry=FAKE).submitted == [row["run_id"]]
    assert wait_finished(spec)[0]["state"] == "done"


def test_debug_executor_runs_in_process(write_spec, tmp_path: Path) -> None:
    spec = write_spec(tiny_spec(tmp_path, resources={"executor": "debug"}))
    result = launch(spec, entry=FAKE)
    assert result.executor == "debug"
    assert [r["state"] for r in status(spec)] == ["done"] * 4


def test_force_relaunches_a_running_run_after_it_checkpoints(write_spec, monkeypatch, tmp_path: Path) -> None:
    # The run holds after step 2 until the gate file goes, so --force always meets it running (launch's input
    # checks take seconds: a run on a clock could finish first on a loaded machine).
    gate = tmp_path / "hold"
    gate.touch()
    monkeypatch.setenv("FAKE_HOLD", str(gate))
    monkeypatch.setenv("FAKE_HOLD_AFTER", "2")
    spec = write_spec(base={"train": {"steps": 30}, "eval": {"every": 2}}, axes={"loss.type": ["grpo"]}, seeds=[0])
    study = load_spec(spec).study_dir
    run_id = launch(spec, entry=FAKE).submitted[0]
    old_pid = _running_pid(study, run_id)
    forced = launch(spec, entry=FAKE, force=True)
    gate.unlink()
    assert forced.submitted == [run_id] and forced.rows[0]["state"] == "running"
    assert wait_finished(spec)[0]["state"] == "done"
    assert not local.pid_alive(old_pid)
    steps = list(read_evals(study / "runs" / run_id)["step"])
    assert steps == sorted(set(steps)) and steps[-1] == 30  # the new job resumed where the old one stopped
    assert read_manifest(study)["runs"][run_id]["attempts"] == 2


def test_study_folder_status_without_the_spec(write_spec) -> None:
    spec = write_spec(seeds=[0])
    launch(spec, entry=FAKE)
    wait_finished(spec)
    from scaling.study.status import study_status

    rows = study_status(load_spec(spec).study_dir)
    assert sorted(r["name"] for r in rows) == ["loss.type=cispo,seed=0", "loss.type=grpo,seed=0"]
    assert {r["state"] for r in rows} == {"done"}


def test_runner_and_worker_killed_together_show_failed_and_resume(write_spec, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.15")
    spec = write_spec(base={"train": {"steps": 12}, "eval": {"every": 2}}, axes={"loss.type": ["grpo"]}, seeds=[0])
    study = load_spec(spec).study_dir
    run_id = launch(spec, entry=FAKE).submitted[0]
    _running_pid(study, run_id)
    runner = int(local.read_state(study, run_id)["runner_pid"])
    os.killpg(runner, signal.SIGKILL)  # the runner leads its session: worker and runner die at once
    row = wait_finished(spec)[0]
    assert row["state"] == "failed" and "runner is gone" in row["error"]
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    assert launch(spec, entry=FAKE).submitted == [run_id]
    assert wait_finished(spec)[0]["state"] == "done"
    assert list(read_evals(study / "runs" / run_id)["step"]) == list(range(0, 13, 2))
