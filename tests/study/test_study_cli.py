"""`launch` / `status` commands: dry-run output, JSON, and one-line errors that submit nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scaling.cli.study import register
from scaling.study import executors

from study_helpers import tiny_spec

app = typer.Typer()
register(app)
runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_dry_run_prints_the_grid(write_spec, tmp_path: Path) -> None:
    result = invoke("launch", str(write_spec()), "--dry-run", "--executor", "local")
    assert result.exit_code == 0, result.output
    for name in ("loss.type=grpo,seed=0", "loss.type=grpo,seed=1", "loss.type=cispo,seed=0", "loss.type=cispo,seed=1"):
        assert name in result.output
    assert result.output.count("submit") == 4 + 1  # one action per run, and the summary
    assert "4 runs: 4 missing; would submit 4" in result.output
    assert not (tmp_path / "results").exists()


def test_dry_run_with_only_narrows_the_grid(write_spec) -> None:
    result = invoke("launch", str(write_spec()), "--dry-run", "--executor", "local", "--only", "loss.type=grpo",
                    "--only", "seed=1")
    assert result.exit_code == 0, result.output
    assert "1 runs: 1 missing; would submit 1" in result.output


def test_status_json(write_spec) -> None:
    result = invoke("status", str(write_spec()), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["summary"] == {"missing": 4} and len(data["rows"]) == 4
    assert {"run_id", "name", "state", "step", "pass_rate", "flops", "job_id", "error"} <= set(data["rows"][0])


@pytest.mark.parametrize("spec, args, message", [
    (None, [], "malformed YAML"),
    ({"axes": {"loss.typo": ["grpo"]}}, [], "axis loss.typo: unknown config field"),
    ({"axes": {"loss.type": []}}, [], "axis loss.type: empty list of values"),
    ({"axes": {"model.layers": [1, "two"]}}, [], "axis model.layers: value 'two' rejected"),
    ({"axes": {"loss.type": ["grpo", "grpo"]}}, [], "duplicate value 'grpo'"),
    ({}, ["--executor", "slurm"], "no Slurm controller"),
    ({}, ["--only", "optim.lr=1"], "not an axis"),
    ({}, ["--max-parallel", "0"], "--max-parallel 0"),
])
def test_bad_input_is_one_line_and_submits_nothing(write_spec, tmp_path: Path, monkeypatch, spec, args, message) -> None:
    monkeypatch.setattr(executors, "slurm_available", lambda timeout_s=10: False)
    if spec is None:
        path = tmp_path / "bad.yaml"
        path.write_text("name: tiny\naxes: {loss.type: [grpo\n")
    else:
        path = write_spec(**spec)
    result = runner.invoke(app, ["launch", str(path), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: ")
    assert not (tmp_path / "results").exists()


def test_unwritable_output_is_refused_before_writing(write_spec, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = write_spec(tiny_spec(tmp_path, output=str(blocker / "results")))
    result = runner.invoke(app, ["launch", str(path), "--executor", "local"])
    assert result.exit_code == 2
    assert "not writable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_spec_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "cannot read" in result.stderr


def _fake_bin(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def test_auto_needs_a_controller_not_just_srun(tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_bin(bin_dir, "srun", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))  # not /usr/bin: this machine may run a real cluster
    assert executors.choose("auto") == "local"  # srun alone: no
    _fake_bin(bin_dir, "scontrol", "echo 'Slurmctld(primary) at vm is DOWN'; exit 1")
    assert executors.choose("auto") == "local"
    _fake_bin(bin_dir, "scontrol", "echo 'Slurmctld(primary) at vm is UP'")
    assert executors.choose("auto") == "slurm"


def test_launch_wait_shows_progress_until_done(write_spec, monkeypatch) -> None:
    from study_helpers import FAKE
    import scaling.cli.study as cli_study
    import scaling.study.launch as launch_module

    monkeypatch.setattr(launch_module, "Entry", lambda: FAKE)
    monkeypatch.setattr(cli_study, "POLL_S", 0.2)
    result = runner.invoke(app, ["launch", str(write_spec()), "--wait"])
    assert result.exit_code == 0, result.output
    assert "submitted 4 runs to local" in result.output and "4 runs: 4 done" in result.output
    again = runner.invoke(app, ["launch", str(write_spec())])
    assert "submitted 0 runs" in again.output and "4 done" in again.output


def test_missing_data_and_model_paths_stop_a_launch_but_not_a_dry_run(write_spec, tmp_path: Path) -> None:
    base = {"task": {"name": "dataset", "path": str(tmp_path / "train.jsonl")}, "model": {"name_or_path": "/SET/ME/model"}}
    path = write_spec(base=base)
    assert runner.invoke(app, ["launch", str(path), "--dry-run", "--executor", "local"]).exit_code == 0
    result = runner.invoke(app, ["launch", str(path), "--executor", "local"])
    assert result.exit_code == 2 and f"task.path: {tmp_path / 'train.jsonl'} does not exist" in result.stderr
    (tmp_path / "train.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    result = runner.invoke(app, ["launch", str(path), "--executor", "local"])
    assert result.exit_code == 2 and "model.name_or_path: /SET/ME/model does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "results").exists()


def test_status_warns_when_zero_reward_groups_dominate_for_50_steps(write_spec) -> None:
    from scaling.store import STEP_COLUMNS, TableLog
    from scaling.study.spec import expand, load_spec

    spec = load_spec(write_spec())
    runs = expand(spec)
    starved, fine = (spec.study_dir / "runs" / r.run_id for r in runs[:2])
    TableLog(starved / "metrics.parquet", STEP_COLUMNS).append(
        [{"step": s, "zero_reward_frac": 0.95 if s > 5 else 0.5} for s in range(1, 61)])
    TableLog(fine / "metrics.parquet", STEP_COLUMNS).append([{"step": s, "zero_reward_frac": 0.5} for s in range(1, 61)])
    result = invoke("status", str(write_spec()))
    assert result.exit_code == 0, result.output
    assert f"warning {runs[0].name}: more than 80% of groups got zero reward for 55 consecutive steps" in result.output
    assert "broaden the prompt set" in result.output and f"warning {runs[1].name}" not in result.output
    rows = json.loads(invoke("status", str(write_spec()), "--json").stdout)["rows"]
    assert rows[0]["warning"].startswith("more than 80%") and rows[1]["warning"] is None

    # RFT: the training-set pass rate pulls away from the held-out one
    from scaling.store import EVAL_COLUMNS

    TableLog(fine / "evals.parquet", EVAL_COLUMNS).append(
        [{"step": s, "pass_rate": 0.3, "train_pass_rate": 0.3 + s / 200} for s in (0, 20, 40, 60)])
    result = invoke("status", str(write_spec()))
    assert f"warning {runs[1].name}: the training-set pass rate leads the held-out one by 0.30 at step 60" in result.output

    # a finished run: coverage from its evaluation rows (one per evaluation, each covering the steps before it)
    TableLog(starved / "evals.parquet", EVAL_COLUMNS).append(
        [{"step": s, "pass_rate": 0.0, "train_zero_reward_frac": 0.95 if s else float("nan")} for s in (0, 25, 50, 75)])
    (starved / "DONE").write_text("{}")
    result = invoke("status", str(write_spec()))
    assert f"warning {runs[0].name}: more than 80% of groups got zero reward for 75 consecutive steps (steps 1–75)" \
        in result.output
