"""PromptPool: distinct draws, whole epochs, retirement for good, and exact state round trips."""

from __future__ import annotations

from collections import Counter

import pytest

from scaling.rl.data import PromptPool


def test_draw_is_distinct_and_in_range():
    pool = PromptPool(20, seed=0)
    for _ in range(30):
        picked = pool.draw(7)
        assert len(picked) == 7 == len(set(picked))
        assert all(0 <= i < 20 for i in picked)


def test_one_epoch_covers_every_prompt_once():
    pool = PromptPool(12, seed=1)
    seen = pool.draw(4) + pool.draw(4) + pool.draw(4)
    assert sorted(seen) == list(range(12))


@pytest.mark.parametrize("seed", range(20))
def test_epochs_stay_balanced_across_boundaries(seed):
    # 10 prompts drawn 3 at a time: draws straddle epoch boundaries, yet after 10 draws (3 epochs) every
    # prompt has been seen exactly 3 times, and no draw repeats a prompt.
    pool = PromptPool(10, seed=seed)
    counts = Counter()
    for _ in range(10):
        picked = pool.draw(3)
        assert len(set(picked)) == 3
        counts.update(picked)
    assert sorted(counts.values()) == [3] * 10


def test_retire_shrinks_the_pool_for_good():
    pool = PromptPool(10, seed=2)
    first = pool.draw(4)
    pool.retire(first[:3])
    assert pool.remaining == 7 and pool.retired == 3
    later = [i for _ in range(20) for i in pool.draw(3)]
    assert not set(later) & set(first[:3])
    assert set(later) == set(range(10)) - set(first[:3])


def test_draw_more_than_remaining_returns_what_is_left():
    pool = PromptPool(6, seed=3)
    pool.retire([0, 1, 2, 3])
    assert sorted(pool.draw(5)) == [4, 5]
    pool.retire([4, 5])
    assert pool.remaining == 0 and pool.draw(3) == []


def test_state_dict_round_trip_reproduces_draws():
    pool = PromptPool(10, seed=4)
    pool.draw(3)
    pool.retire([pool.draw(3)[0]])
    saved = pool.state_dict()
    expected = [pool.draw(3) for _ in range(8)]
    other = PromptPool(10, seed=99)  # a different seed: everything must come from the saved state
    other.load_state_dict(saved)
    assert [other.draw(3) for _ in range(8)] == expected
    assert other.remaining == pool.remaining == 9


def test_loaded_state_is_not_shared_with_the_saved_dict():
    pool = PromptPool(8, seed=5)
    saved = pool.state_dict()
    a = PromptPool(8, seed=0)
    a.load_state_dict(saved)
    a.retire([0, 1, 2])
    a.draw(5)
    b = PromptPool(8, seed=0)
    b.load_state_dict(saved)  # loading the same dict again must give the saved pool, not a's
    assert b.remaining == 8
    assert [b.draw(4) for _ in range(4)] == [pool.draw(4) for _ in range(4)]


def test_retirement_follows_the_batch_pass_rate_not_the_lifetime_one():
    # ScaleRL retires a prompt once its pass rate in the current batch is >= 0.9: a prompt that went 0/8 and
    # then 8/8 retires (its lifetime rate, 8/16, would keep it), and one at 7/8 = 0.875 stays.
    pool = PromptPool(10, seed=5)
    assert pool.record([3, 4], [0.0, 8.0], 8, retire_at=0.9) == [4]
    assert pool.record([3, 5], [8.0, 7.0], 8, retire_at=0.9) == [3]
    assert not pool.active[3] and not pool.active[4] and pool.active[5]
    assert pool.record([6], [8.0], 8, retire_at=None) == [] and pool.active[6]  # the knob off: nothing retires
