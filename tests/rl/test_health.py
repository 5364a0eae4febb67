"""Run health on synthetic step rows: each rule fires on its pattern and stays quiet on a healthy run."""

from __future__ import annotations

import json
import math

import pytest

from scaling.rl import health
from scaling.rl.health import WINDOW, classify
from scaling.study.status import run_row, summary


def rows(n, reward=0.3, zero_var=0.2, grad=1.0, entropy=1.5, truncated=0.0, loss=0.1, filtered=0.0):
    """n step rows; each argument a constant or a function of the step index."""
    value = lambda v, i: v(i) if callable(v) else v
    return [{"reward_mean": value(reward, i), "zero_variance_frac": value(zero_var, i), "grad_norm": value(grad, i),
             "entropy": value(entropy, i), "truncated_frac": value(truncated, i), "loss": value(loss, i),
             "filtered_frac": value(filtered, i)} for i in range(n)]


def labels(steps, **kw):
    return [classify(steps[: i + 1], **kw) for i in range(len(steps))]


def test_a_healthy_learning_run_is_ok_throughout():
    # Reward rising 0.1 -> 0.9 with entropy falling 1.5 -> 0.2 (converging, not diverging), noisy grad norms.
    steps = rows(200, reward=lambda i: 0.1 + 0.8 * i / 199, entropy=lambda i: 1.5 - 1.3 * i / 199,
                 grad=lambda i: 1.0 + 0.5 * math.sin(i), zero_var=lambda i: 0.2 + 0.6 * i / 199)
    assert set(labels(steps)) == {"ok"}


def test_collapse_after_learning_is_flagged_when_the_signal_is_gone():
    # Rose to 0.6, then fell to 0: every group zero-variance, gradient 0 (issue 12's prompts_8 seed 0).
    up = rows(60, reward=lambda i: 0.6 * i / 59)
    down = rows(60, reward=0.0, zero_var=1.0, grad=0.0, loss=0.0)
    got = labels(up + down)
    assert set(got[:60]) == {"ok"}
    assert got[-1] == "collapsed"
    assert got.index("collapsed") >= 60 + WINDOW - 1 - 5  # once the recent window is (nearly) all zero


def test_never_learning_is_not_a_collapse():
    assert classify(rows(100, reward=0.0, zero_var=1.0, grad=0.0)) == "ok"


def test_low_reward_with_signal_left_is_not_a_collapse():
    up = rows(40, reward=0.5)
    low = rows(40, reward=0.01, zero_var=0.5, grad=0.8)  # still learning from the few varied groups
    assert classify(up + low) == "ok"


def test_collapse_read_from_the_evaluations():
    steps = rows(40, reward=0.3) + rows(WINDOW, reward=0.05, zero_var=0.95, grad=0.0)  # reward alone: not yet
    assert classify(steps, pass_rates=[0.2, 0.5, 0.0]) == "collapsed"
    assert classify(steps, pass_rates=[0.2, 0.5, 0.3]) == "ok"


def test_gradient_norm_spikes_are_diverging():
    base = rows(60, grad=1.0)
    spikes = rows(WINDOW, grad=lambda i: 8.0 if i % 5 == 0 else 1.0)  # 4 steps at 8x the median
    assert classify(base + spikes) == "diverging"
    one = rows(WINDOW, grad=lambda i: 8.0 if i == 3 else 1.0)
    assert classify(base + one) == "ok"


def test_entropy_collapse_is_diverging_only_while_the_reward_falls():
    opening = rows(40, reward=0.5, entropy=1.5)
    falling = rows(WINDOW, reward=0.2, entropy=0.05)
    assert classify(opening + falling) == "diverging"
    converged = rows(WINDOW, reward=0.55, entropy=0.05)
    assert classify(opening + converged) == "ok"


def test_truncation_spike_is_diverging():
    assert classify(rows(40) + rows(WINDOW, truncated=0.3)) == "diverging"
    assert classify(rows(40) + rows(WINDOW, truncated=0.1)) == "ok"


def test_nan_only_on_steps_that_updated():
    assert classify(rows(30) + rows(1, loss=float("nan"))) == "nan"
    assert classify(rows(30) + rows(1, loss=float("nan"), filtered=1.0)) == "ok"  # no update made: loss is NaN by design
    assert classify(rows(30) + rows(1, entropy=float("inf"))) == "nan"


def test_precedence_nan_then_collapsed_then_diverging():
    collapsed = rows(60, reward=0.6) + rows(40, reward=0.0, zero_var=1.0, grad=0.0, truncated=0.5)
    assert classify(collapsed) == "collapsed"  # the truncation rise is there too, collapse wins
    assert classify(collapsed + rows(1, reward=float("nan"))) == "nan"


def test_thresholds_are_documented_in_the_module():
    for name in ("WINDOW", "COLLAPSED_REWARD", "PEAK_REWARD", "NO_SIGNAL_FRAC", "ZERO_GRAD", "SPIKE_FACTOR",
                 "SPIKES", "ENTROPY_FLOOR", "REWARD_SLACK", "TRUNCATION_RISE"):
        assert name in health.__doc__


def test_status_shows_a_collapsed_run_beside_done(tmp_path):
    run = tmp_path / "study" / "runs" / "abc"
    run.mkdir(parents=True)
    (run / "DONE").write_text(json.dumps({"status": "done", "health": "collapsed"}))
    row = run_row(tmp_path / "study", "abc", "prompts_8", {"executor": "local", "job_id": "local-1"}, {})
    assert row["state"] == "done" and row["health"] == "collapsed"
    assert summary([row, {**row, "health": "ok"}]) == {"done": 2, "collapsed": 1}
