"""The Slurm path with submitit's own test doubles (MockedSubprocess for sbatch / sacct, a mocked
requeue): job arrays split by size, sbatch options, status from sacct, and USR2 -> checkpoint ->
requeue -> resume. A real cluster is exercised elsewhere (tests/slurm)."""

from __future__ import annotations

import signal
from pathlib import Path
from unittest.mock import patch

import pytest
from submitit.core import submission, utils
from submitit.core.test_core import MockedSubprocess
from submitit.slurm import slurm as submitit_slurm

from scaling.store import read_evals
from scaling.study import executors
from scaling.study.job import RunJob
from scaling.study.launch import launch
from scaling.study.spec import load_spec
from scaling.study.status import status

from study_helpers import FAKE


class SlurmDouble(MockedSubprocess):
    """submitit's double, plus an empty `squeue` (it knows sbatch, sacct and scancel only): every job's
    state then comes from its sacct lines, as for jobs that have left the queue."""

    def __call__(self, command, **kwargs):
        return b"" if command[0] == "squeue" else super().__call__(command, **kwargs)


@pytest.fixture
def mocked_slurm(monkeypatch):
    monkeypatch.setattr(executors, "slurm_available", lambda timeout_s=10: True)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGCONT, signal.SIGUSR2)}
    mock = SlurmDouble(known_cmds=["srun"])
    try:
        with mock.context():
            yield mock
    finally:  # process_job installs submitit's handlers in this (pytest's) process
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        submitit_slurm.SlurmJob.watcher.clear()


def run_task(study: Path, job_id: str, mock: MockedSubprocess) -> None:
    """What the sbatch script does on the node: submitit's process_job for one array task."""
    with mock.job_context(job_id):
        submission.process_job(study / "slurm" / "%j")


def test_arrays_are_split_and_carry_the_resources(write_spec, mocked_slurm) -> None:
    spec = write_spec(seeds=[0, 1, 2], resources={
        "executor": "slurm", "max_array_size": 4, "partition": "debug", "mem_gb": 2, "timeout_min": 30,
        "cpus_per_run": 2, "sbatch_extra": ["--reservation=r1", "--exclusive"], "setup": ["echo set-up"]})
    result = launch(spec, entry=FAKE, max_parallel=3)
    assert sorted(result.job_ids.values()) == ["12_0", "12_1", "12_2", "12_3", "13_0", "13_1"]
    study = load_spec(spec).study_dir
    sbatch = (study / "slurm" / "12" / "12_submission.sh").read_text()
    for line in ("#SBATCH --array=0-3%3", "#SBATCH --partition=debug", "#SBATCH --cpus-per-task=2",
                 "#SBATCH --mem=2048MB", "#SBATCH --time=30", "#SBATCH --reservation=r1", "#SBATCH --exclusive",
                 "#SBATCH --signal=USR2@90", "echo set-up"):
        assert line in sbatch, line
    assert "#SBATCH --array=0-1%2" in (study / "slurm" / "13" / "13_submission.sh").read_text()
    assert {r["state"] for r in status(spec)} == {"running"}  # from the mocked sacct

    assert launch(spec, entry=FAKE).submitted == []  # running: left alone
    mocked_slurm.set_job_state("13", "CANCELLED by 0", array=2)
    again = launch(spec, entry=FAKE)  # cancelled ones go again, as a new array
    assert sorted(again.job_ids.values()) == ["14_0", "14_1"]


def test_a_data_parallel_run_is_one_job_of_several_tasks(write_spec, mocked_slurm) -> None:
    spec = write_spec(seeds=[0, 1], resources={"executor": "slurm", "nodes": 2, "tasks_per_node": 4,
                                                "gpus_per_task": 1, "cpus_per_run": 3})
    result = launch(spec, entry=FAKE)
    assert sorted(result.job_ids.values()) == ["12_0", "12_1", "12_2", "12_3"]  # one element per run, not per rank
    sbatch = (load_spec(spec).study_dir / "slurm" / "12" / "12_submission.sh").read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-task=1",
                 "#SBATCH --cpus-per-task=3", "--kill-on-bad-exit=1"):
        assert line in sbatch, line
    assert "--gpus-per-node" not in sbatch


def test_a_task_runs_through_submitit_and_shows_done(write_spec, mocked_slurm) -> None:
    spec = write_spec(axes={"loss.type": ["grpo"]}, seeds=[0], resources={"executor": "slurm"})
    result = launch(spec, entry=FAKE)
    study, (run_id, job_id) = load_spec(spec).study_dir, next(iter(result.job_ids.items()))
    assert job_id == "12"  # submitit sends a one-task array as a plain job
    assert status(spec)[0]["state"] == "running"
    run_task(study, job_id, mocked_slurm)
    mocked_slurm.set_job_state("12", "COMPLETED")
    row = status(spec)[0]
    assert (row["state"], row["step"], row["job_id"]) == ("done", 4, "12")


def test_usr2_checkpoints_requeues_and_the_restart_resumes(write_spec, mocked_slurm, monkeypatch, capfd) -> None:
    spec = write_spec(base={"train": {"steps": 10}, "eval": {"every": 4}}, axes={"loss.type": ["grpo"]},
                      seeds=[0], resources={"executor": "slurm"})
    result = launch(spec, entry=FAKE)
    study, (run_id, job_id) = load_spec(spec).study_dir, next(iter(result.job_ids.items()))
    run_dir = study / "runs" / run_id

    monkeypatch.setenv("FAKE_SIGNAL_AT", "5")
    with patch("submitit.slurm.slurm.SlurmJobEnvironment._requeue") as requeue, pytest.raises(SystemExit):
        run_task(study, job_id, mocked_slurm)
    requeue.assert_called_once()
    assert (run_dir / "checkpoints" / "step-5.json").exists()  # saved at the step boundary, not at step 4
    assert not (run_dir / "DONE").exists()
    pickled = utils.DelayedSubmission.load(study / "slurm" / job_id / f"{job_id}_submitted.pkl")
    assert isinstance(pickled.function, RunJob)  # checkpoint() resubmits the same callable

    monkeypatch.delenv("FAKE_SIGNAL_AT")
    run_task(study, job_id, mocked_slurm)  # the requeued job starts again from the pickle
    assert "resumed from step 5" in capfd.readouterr().out
    assert (run_dir / "DONE").exists()
    assert list(read_evals(run_dir)["step"]) == [0, 4, 8, 10]


def test_nothing_is_built_on_the_submitting_node(write_spec, mocked_slurm, tmp_path) -> None:
    """The warm start runs inside the jobs (under the cache lock), never in the process that calls sbatch."""
    spec = write_spec(axes={"model.hidden_size": [16, 32]}, seeds=[0, 1], resources={"executor": "slurm"})
    assert len(launch(spec, entry=FAKE).job_ids) == 4
    trace = tmp_path / "trace"
    assert not trace.exists() or not any(line.startswith("warmstart") for line in trace.read_text().splitlines())
