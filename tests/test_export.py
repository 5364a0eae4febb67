"""`scaling export`: logged trajectories to a deduplicated SFT dataset, from a run or a whole study."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scaling.cli.export import register
from scaling.config import RunConfig, save_run_config
from scaling.store import TRAJECTORY_COLUMNS, TableLog

app = typer.Typer()
register(app)
app.command("unused")(lambda: None)  # with two commands typer keeps the command name in the arguments


def _run(folder, rows):
    folder.mkdir(parents=True)
    save_run_config(RunConfig(), folder / "config.yaml")
    TableLog(folder / "trajectories.parquet", TRAJECTORY_COLUMNS).append(
        [{"step": s, "prompt_id": i, "sample": 0, "prompt": p, "completion": c, "reward": r, "tokens": len(c)}
         for s, i, p, c, r in rows])
    return folder


@pytest.fixture
def study(tmp_path):
    """A folder of two runs: the same solution found at two steps and in both runs, a wrong one, a partial one."""
    _run(tmp_path / "study" / "a", [(1, 0, "Solve:\n$x^2=4$, x>0", "x = 2", 1.0), (2, 0, "Solve:\n$x^2=4$, x>0", "x = 2", 1.0),
                                    (2, 1, "1+1=", "3", 0.0), (3, 2, "2+2=", "4 probably", 0.5)])
    _run(tmp_path / "study" / "b", [(1, 0, "Solve:\n$x^2=4$, x>0", "x = 2", 1.0), (1, 1, "1+1=", "2", 1.0)])
    return tmp_path / "study"


def test_export_jsonl_deduplicates_and_keeps_rewarded_rows(study, tmp_path):
    out = tmp_path / "sft.jsonl"
    result = CliRunner().invoke(app, ["export", str(study), "--min-reward", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records == [{"prompt": "Solve:\n$x^2=4$, x>0", "completion": "x = 2"}, {"prompt": "1+1=", "completion": "2"}]
    assert "2 records" in result.output


def test_export_chat_parquet_from_one_run_with_a_lower_threshold(study, tmp_path):
    out = tmp_path / "sft.parquet"
    result = CliRunner().invoke(app, ["export", str(study / "a"), "--min-reward", "0.5", "--chat", "--system", "Be brief.",
                                      "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    messages = pd.read_parquet(out)["messages"].tolist()
    assert len(messages) == 2
    assert [m["role"] for m in messages[1]] == ["system", "user", "assistant"]
    assert messages[1][2]["content"] == "4 probably"


@pytest.mark.parametrize("args, message", [
    (["--min-reward", "2"], "none of 6 trajectories has reward >= 2"),
    (["--format", "csv"], "--format must be jsonl or parquet"),
])
def test_export_refuses_with_one_line_and_writes_nothing(study, tmp_path, args, message):
    out = tmp_path / "out" / "sft.jsonl"
    result = CliRunner().invoke(app, ["export", str(study), "--out", str(out), *args])
    assert result.exit_code == 2 and message in result.output
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_export_names_the_missing_log(tmp_path):
    save_run_config(RunConfig(), tmp_path / "config.yaml")
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "log.trajectories" in result.output


def test_export_shows_prompts_as_the_run_templated_them(tmp_path):
    from scaling.config import RunConfig

    run = tmp_path / "run"
    run.mkdir()
    config = RunConfig.model_validate({"task": {"prompt_template": "Solve, answer in \\boxed{}.\n{question}",
                                                "system_prompt": "You are careful."}})
    save_run_config(config, run / "config.yaml")
    TableLog(run / "trajectories.parquet", TRAJECTORY_COLUMNS).append(
        [{"step": 1, "prompt_id": 0, "sample": 0, "prompt": "1+1=", "completion": "\\boxed{2}", "reward": 1.0, "tokens": 9}])
    out = tmp_path / "chat.jsonl"
    assert CliRunner().invoke(app, ["export", str(run), "--chat", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == {"messages": [
        {"role": "system", "content": "You are careful."},
        {"role": "user", "content": "Solve, answer in \\boxed{}.\n1+1="},
        {"role": "assistant", "content": "\\boxed{2}"}]}
    assert CliRunner().invoke(app, ["export", str(run), "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["prompt"] == "You are careful.\n\nSolve, answer in \\boxed{}.\n1+1="
