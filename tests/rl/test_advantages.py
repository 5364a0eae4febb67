"""Advantage normalisations and zero-variance detection against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from scaling.rl.advantages import NORMALISATIONS, compute_advantages, zero_variance_groups

# Three prompts, G = 4: one success, half successes, all equal (0.5 each).
REWARDS = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
# Always reward minus the group mean first: means 0.25, 0.5, 0.5.
CENTRED = torch.tensor([[0.75, -0.25, -0.25, -0.25], [0.5, 0.5, -0.5, -0.5], [0.0, 0.0, 0.0, 0.0]])


def test_registry():
    assert set(NORMALISATIONS) == {"group", "batch", "none"}


def test_none_is_reward_minus_group_mean():
    torch.testing.assert_close(compute_advantages(REWARDS, "none"), CENTRED)


def test_group_std_by_hand():
    adv = compute_advantages(REWARDS, "group")
    # group 0: sample std sqrt((0.75^2 + 3 * 0.25^2) / 3) = sqrt(0.25) = 0.5 -> [1.5, -0.5, -0.5, -0.5]
    # group 1: sqrt(4 * 0.25 / 3) = 0.577350 -> +-0.5 / 0.577350 = +-0.866025
    # group 2: zero spread -> 0 (the epsilon guards the division)
    s = math.sqrt(3) / 2
    expected = torch.tensor([[1.5, -0.5, -0.5, -0.5], [s, s, -s, -s], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(adv).all()


def test_batch_std_by_hand():
    adv = compute_advantages(REWARDS, "batch")
    # One std over all 12 rewards: mean 5/12 = 0.416667; squared deviations 3 x 0.583333^2 = 1.020833,
    # 5 x 0.416667^2 = 0.868056, 4 x 0.083333^2 = 0.027778 -> 1.916667 / 11 = 0.174242, std 0.417423.
    std = math.sqrt((3 * (7 / 12) ** 2 + 5 * (5 / 12) ** 2 + 4 * (1 / 12) ** 2) / 11)
    assert std == pytest.approx(0.417423, abs=1e-6)
    torch.testing.assert_close(adv, CENTRED / std, atol=1e-5, rtol=1e-5)
    # 0.75 / 0.417423 = 1.796739 (group std gave 1.5); one divisor for the whole batch keeps the ratio between
    # two groups' advantages (0.5 / 0.75), which group std changes (0.866025 / 1.5).
    assert adv[0, 0].item() == pytest.approx(1.796739, abs=1e-5)
    assert adv[1, 0].item() / adv[0, 0].item() == pytest.approx(0.5 / 0.75)


def test_normalisations_differ():
    g, b, n = (compute_advantages(REWARDS, k) for k in ("group", "batch", "none"))
    assert not torch.allclose(g, b) and not torch.allclose(g, n) and not torch.allclose(b, n)


def test_advantages_sum_to_zero_per_group():
    gen = torch.Generator().manual_seed(0)
    rewards = torch.rand(5, 8, generator=gen)
    for norm in ("group", "batch", "none"):
        torch.testing.assert_close(compute_advantages(rewards, norm).sum(1), torch.zeros(5), atol=1e-5, rtol=0)


def test_zero_variance_groups():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0],
                            [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 1.0], [0.3, 0.3, 0.3, 0.30001]])
    assert zero_variance_groups(rewards).tolist() == [False, True, True, True, False, False]
