"""The fit commands on a small CSV, through a private typer app."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scaling.cli.fit import register


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    register(app)
    return app


def run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_fit_json(app, small_csv):
    res = run(app, "fit", small_csv, "--by", "recipe", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [o["group"] for o in out] == [{"recipe": "x"}, {"recipe": "y"}]
    for o in out:
        assert {"A", "B", "C_mid", "R0", "A_interval", "identified"} <= set(o)
        assert o["A_interval"][0] <= o["A"] <= o["A_interval"][1]
    assert out[0]["A"] > out[1]["A"]


def test_fit_table_and_predict(app, small_csv):
    res = run(app, "fit", small_csv, "--by", "recipe")
    assert res.exit_code == 0 and "recipe=x" in res.stdout
    res = run(app, "predict", small_csv, "--by", "recipe", "--at", 5000, "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 2 and all(r["interval"][0] <= r["R"] <= r["interval"][1] for r in rows)


def test_plot_and_report(app, small_csv, tmp_path):
    res = run(app, "plot", small_csv, "--by", "recipe", "--out", tmp_path / "figs")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "figs" / "curves.png").stat().st_size > 10_000 and (tmp_path / "figs" / "curves.svg").exists()
    for fmt in ("md", "html"):
        res = run(app, "report", small_csv, "--by", "recipe", "--out", tmp_path / "rep", "--format", fmt)
        assert res.exit_code == 0, res.output
        text = (tmp_path / "rep" / f"report.{fmt}").read_text()
        assert "Backtest" in text and "figures/curves.png" in text


@pytest.mark.parametrize("args, message", [
    (["--x", "gpu_hours"], "unknown column 'gpu_hours'"),
    (["--by", "nope"], "unknown column"),
    (["--r0", "zero"], "--r0"),
])
def test_bad_options_one_line_error(app, small_csv, args, message):
    res = run(app, "fit", small_csv, *args)
    assert res.exit_code == 2
    assert message in res.stderr and res.stderr.count("\n") == 1


def test_bad_file_and_bad_group(app, small_csv, tmp_path):
    res = run(app, "fit", tmp_path / "missing.csv")
    assert res.exit_code == 2 and "no such file" in res.stderr
    df = pd.read_csv(small_csv)
    df.loc[df["recipe"] == "y", "pass_rate"] = 0.3
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    res = run(app, "fit", bad, "--by", "recipe", "--json")
    assert res.exit_code == 2 and "recipe=y" in res.stderr and "constant" in res.stderr
    assert len(json.loads(res.stdout)) == 1


def test_backtest_table_json_and_figure(app, tmp_path):
    from fit_curves import study

    path = tmp_path / "three_seeds.csv"
    study(3, {"x": {"A": 0.7, "B": 2.0, "C_mid": 200.0, "R0": 0.1}}, seed=4).to_csv(path, index=False)
    res = run(app, "backtest", path, "--by", "recipe", "--json", "--plot", tmp_path / "figs")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [(s["mode"], s["horizon"]) for s in out["summary"]] == [("loso", "4x"), ("loso", "2x"), ("run", "4x"), ("run", "2x")]
    assert all(s["runs"] == 3 for s in out["summary"]) and len(out["rows"]) == 12
    assert {"final_lo", "final_hi", "tail_y", "tail_covered"} <= set(out["rows"][0])
    assert (tmp_path / "figs" / "backtest.png").stat().st_size > 10_000
    res = run(app, "backtest", path, "--fractions", "0.5")
    assert res.exit_code == 0 and "leave one seed out" in res.stdout and "first 50%" in res.stdout
    assert "first 25%" not in res.stdout


@pytest.mark.parametrize("args, message", [(["--fractions", "half"], "--fractions"),
                                            (["--fractions", "1.5"], "fractions must be in (0, 1)")])
def test_backtest_bad_options(app, small_csv, tmp_path, args, message):
    res = run(app, "backtest", small_csv, *args, "--plot", tmp_path / "figs")
    assert res.exit_code == 2 and message in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "figs").exists()


def test_predict_prints_three_intervals(app, small_csv):
    res = run(app, "predict", small_csv, "--by", "recipe", "--at", 4000, "--json")
    rows = json.loads(res.stdout)
    for r in rows:
        assert r["one_eval_interval"][0] <= r["new_run_interval"][0] <= r["interval"][0] <= r["R"]
        assert r["R"] <= r["interval"][1] <= r["new_run_interval"][1] <= r["one_eval_interval"][1]
