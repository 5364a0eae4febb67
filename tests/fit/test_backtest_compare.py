"""Backtest scores and the ScaleRL comparison rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fit_curves import study
from scaling.fit import backtest, compare, fit_groups, marginal_effects
from scaling.fit.backtest import summary, summary_table

RECIPES = {"base": {"A": 0.6, "B": 1.5, "C_mid": 250.0, "R0": 0.1},
           "fast": {"A": 0.61, "B": 3.0, "C_mid": 250.0, "R0": 0.1},
           "low": {"A": 0.45, "B": 1.5, "C_mid": 250.0, "R0": 0.1}}


def test_backtest_scores_each_run_at_both_horizons_and_leaves_one_seed_out():
    df = study(3, {"base": RECIPES["base"]}, seed=5)
    bt = backtest(df)
    assert (bt["error"] == "").all(), bt["error"]
    assert sorted(set(bt["mode"])) == ["loso", "run"] and sorted(set(bt["fraction"])) == [0.25, 0.5]
    assert len(bt) == 3 * 2 * 2
    assert set(bt.loc[bt["fraction"] == 0.5, "fit_to"]) == {500.0}
    assert (bt["tail_n"] == 5).all()  # evaluations in the last 10% of compute: 900, 925, ..., 1000
    s = summary(bt, "run", 0.5)
    assert s["runs"] == 3 and s["median_abs_final_error"] < 0.05
    table = summary_table(bt)
    assert list(table["horizon"]) == ["4x", "2x", "4x", "2x"] and (table["runs"] == 3).all()
    loso = bt[bt["mode"] == "loso"]
    # a new run's interval carries the seed-to-seed spread: wider than the run's own extrapolation
    own = bt[bt["mode"] == "run"]
    assert (loso["final_hi"] - loso["final_lo"]).median() > (own["final_hi"] - own["final_lo"]).median()


def test_backtest_reports_runs_it_cannot_fit():
    df = pd.DataFrame({"flops": [1.0, 2.0, 3.0, 4.0], "pass_rate": [0.1, 0.2, 0.3, 0.4], "run_id": "r"})
    bt = backtest(df, fractions=[0.5])
    assert "free parameters" in bt.loc[0, "error"]


def test_collapsed_runs_are_left_out_and_said_so():
    df = study(3, {"base": RECIPES["base"]}, seed=8)
    df["health"] = "ok"
    dead = df["run_id"] == "base-2"
    df.loc[dead & (df["flops"] > 400), "pass_rate"] = 0.0
    df.loc[dead & (df["flops"] > 400), "health"] = "collapsed"
    df.loc[(df["run_id"] == "base-1") & (df["flops"] == 600), "health"] = "diverging"
    (fit,), errors = fit_groups(df, by=[])
    assert not errors and fit.n_runs == 2 and "collapsed_runs_left_out" in fit.flags
    assert any("base-2" in m and "collapsed" in m for m in fit.messages)
    assert "diverging_runs" in fit.flags
    assert fit.params["A"] > 0.5  # the collapse did not drag the recipe's curve down
    bt = backtest(df, by=[])
    assert "collapsed" in bt.loc[bt["run"] == "base-2", "error"].item()
    assert not (bt.loc[bt["run"] != "base-2", "run"] == "base-2").any()
    df.loc[(df["run_id"] == "base-0") & (df["flops"] == 1000), "health"] = "nan"
    (fit,), _ = fit_groups(df, by=[])
    assert fit.n_runs == 1 and "base-0" in " ".join(fit.messages)
    no_column = study(2, {"base": RECIPES["base"]}, seed=8)
    assert fit_groups(no_column, by=[])[0][0].n_runs == 2  # a missing column counts as ok


def test_compare_ranks_by_a_then_b_at_shared_a():
    df = study(4, RECIPES, seed=6)
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


def test_default_groups_leave_out_derived_columns_and_what_a_run_records():
    """The quickstart's variants set batch size, steps and evaluation interval together (equal compute): one axis."""
    from scaling.fit.source import default_groups

    runs = {"a": (8, 900, 75, 0), "b": (16, 450, 38, 0), "c": (32, 225, 19, 1), "d": (8, 900, 75, 1)}
    df = pd.DataFrame([{"run_id": r, "step": s, "rollout.prompts_per_step": p, "train.steps": n, "eval.every": e,
                        "loss.tis_cap": t, "log.trajectories": "all" if r == "a" else "none", "seed": 0}
                       for r, (p, n, e, t) in runs.items() for s in (0, 10)])
    assert default_groups(df) == ["rollout.prompts_per_step", "loss.tis_cap"]  # tis_cap varies within a batch size
    product = df[df["run_id"] != "c"].assign(**{"loss.tis_cap": lambda d: d["run_id"].map({"a": 0, "b": 1, "d": 1})})
    assert default_groups(product) == ["rollout.prompts_per_step", "loss.tis_cap"]


def test_a_spec_marks_derived_columns_that_inference_would_keep(tmp_path):
    """`derived:` reaches the fits through run.json: here steps vary inside a batch size (inference keeps them)."""
    import json

    from scaling.config import RunConfig, save_run_config
    from scaling.fit.source import default_groups
    from scaling.store import EVAL_COLUMNS, TableLog, load_evals

    for i, (prompts, steps) in enumerate(((8, 900), (8, 450), (16, 450))):
        run = tmp_path / "study" / f"r{i}"
        run.mkdir(parents=True)
        save_run_config(RunConfig.model_validate({"rollout": {"prompts_per_step": prompts}, "train": {"steps": steps}}),
                        run / "config.yaml")
        TableLog(run / "evals.parquet", EVAL_COLUMNS).append([{"step": 0, "flops": 0.0, "pass_rate": 0.2}])
        (run / "run.json").write_text(json.dumps({"name": f"r{i}", "derived": ["train.steps"] if i else []}))
    table = load_evals(tmp_path / "study")
    assert table.attrs["derived"] == ["train.steps"]
    assert default_groups(table) == ["rollout.prompts_per_step"]
    table.attrs.clear()
    assert default_groups(table) == ["rollout.prompts_per_step", "train.steps"]


def test_compare_never_ranks_an_unidentified_asymptote():
    from scaling.fit import fit_curve

    df = study(4, RECIPES, seed=6)
    fits, _ = fit_groups(df, by=["recipe"])
    early = fit_curve(df[df["recipe"] == "base"], fit_from=0, fit_to=200, group={"recipe": "early"})
    early.params["A"] = 0.99  # the highest point estimate, but only a lower bound
    table = compare(fits + [early])
    assert list(table["rank"][:3]) == ["1", "2", "3"] and table["recipe"].iloc[-1] == "recipe=early"
    assert table["rank"].iloc[-1].startswith("—") and np.isnan(table["tie_group"].iloc[-1])
    only = compare([early])
    assert len(only) == 1 and only["rank"].iloc[0].startswith("—")
