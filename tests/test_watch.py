"""Verifier-coverage and RFT-gap warnings from a run's tables."""

from __future__ import annotations

import pandas as pd

from scaling.watch import coverage_warning, gap_warnings, rft_gap, run_coverage_warnings, zero_reward_stretch


def test_zero_reward_stretch_counts_steps_per_row_and_per_evaluation_interval():
    steps = list(range(1, 101))
    fracs = [0.5] * 10 + [0.9] * 60 + [0.2] * 30
    assert zero_reward_stretch(steps, fracs) == (11, 70, 60)
    assert "for 60 consecutive steps (steps 11–70)" in coverage_warning(steps, fracs)
    assert coverage_warning(steps, [0.5] * 10 + [0.9] * 40 + [0.2] * 50) is None  # 40 < 50 steps
    # evaluation rows: each covers the steps since the previous one; the step-0 row covers none
    assert zero_reward_stretch([0, 25, 50, 75, 100], [float("nan"), 0.95, 0.9, 0.85, 0.1]) == (1, 75, 75)
    assert zero_reward_stretch([0, 25, 50], [0.9, 0.95, 0.9]) == (1, 50, 50)  # the step-0 row covers no step


def test_coverage_and_gap_warnings_from_an_evaluation_table():
    table = pd.DataFrame({
        "run_id": ["a"] * 5 + ["b"] * 5, "run_name": ["hard"] * 5 + ["easy"] * 5, "step": [0, 20, 40, 60, 80] * 2,
        "epochs": [0, 5, 10, 15, 20] * 2,
        "train_zero_reward_frac": [float("nan"), 0.9, 0.95, 0.9, 0.9, float("nan"), 0.3, 0.2, 0.1, 0.1],
        "pass_rate": [0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 0.4, 0.42, 0.41, 0.4],
        "train_pass_rate": [0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 0.45, 0.6, 0.7, 0.8]})
    warnings = run_coverage_warnings(table)
    assert list(warnings) == ["hard"] and "80 consecutive steps" in warnings["hard"]
    gaps = rft_gap(table)
    assert gaps.loc[gaps["run_id"] == "b", "gap"].round(2).tolist() == [0.0, 0.05, 0.18, 0.29, 0.4]
    assert list(gap_warnings(gaps)) == ["easy"] and "0.40 at step 80" in gap_warnings(gaps)["easy"]
    assert rft_gap(table.drop(columns="train_pass_rate")).empty
