"""A scheduler that does not answer is not a scheduler that says "gone": no duplicate submissions,
and a job that exited cleanly without finishing its run is reported as what it is."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from scaling.study import executors, status as status_module
from scaling.study.launch import launch
from scaling.study.manifest import write_manifest
from scaling.study.spec import expand, load_spec
from scaling.study.status import study_status

from study_helpers import FAKE, tiny_spec


class FakeSlurm:
    """check_output for sacct/squeue: per command, a list of answers (a string, or an exception to raise)."""

    def __init__(self, **answers):
        self.answers = {"scancel": [""], **{cmd: list(a) for cmd, a in answers.items()}}
        self.calls: list[str] = []

    def __call__(self, command, **kwargs):
        self.calls.append(command[0])
        queue = self.answers[command[0]]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer.encode()


DOWN = subprocess.CalledProcessError(1, "squeue", stderr=b"slurm_load_jobs error: Socket timed out on send/recv")


@pytest.fixture
def slurm_study(tmp_path, write_spec, monkeypatch):
    """A two-run study whose runs were submitted to Slurm as array 500 (no DONE markers)."""
    monkeypatch.setattr(status_module, "QUERY_RETRY_S", 0.0)
    monkeypatch.setattr(executors, "slurm_available", lambda timeout_s=10: True)
    spec_path = write_spec(tiny_spec(tmp_path, axes={"loss.type": ["grpo"]}, resources={"executor": "slurm"}))
    spec = load_spec(spec_path)
    runs = expand(spec)
    write_manifest(spec.study_dir, {"runs": {r.run_id: {"name": r.name, "executor": "slurm", "job_id": f"500_{i}"}
                                            for i, r in enumerate(runs)}})
    submitted: list = []

    def submit(study, prepared, resources, name, max_parallel, entry, ids):
        submitted.extend(prepared)
        ids.update({p.run_id: f"600_{i}" for i, p in enumerate(prepared)})

    monkeypatch.setattr(executors, "submit_slurm", submit)
    return spec_path, spec, runs, submitted


def _states(spec, runs, fake, monkeypatch):
    monkeypatch.setattr(subprocess, "check_output", fake)
    return [r["state"] for r in study_status(spec.study_dir, [(r.run_id, r.name) for r in runs])]


def test_unanswered_squeue_is_unknown_and_never_resubmitted(slurm_study, monkeypatch):
    spec_path, spec, runs, submitted = slurm_study
    fake = FakeSlurm(sacct=[""], squeue=[DOWN])
    assert _states(spec, runs, fake, monkeypatch) == ["unknown", "unknown"]
    assert fake.calls.count("squeue") == status_module.QUERY_ATTEMPTS  # retried before giving up
    result = launch(spec_path, force=True, entry=FAKE)
    assert result.submitted == [] and submitted == [] and len(result.held_back) == 2
    assert "Socket timed out" in result.held_back[0]["error"]

    from scaling.cli import _register, app

    _register()
    cli = CliRunner().invoke(app, ["launch", str(spec_path)])
    assert cli.exit_code == 1 and submitted == []
    assert "2 runs not resubmitted: their scheduler state is unknown" in cli.output


def test_a_retried_squeue_that_answers_is_believed(slurm_study, monkeypatch):
    _, spec, runs, _ = slurm_study
    fake = FakeSlurm(sacct=[""], squeue=[DOWN, "500_0|RUNNING\n500_1|PENDING\n"])
    assert _states(spec, runs, fake, monkeypatch) == ["running", "pending"]


def test_unanswered_sacct_with_an_answered_queue_is_resubmittable(slurm_study, monkeypatch):
    spec_path, spec, runs, submitted = slurm_study
    fake = FakeSlurm(sacct=[subprocess.CalledProcessError(1, "sacct")], squeue=[""])
    monkeypatch.setattr(subprocess, "check_output", fake)
    rows = study_status(spec.study_dir, [(r.run_id, r.name) for r in runs])
    assert [r["state"] for r in rows] == ["failed", "failed"]
    assert "left the queue" in rows[0]["error"] and "sacct" in rows[0]["error"]
    assert len(launch(spec_path, entry=FAKE).submitted) == 2  # not in the queue: no live copy to duplicate


def test_completed_without_done_is_incomplete_and_resumed(slurm_study, monkeypatch):
    spec_path, spec, runs, submitted = slurm_study
    fake = FakeSlurm(sacct=["500_0|COMPLETED\n500_1|FAILED\n"], squeue=[""])
    monkeypatch.setattr(subprocess, "check_output", fake)
    rows = study_status(spec.study_dir, [(r.run_id, r.name) for r in runs])
    assert [r["state"] for r in rows] == ["incomplete", "failed"]
    assert "COMPLETED but the run wrote no DONE marker" in rows[0]["error"]
    assert len(launch(spec_path, entry=FAKE).submitted) == 2
