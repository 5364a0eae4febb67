"""Learning-rate schedules: warm-up, then constant (ScaleRL) or cosine / linear decay to min_lr_ratio."""

from __future__ import annotations

import math

import pytest

from scaling.rl.schedule import lr_factor


def factors(schedule, warmup=4, total=14, min_ratio=0.1):
    return [lr_factor(s, schedule=schedule, warmup=warmup, total=total, min_ratio=min_ratio) for s in range(total + 3)]


def test_warmup_is_linear_in_rl_steps():
    for schedule in ("constant", "cosine", "linear"):
        assert factors(schedule)[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_constant_stays_at_one():
    assert factors("constant")[4:] == pytest.approx([1.0] * 13)


def test_cosine_and_linear_reach_min_ratio_at_the_last_step_and_stay():
    cos, lin = factors("cosine"), factors("linear")
    # After warm-up (step 4) progress runs over the remaining 10 steps.
    assert cos[4] == pytest.approx(1.0) and lin[4] == pytest.approx(1.0)
    assert cos[9] == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cosine is at the middle
    assert lin[6] == pytest.approx(0.1 + 0.9 * 0.8)
    assert cos[7] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.3)))
    assert cos[14:] == pytest.approx([0.1] * 3) and lin[14:] == pytest.approx([0.1] * 3)
    assert all(a >= b for a, b in zip(cos[4:], cos[5:])) and all(a >= b for a, b in zip(lin[4:], lin[5:]))


def test_no_warmup_starts_at_full_lr():
    assert lr_factor(0, schedule="cosine", warmup=0, total=10, min_ratio=0.0) == 1.0
    assert lr_factor(10, schedule="linear", warmup=0, total=10, min_ratio=0.0) == 0.0
