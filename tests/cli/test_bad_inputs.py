"""Malformed input, as a new user would type it: every command says what is wrong in at most three
lines, exits non-zero, prints no traceback, and leaves the folder it was pointed at exactly as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from scaling.cli import _register, app

TINY = {
    "threads": 1,
    "task": {"digits": 2, "train_size": 400, "val_size": 16},
    "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
    "warmstart": {"max_steps": 20, "check_every": 10, "check_prompts": 16, "target_low": 0.0, "target_high": 1.0},
    "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4, "max_new_tokens": 4},
    "train": {"steps": 2},
    "eval": {"every": 2, "k": 2},
}


def _rows(n: int, **extra) -> str:
    return "".join(json.dumps({"prompt": f"{i}+{i}=", "answer": str(2 * i), **extra}) + "\n" for i in range(n))


def _workspace(ws: Path) -> None:
    """Inputs of every kind, good and bad, and a run folder that belongs to another config."""
    (ws / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (ws / "bad.yaml").write_text("task: {digits: [\n")
    (ws / "list.yaml").write_text("- 1\n- 2\n")
    data = ws / "data"
    data.mkdir()
    (data / "good.jsonl").write_text(_rows(60))
    (data / "empty.jsonl").write_text("")
    (data / "badline.jsonl").write_text(_rows(3) + "{not json\n")
    (data / "noanswer.jsonl").write_text("".join(json.dumps({"prompt": f"{i}="}) + "\n" for i in range(40)))
    (data / "few.jsonl").write_text(_rows(5))
    (data / "unicode.jsonl").write_text(_rows(30) + json.dumps({"prompt": "π=", "answer": "3"}) + "\n")
    (data / "rows.csv").write_text("prompt,answer\n1+1=,2\n")
    pq.write_table(pa.table({"question": ["1+1="] * 40, "solution": ["2"] * 40}), data / "nocols.parquet")
    (data / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    (ws / "empty_model").mkdir()
    (ws / "curves.csv").write_text("flops,pass_rate\n1e9,0.1\n2e9,0.2\n4e9,0.3\n8e9,0.4\n1.6e10,0.45\n")
    (ws / "nocols.csv").write_text("a,b\n1,2\n")
    (ws / "empty.csv").write_text("")
    (ws / "notes.txt").write_text("hello")
    (ws / "empty_results").mkdir()
    other = ws / "runs" / "other"
    other.mkdir(parents=True)
    (other / "config.yaml").write_text(yaml.safe_dump({**TINY, "seed": 7}))
    (ws / "a_file").write_text("not a folder")
    spec = {"name": "s", "output": str(ws / "results"), "base": TINY, "axes": {"loss.type": ["grpo", "cispo"]},
            "resources": {"executor": "local"}}
    specs = {
        "spec": spec,
        "spec_axis": {**spec, "axes": {"loss.typo": ["grpo"]}},
        "spec_value": {**spec, "axes": {"loss.type": ["ppo"]}},
        "spec_seeds": {**spec, "seeds": []},
        "spec_digits": {**spec, "base": {**TINY, "task": {**TINY["task"], "digits": 1}}},
        "spec_data": {**spec, "base": {**TINY, "task": {"name": "dataset", "path": str(data / "missing.jsonl")}}},
        "spec_rows": {**spec, "base": {**TINY, "task": {"name": "dataset", "path": str(data / "noanswer.jsonl"), "val_size": 4}}},
        "spec_heads": {**spec, "axes": {"model.heads": [2, 3]}},
        "spec_extra": {**spec, "colour": "blue"},
    }
    for name, body in specs.items():
        (ws / f"{name}.yaml").write_text(yaml.safe_dump(body))


D = "{ws}/data"
T = ["train", "{ws}/tiny.yaml", "--quiet", "--out", "{ws}/run"]
DS = [*T, "--set", "task.name=dataset", "--set", "task.val_size=4"]

CASES: list[tuple[str, list[str], str]] = [
    # train: config, overrides, shapes
    ("unknown loss", [*T, "--set", "loss.type=ppo"], "loss.type"),
    ("unknown key", [*T, "--set", "bogus.key=1"], "bogus.key: unknown key"),
    ("unknown section key", [*T, "--set", "loss.typo=1"], "loss.typo"),
    ("override without =", [*T, "--set", "loss.type"], "expected key=value"),
    ("zero prompts per step", [*T, "--set", "rollout.prompts_per_step=0"], "rollout.prompts_per_step"),
    ("negative lr", [*T, "--set", "optim.lr=-1"], "optim.lr"),
    ("steps not a number", [*T, "--set", "train.steps=abc"], "train.steps"),
    ("zero temperature", [*T, "--set", "rollout.temperature=0"], "rollout.temperature"),
    ("unknown aggregation", [*T, "--set", "loss.aggregation=mean"], "loss.aggregation"),
    ("zero threads", [*T, "--set", "threads=0"], "threads"),
    ("group of one", [*T, "--set", "rollout.generations_per_prompt=1"], "generations_per_prompt"),
    ("band reversed", [*T, "--set", "warmstart.target_low=0.5", "--set", "warmstart.target_high=0.2"], "target_low"),
    ("heads do not divide hidden", [*T, "--set", "model.heads=256"], "not divisible by heads"),
    ("three heads", [*T, "--set", "model.heads=3"], "not divisible by heads"),
    ("odd head size", [*T, "--set", "model.hidden_size=36", "--set", "model.heads=4"], "must be even"),
    ("unknown arch", [*T, "--set", "model.arch=gpt2"], "model.arch"),
    ("unknown precision", [*T, "--set", "model.precision=fp8"], "model.precision"),
    ("config file missing", ["train", "{ws}/nope.yaml", "--out", "{ws}/run"], "nope.yaml"),
    ("config malformed", ["train", "{ws}/bad.yaml", "--out", "{ws}/run"], "malformed YAML"),
    ("config not a mapping", ["train", "{ws}/list.yaml", "--out", "{ws}/run"], "mapping"),
    # train: task sizes against what is requested
    ("too few addition prompts", [*T, "--set", "task.digits=1"], "1-digit addition"),
    ("batch larger than the task", [*T, "--set", "rollout.prompts_per_step=500"], "rollout.prompts_per_step"),
    ("more eval prompts than held out", [*T, "--set", "eval.prompts=500"], "eval.prompts"),
    ("unknown task", [*T, "--set", "task.name=sudoku"], "task.name"),
    # train: dataset files
    ("dataset without path", [*T, "--set", "task.name=dataset"], "task.path"),
    ("dataset missing file", [*DS, "--set", f"task.path={D}/missing.jsonl"], "missing.jsonl"),
    ("dataset empty", [*DS, "--set", f"task.path={D}/empty.jsonl"], "no rows"),
    ("dataset bad json line", [*DS, "--set", f"task.path={D}/badline.jsonl"], "badline.jsonl:4"),
    ("dataset without answer", [*DS, "--set", f"task.path={D}/noanswer.jsonl"], "answer"),
    ("dataset too small for the split", [*DS[:-2], "--set", f"task.path={D}/few.jsonl"], "val_size"),
    ("dataset parquet without columns", [*DS, "--set", f"task.path={D}/nocols.parquet"], "missing column"),
    ("dataset corrupt parquet", [*DS, "--set", f"task.path={D}/corrupt.parquet"], "corrupt.parquet"),
    ("dataset unknown extension", [*DS, "--set", f"task.path={D}/rows.csv"], ".csv"),
    ("dataset non-ascii prompt", [*DS, "--set", f"task.path={D}/unicode.jsonl"], "U+03C0"),
    ("dataset missing val file", [*DS, "--set", f"task.path={D}/good.jsonl", "--set", f"task.val_path={D}/nope.jsonl"],
     "task.val_path"),
    # train: model and output folders
    ("model folder empty", [*T, "--set", "model.name_or_path={ws}/empty_model"], "model.name_or_path"),
    ("model folder missing", [*T, "--set", "model.name_or_path={ws}/no_model"], "model.name_or_path"),
    ("run folder of another config", ["train", "{ws}/tiny.yaml", "--quiet", "--out", "{ws}/runs/other"], "different config"),
    ("output is a file", ["train", "{ws}/tiny.yaml", "--quiet", "--out", "{ws}/a_file"], "a_file"),
    # launch and status
    ("spec missing", ["launch", "{ws}/nope.yaml"], "nope.yaml"),
    ("spec malformed", ["launch", "{ws}/bad.yaml"], "malformed YAML"),
    ("spec unknown axis", ["launch", "{ws}/spec_axis.yaml"], "loss.typo"),
    ("spec bad axis value", ["launch", "{ws}/spec_value.yaml"], "ppo"),
    ("spec no seeds", ["launch", "{ws}/spec_seeds.yaml"], "seeds"),
    ("spec unknown key", ["launch", "{ws}/spec_extra.yaml"], "colour"),
    ("spec bad model shape", ["launch", "{ws}/spec_heads.yaml"], "not divisible by heads"),
    ("spec too few prompts", ["launch", "{ws}/spec_digits.yaml"], "1-digit addition"),
    ("spec dataset missing", ["launch", "{ws}/spec_data.yaml"], "missing.jsonl"),
    ("spec dataset malformed", ["launch", "{ws}/spec_rows.yaml"], "answer"),
    ("unknown executor", ["launch", "{ws}/spec.yaml", "--executor", "kubernetes"], "kubernetes"),
    ("zero parallel", ["launch", "{ws}/spec.yaml", "--max-parallel", "0"], "--max-parallel"),
    ("only unknown axis", ["launch", "{ws}/spec.yaml", "--only", "foo=bar"], "foo"),
    ("only without =", ["launch", "{ws}/spec.yaml", "--only", "foo"], "AXIS=VALUE"),
    ("status spec missing", ["status", "{ws}/nope.yaml"], "nope.yaml"),
    ("status spec malformed", ["status", "{ws}/bad.yaml"], "malformed YAML"),
    # fit, predict, plot, report
    ("fit source missing", ["fit", "{ws}/nope.csv"], "nope.csv"),
    ("fit csv without columns", ["fit", "{ws}/nocols.csv"], "flops"),
    ("fit empty csv", ["fit", "{ws}/empty.csv"], "empty.csv"),
    ("fit unknown file type", ["fit", "{ws}/notes.txt"], "notes.txt"),
    ("fit empty results folder", ["fit", "{ws}/empty_results"], "empty_results"),
    ("fit unknown --by", ["fit", "{ws}/curves.csv", "--by", "nope"], "nope"),
    ("fit bad --r0", ["fit", "{ws}/curves.csv", "--r0", "abc"], "--r0"),
    ("fit unknown --x", ["fit", "{ws}/curves.csv", "--x", "tokens"], "tokens"),
    ("predict at nan", ["predict", "{ws}/curves.csv", "--at", "nan"], "--at nan"),
    ("predict at inf", ["predict", "{ws}/curves.csv", "--at", "inf"], "--at inf"),
    ("predict at negative", ["predict", "{ws}/curves.csv", "--at", "-1"], "--at"),
    ("predict at zero", ["predict", "{ws}/curves.csv", "--at", "0"], "--at"),
    ("report unknown format", ["report", "{ws}/curves.csv", "--format", "pdf", "--out", "{ws}/report"], "pdf"),
    ("plot unknown --y", ["plot", "{ws}/curves.csv", "--y", "nope", "--out", "{ws}/figs"], "nope"),
    ("quickstart spec missing", ["quickstart", "--spec", "{ws}/nope.yaml"], "nope.yaml"),
]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    _workspace(ws)
    _register()
    return ws


def test_there_are_at_least_fifty_cases():
    assert len(CASES) >= 50 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,args,expected", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_one_clear_line_and_changes_nothing(workspace, monkeypatch, name, args, expected):
    monkeypatch.chdir(workspace)  # default output folders (figures/, report/) would land here
    args = [a.replace("{ws}", str(workspace)).replace(D, str(workspace / "data")) for a in args]
    before = _snapshot(workspace)
    result = CliRunner().invoke(app, args)
    output = result.output.strip()
    assert result.exit_code != 0, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    lines = output.splitlines()
    assert 1 <= len(lines) <= 3, output
    assert expected in output, output
    assert _snapshot(workspace) == before
