"""Curves from stored samples, the budget table, and the training-vs-inference trade-off (no torch)."""

import numpy as np
import pandas as pd
import pytest

from scaling.infer.curves import budget_table, curves, laws
from scaling.infer.tradeoff import cheapest, frontier, surface


def _samples(step, flops, answers_per_prompt, truth="1", setting="s", thinking=None):
    rows = []
    for pid, answers in enumerate(answers_per_prompt):
        for i, a in enumerate(answers):
            rows.append({"run": "r", "setting": setting, "step": step, "train_flops": flops, "prompt_id": pid,
                         "sample": i, "answer": a, "correct": float(a == truth), "completion_tokens": 5,
                         "forced_tokens": 0, "thinking_tokens": thinking, "inference_flops": 10.0 + pid,
                         "budget_min": None, "budget_max": None})
    return pd.DataFrame(rows)


def test_curves_from_samples_match_the_estimators_and_count_inference_flops_per_problem():
    df = _samples(0, 0.0, [["1", "2", "2", "2"], ["1", "1", None, "3"]])
    table = curves(df)
    assert list(table.k) == [1, 2, 3, 4]
    assert table.pass_at_k.iloc[0] == pytest.approx((0.25 + 0.5) / 2)
    assert table.pass_at_k.iloc[-1] == 1.0
    assert table.maj_at_k.iloc[-1] == pytest.approx((0 + 1) / 2)        # prompt 0 votes "2", prompt 1 votes "1"
    assert table.inference_flops.tolist() == pytest.approx([10.5 * k for k in (1, 2, 3, 4)])
    assert (table.maj_se == 0).all()
    # A table still being written: a prompt with fewer than n samples is left out.
    partial = pd.concat([df, _samples(0, 0.0, [["1"]]).assign(prompt_id=2)])
    assert curves(partial).problems.iloc[0] == 2


def test_laws_fit_the_coverage_law_per_checkpoint_and_report_the_plateau():
    rng = np.random.default_rng(0)
    prompts = [[("1" if rng.random() < p else str(rng.integers(2, 5))) for _ in range(16)]
               for p in rng.beta(0.5, 1.5, 60)]
    table = laws(_samples(3, 7.0, prompts), boots=50)
    row = table.iloc[0]
    assert row.fit_error == "" and row.a < 0 and row.a_lo <= row.a <= row.a_hi and row.n == 16
    assert 1 <= row.k_saturated <= 16 and 0 <= row.plateau <= 1 and row.saturated == (row.k_saturated <= 8)


def test_budget_table_reports_accuracy_against_mean_thinking_tokens():
    a = _samples(0, 0.0, [["1", "2"], ["1", "1"]], setting="b2", thinking=2).assign(budget_min=0, budget_max=2)
    b = _samples(0, 0.0, [["1", "1"], ["1", "1"]], setting="b8", thinking=8).assign(budget_min=0, budget_max=8)
    free = _samples(0, 0.0, [["1", "1", "2"], ["2", "2", "2"]], setting="free", thinking=5)
    few = _samples(0, 0.0, [["1"], ["1"]], setting="few", thinking=5)
    unswept = _samples(9, 1.0, [["1"]], setting="free", thinking=5)   # a checkpoint without a sweep
    table = budget_table(pd.concat([a, b, free, few, unswept]))
    assert table.setting.tolist() == ["b2", "free", "b8"] and table.step.tolist() == [0, 0, 0]   # by thinking tokens
    assert table.accuracy.tolist() == pytest.approx([0.75, 1 / 3, 1.0]) and table.thinking_tokens.tolist() == [2, 5, 8]
    assert budget_table(_samples(0, 0.0, [["1"]])).empty    # no thinking task: no budget rows


def _curve_rows(step, flops, values, per_sample=10.0):
    return pd.DataFrame({"run": "r", "setting": "s", "step": step, "train_flops": flops, "k": range(1, len(values) + 1),
                         "pass_at_k": values, "maj_at_k": values,
                         "inference_flops": [per_sample * k for k in range(1, len(values) + 1)]})


def test_frontier_and_cheapest_combination_by_problems_served():
    table = pd.concat([_curve_rows(0, 0.0, [0.5, 0.7, 0.8, 0.9]), _curve_rows(50, 60.0, [0.8, 0.88, 0.9, 0.95]),
                       _curve_rows(100, 100.0, [0.85, 0.92, 0.95, 0.97])])
    front = frontier(table, 0.9)
    # step 0 needs 4 samples, step 50 needs 3 (kept: less inference for more training), step 100 needs 2.
    assert front.step.tolist() == [0, 50, 100] and front.k.tolist() == [4, 3, 2]
    longer = pd.concat([table, _curve_rows(150, 150.0, [0.85, 0.92, 0.95, 0.97], per_sample=9.0)])
    assert frontier(longer, 0.9).step.tolist() == [0, 50, 100]   # same k, slightly shorter completions: no gain
    assert frontier(table, 0.99).empty
    best = cheapest(table, 0.9, [1, 100])
    assert best.step.tolist() == [0, 100]          # 40 vs 90 vs 120 FLOPs; 4000 vs 3060 vs 2100
    assert best.total_flops.tolist() == [40.0, 2100.0]
    assert surface(table).loc[(100, 100.0), 2] == 0.92
    with pytest.raises(ValueError, match="metric must be"):
        frontier(table, 0.9, "greedy")


def test_the_pure_modules_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import scaling.infer.estimators, scaling.infer.coverage, scaling.infer.curves, "
            "scaling.infer.tradeoff, scaling.infer.tables; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checkpoint_selection_mixes_steps_and_last():
    from scaling.infer.sources import Checkpoint, select

    ckpts = [Checkpoint(s, float(s), lambda: None, "") for s in (0, 50, 100)]
    assert [c.step for c in select(ckpts, ["0", "last"], "run")] == [0, 100]
    assert [c.step for c in select(ckpts, ["all"], "run")] == [0, 50, 100]
    with pytest.raises(ValueError, match="no checkpoint at step 7"):
        select(ckpts, ["7"], "run")
