"""Verifier coverage: how many groups the verifier gives no signal (all zero) or nothing left to learn (all full).

RLVR practice (the seeds' operational notes; DAPO's dynamic sampling rests on the same fact): a group whose
rewards are all equal has zero advantage and no gradient. When most groups score zero, the verifier or the
prompt set, not the optimizer, is the bottleneck: broaden the dataset or relax the answer format.
"""

from __future__ import annotations

import torch

# Tasks score in [0, 1]; a completion with this reward is a solution (the "correct" of the trajectory log).
FULL_REWARD = 1.0


def solved(rewards: torch.Tensor) -> torch.Tensor:
    """(P,) True where a group (row of a (P, G) reward tensor) holds at least one full-reward sample."""
    return (rewards >= FULL_REWARD).any(dim=1)


def group_coverage(rewards: torch.Tensor) -> dict[str, float]:
    """Fractions of groups with all-zero and with all-full rewards, for a (P, G) reward tensor."""
    return {"zero_reward_frac": float((rewards <= 0).all(dim=1).float().mean()),
            "full_reward_frac": float((rewards >= FULL_REWARD).all(dim=1).float().mean())}


def count_coverage(correct_counts: list[int], k: int) -> dict[str, float]:
    """The same fractions from per-prompt correct counts out of k (evaluation rows)."""
    n = max(len(correct_counts), 1)
    return {"zero_reward_frac": sum(c == 0 for c in correct_counts) / n,
            "full_reward_frac": sum(c >= k for c in correct_counts) / n}
