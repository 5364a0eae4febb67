"""Advantages from group rewards: always reward minus the group mean first, then a normalisation."""

from __future__ import annotations

from typing import Callable

import torch

# Guards the division when a group (or the batch) has zero spread; such groups have zero advantage anyway.
STD_EPS = 1e-6

NORMALISATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    # GRPO (Shao et al. 2024): each group's own std.
    "group": lambda centred, rewards: centred / (rewards.std(dim=1, keepdim=True) + STD_EPS),
    # ScaleRL (Khatri et al. 2025): one std over the whole batch's rewards.
    "batch": lambda centred, rewards: centred / (rewards.std() + STD_EPS),
    # Dr.GRPO (Liu et al. 2025): the std reweights prompts by difficulty; drop it.
    "none": lambda centred, rewards: centred,
}


def compute_advantages(rewards: torch.Tensor, norm: str) -> torch.Tensor:
    """(prompts, G) rewards -> (prompts, G) advantages."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    return NORMALISATIONS[norm](centred, rewards)


def zero_variance_groups(rewards: torch.Tensor) -> torch.Tensor:
    """(prompts,) True where every completion of the prompt got the same reward."""
    return (rewards == rewards[:, :1]).all(dim=1)
