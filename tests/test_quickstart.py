"""`scaling quickstart` end to end on a two-run spec: local runs, fits, report, the three-line summary."""

from __future__ import annotations

import typer
import yaml
from typer.testing import CliRunner

from scaling.cli import quickstart


def test_quickstart_runs_fits_and_reports(tmp_path, tiny_tree):
    base = tiny_tree
    base["train"]["steps"] = 12
    base["eval"]["every"] = 1
    # 1-digit addition warm-started to a 20% pass rate, so RL has a curve to fit.
    base["task"].update({"digits": 1, "train_size": 80})
    base["warmstart"].update({"target_low": 0.2, "max_steps": 400, "check_every": 20, "lr": 3e-3, "batch_size": 32})
    spec = {"name": "qs", "output": str(tmp_path / "out"), "base": base,
            "axes": {"loss.type": {"values": ["grpo", "cispo"], "short": "loss"}}, "seeds": [0],
            "resources": {"executor": "local", "cpus_per_run": 1}}
    path = tmp_path / "qs.yaml"
    path.write_text(yaml.safe_dump(spec))
    app = typer.Typer()
    quickstart.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["quickstart", "--spec", str(path)])
    assert result.exit_code == 0, result.output
    report = tmp_path / "out" / "qs" / "report.md"
    assert report.exists() and "loss.type" in report.read_text()
    assert "best recipe by A (identified asymptotes only)" in result.output or "none is called best" in result.output
    assert "at 2x the compute reached" in result.output and "backtest" in result.output
