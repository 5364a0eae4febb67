"""A scored batch of groups, and the two operations zero-variance filtering needs: keep some groups, join batches."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from scaling.rl.rollout import Completions


@dataclass
class Batch:
    """A scored group batch: completion rows are prompt-major, G per prompt; prompts are stored once per group."""
    prompt_ids: torch.Tensor     # (P, L) left-padded
    prompt_mask: torch.Tensor
    completions: Completions
    rewards: torch.Tensor        # (P, G) task rewards
    shaped: torch.Tensor         # (P, G) rewards after length shaping
    pool_indices: list[int]
    texts: list[str] = field(default_factory=list)  # decoded completions, row for row (as sampled; not kept by select/join)

    @property
    def groups(self) -> int:
        return self.rewards.shape[0]

    @property
    def group_size(self) -> int:
        return self.rewards.shape[1]


def select_groups(batch: Batch, groups: list[int]) -> Batch:
    """The batch restricted to `groups` (prompt indices into it), in that order."""
    g = batch.group_size
    device = batch.rewards.device
    rows = torch.tensor([i * g + j for i in groups for j in range(g)], dtype=torch.long, device=device)
    index = torch.tensor(groups, dtype=torch.long, device=device)
    comp = batch.completions
    picked = Completions(tokens=comp.tokens[rows], logprobs=comp.logprobs[rows], mask=comp.mask[rows],
                         truncated=comp.truncated[rows], forced=None if comp.forced is None else comp.forced[rows])
    return Batch(batch.prompt_ids[index], batch.prompt_mask[index], picked, batch.rewards[index],
                 batch.shaped[index], [batch.pool_indices[i] for i in groups])


def _right(t: torch.Tensor, width: int, value) -> torch.Tensor:
    return F.pad(t, (0, width - t.shape[1]), value=value)


def join_batches(batches: list[Batch], pad_id: int) -> Batch:
    """One batch from several: prompts left-padded and completions right-padded to the widest."""
    if len(batches) == 1:
        return batches[0]
    prompt_width = max(b.prompt_ids.shape[1] for b in batches)
    width = max(b.completions.tokens.shape[1] for b in batches)
    comps = [b.completions for b in batches]
    forced = None
    if any(c.forced is not None for c in comps):
        forced = torch.cat([_right(c.forced if c.forced is not None else torch.zeros_like(c.mask, dtype=torch.bool),
                                   width, False) for c in comps])
    joined = Completions(tokens=torch.cat([_right(c.tokens, width, pad_id) for c in comps]),
                         logprobs=torch.cat([_right(c.logprobs, width, 0.0) for c in comps]),
                         mask=torch.cat([_right(c.mask, width, 0.0) for c in comps]),
                         truncated=torch.cat([c.truncated for c in comps]), forced=forced)
    left = lambda t, value: F.pad(t, (prompt_width - t.shape[1], 0), value=value)
    return Batch(torch.cat([left(b.prompt_ids, pad_id) for b in batches]),
                 torch.cat([left(b.prompt_mask, 0) for b in batches]), joined,
                 torch.cat([b.rewards for b in batches]), torch.cat([b.shaped for b in batches]),
                 [i for b in batches for i in b.pool_indices])
