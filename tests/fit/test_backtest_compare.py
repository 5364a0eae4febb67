"""Backtest scores and the ScaleRL comparison rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fit_curves import study
from scaling.fit import backtest, compare, fit_groups, marginal_effects
from scaling.fit.backtest import summary

RECIPES = {"base": {"A": 0.6, "B": 1.5, "C_mid": 250.0, "R0": 0.1},
           "fast": {"A": 0.61, "B": 3.0, "C_mid": 250.0, "R0": 0.1},
           "low": {"A": 0.45, "B": 1.5, "C_mid": 250.0, "R0": 0.1}}


def test_backtest_scores_each_run():
    df = study(2, {"base": RECIPES["base"]}, seed=5)
    bt = backtest(df, fraction=0.5)
    assert list(bt["run"]) == ["base-0", "base-1"]
    assert (bt["error"] == "").all()
    s = summary(bt)
    assert s["median_abs_final_error"] < 0.05 and 0 <= s["point_coverage"] <= 1
    assert (bt["n_test"] > 0).all() and (bt["fit_to"] == 500).all()


def test_backtest_reports_runs_it_cannot_fit():
    df = pd.DataFrame({"flops": [1.0, 2.0, 3.0, 4.0], "pass_rate": [0.1, 0.2, 0.3, 0.4], "run_id": "r"})
    bt = backtest(df, fraction=0.5)
    assert "free parameters" in bt.loc[0, "error"]


def test_compare_ranks_by_a_then_b_at_shared_a():
    df = study(2, RECIPES, seed=6)
    fits, errors = fit_groups(df, by=["recipe"])
    assert not errors and len(fits) == 3
    table = compare(fits)
    assert list(table["recipe"]) == ["recipe=fast", "recipe=base", "recipe=low"]
    tied = table[table["recipe"] != "recipe=low"]
    assert tied["tie_group"].nunique() == 1 and tied["shared_A"].notna().all()
    assert tied["B_at_shared_A"].iloc[0] > tied["B_at_shared_A"].iloc[1]
    assert np.isnan(table.loc[table["recipe"] == "recipe=low", "shared_A"]).all()
    eff = marginal_effects(fits)
    assert set(eff["level"]) == set(RECIPES) and eff.loc[eff["level"] == "low", "effect_A"].item() < 0


def test_default_groups_pool_seeds(tmp_path):
    df = study(2, RECIPES, seed=7).rename(columns={"recipe": "loss.type"})
    df["seed"] = df["run_id"].str[-1]
    fits, _ = fit_groups(df)
    assert sorted(f.group["loss.type"] for f in fits) == sorted(RECIPES)
    assert all(f.n_runs == 2 for f in fits)
