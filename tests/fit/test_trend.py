"""Predicting an untried value of a numeric axis from the trend of A, B and C_mid across tried values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fit_curves import study
from scaling.fit import FitError
from scaling.fit.sigmoid import sigmoid_curve
from scaling.fit.trend import axis_backtest, axis_predict

AXIS = "rollout.prompts_per_step"


def truth(v: float) -> dict:
    """A rises and C_mid moves later with log(prompts per step), as larger batches do in ScaleRL's Table 1."""
    return {"A": 0.45 + 0.05 * np.log2(v / 8), "B": 2.0, "C_mid": 150.0 * (v / 8) ** 0.3, "R0": 0.1}


def axis_study(values=(8, 16, 32, 64), seeds=3, seed=11) -> pd.DataFrame:
    df = study(seeds, {str(v): truth(v) for v in values}, seed=seed)
    return df.assign(**{AXIS: df["recipe"].astype(int)}).drop(columns="recipe")


def test_predicts_an_untried_value_within_its_interval():
    df = axis_study(values=(8, 16, 32))
    (res,), errors = axis_predict(df, AXIS, 64, [500.0, 1000.0])
    assert not errors and res["from_values"] == [8.0, 16.0, 32.0]
    lo, hi = res["A_interval"]
    assert lo <= truth(64)["A"] <= hi and abs(res["params"]["A"] - truth(64)["A"]) < 0.03
    for p in res["predictions"]:
        true_r = float(sigmoid_curve(p["C"], **truth(64))[0])
        assert p["interval"][0] <= true_r <= p["interval"][1]
        assert p["one_eval_interval"][0] <= p["interval"][0] and p["interval"][1] <= p["one_eval_interval"][1]
    assert res["trend"]["A"]["slope"] > 0


def test_backtest_leaves_out_the_largest_value():
    bt = axis_backtest(axis_study(), AXIS)
    assert list(bt["held_out"].unique()) == [64.0] and len(bt) == 3 and (bt["error"] == "").all()
    assert bt["final_error"].abs().median() < 0.04 and bt["final_covered"].all()
    assert (bt["from_values"].map(tuple) == (8.0, 16.0, 32.0)).all()


def test_axis_errors_are_one_line():
    df = axis_study(values=(8, 16))
    with pytest.raises(FitError, match="unknown axis"):
        axis_predict(df, "rollout.nope", 64, [1.0])
    one = df[df[AXIS] == 8]
    res, errors = axis_predict(one, AXIS, 64, [1.0])
    assert not res and "2 or more values" in errors[0]


def test_cli_predict_axis_and_backtest_axis(tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from scaling.cli.fit import register

    app = typer.Typer()
    register(app)
    path = tmp_path / "axis.parquet"
    axis_study().to_parquet(path)
    small = tmp_path / "small.parquet"
    axis_study(values=(8, 16, 32)).to_parquet(small)
    res = CliRunner().invoke(app, ["predict", str(small), "--axis", f"{AXIS}=64", "--at", "1000", "--json"])
    assert res.exit_code == 0, res.output
    (out,) = json.loads(res.stdout)
    assert out["value"] == 64 and out["predictions"][0]["C"] == 1000
    res = CliRunner().invoke(app, ["predict", str(small), "--axis", f"{AXIS}=64", "--at", "1000"])
    assert res.exit_code == 0 and f"{AXIS}=64 from [8.0, 16.0, 32.0]" in res.stdout
    res = CliRunner().invoke(app, ["predict", str(small), "--axis", f"{AXIS}=big", "--at", "1000"])
    assert res.exit_code == 2 and "--axis must be COLUMN=NUMBER" in res.stderr
    res = CliRunner().invoke(app, ["backtest", str(path), "--fractions", "0.5", "--axis", AXIS])
    assert res.exit_code == 0, res.output
    assert f"axis backtest: {AXIS}=64 predicted from [8.0, 16.0, 32.0] for 3 run(s)" in res.stdout
