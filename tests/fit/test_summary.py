"""The quickstart's summary lines: identified asymptotes only, prediction and backtest at one horizon."""

from __future__ import annotations

from fit_curves import study
from scaling.fit import backtest, fit_groups

RECIPES = {"base": {"A": 0.6, "B": 1.5, "C_mid": 250.0, "R0": 0.1},
           "fast": {"A": 0.61, "B": 3.0, "C_mid": 250.0, "R0": 0.1},
           "low": {"A": 0.45, "B": 1.5, "C_mid": 250.0, "R0": 0.1}}


def test_quickstart_summary_ranks_identified_only_at_the_backtested_horizon():
    from scaling.cli.quickstart import _summary_lines
    from scaling.fit import fit_curve

    df = study(3, RECIPES, seed=9)
    fits, _ = fit_groups(df, by=["recipe"])
    early = fit_curve(df[df["recipe"] == "base"], fit_from=0, fit_to=200, group={"recipe": "early"})
    assert not early.identified
    early.params["A"] = 0.99  # an unidentified fit with the highest point estimate is never called best
    bt = backtest(df, by=["recipe"])
    lines = _summary_lines(fits + [early], bt)
    assert lines[0].startswith("best recipe by A (identified asymptotes only): recipe=")
    assert "early" not in lines[0] and "recipe=early A ≥" in lines[1]
    assert "at 2x the compute reached" in lines[2] and "backtest at the same 2x horizon" in lines[3]
    none = _summary_lines([early], bt)
    assert none[0].startswith("no recipe's asymptote is identified") and "best" not in none[0].split(";")[1]
