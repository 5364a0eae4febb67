"""Policy losses and loss aggregations: small pure functions in registries (cf. veRL's core_algos).

Every policy loss has one signature:

    loss_fn(logp, old_logp, advantages, mask, cfg) -> (per_token_loss, clipped)

with `logp`/`old_logp`/`mask` of shape (B, T), `advantages` of shape (B,), `cfg` a LossConfig.
`per_token_loss` is (B, T); `clipped` is a (B, T) bool tensor of tokens where the clip (or cap)
was active. An aggregation turns the per-token loss into the scalar that is differentiated:

    aggregate(per_token_loss, mask, group_ids, norm) -> scalar

`norm` (a `Normaliser`) holds the denominators of the whole update batch: its loss tokens, completions,
prompts, and the budget, the longest a completion can be (max_new_tokens, plus the forced-interruption
tokens and their budget when interruption is on; only `constant` uses it). A micro-batch, or one rank's
share of a data-parallel batch, divides by the whole batch's counts, so its loss is its share of the
full-batch loss and the shares' gradients add up to the full-batch gradient exactly. Collectives that
sum those counts across ranks live outside (scaling.runtime); for one batch held whole
`Normaliser.of(mask, group_ids, budget)` is all. Each loss type aggregates as its paper does unless
`loss.aggregation` says otherwise (`aggregation_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from scaling.config import DEFAULT_AGGREGATION


@dataclass(frozen=True)
class Normaliser:
    """Denominators of an aggregation, counted over the whole update batch (every micro-batch, every rank)."""

    tokens: float   # loss tokens (mask sum)
    samples: int    # completions
    prompts: int    # groups
    budget: int     # longest possible completion (Dr.GRPO's constant)

    @classmethod
    def of(cls, mask: torch.Tensor, group_ids: torch.Tensor, budget: int) -> "Normaliser":
        """The counts of one batch held whole in one process."""
        return cls(tokens=float(mask.sum()), samples=mask.shape[0],
                   prompts=int(torch.unique(group_ids).numel()), budget=budget)

LossFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
AggregateFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Normaliser], torch.Tensor]

POLICY_LOSSES: dict[str, LossFn] = {}
AGGREGATIONS: dict[str, AggregateFn] = {}

# Clip ranges when the config leaves them unset: GRPO/PPO 0.2, DAPO clip-higher 0.2/0.28 (Yu et al.
# 2025), GSPO 3e-4/4e-4 (Zheng et al. 2025: sequence ratios sit much closer to 1 than token ratios).
DEFAULT_CLIP = {"grpo": (0.2, 0.2), "dapo": (0.2, 0.28), "gspo": (3e-4, 4e-4)}




def aggregation_for(cfg) -> str:
    return cfg.aggregation if cfg.aggregation is not None else DEFAULT_AGGREGATION[cfg.type]


def clip_range(cfg) -> tuple[float, float]:
    low, high = DEFAULT_CLIP[cfg.type]
    return (cfg.eps_low if cfg.eps_low is not None else low,
            cfg.eps_high if cfg.eps_high is not None else high)


def register(table: dict, name: str):
    def wrap(fn):
        table[name] = fn
        return fn
    return wrap


def _ppo_clip(ratio: torch.Tensor, adv: torch.Tensor, low: float, high: float):
    unclipped = ratio * adv
    clipped = ratio.clamp(1.0 - low, 1.0 + high) * adv
    return -torch.minimum(unclipped, clipped), clipped < unclipped


@register(POLICY_LOSSES, "grpo")
def grpo_loss(logp, old_logp, advantages, mask, cfg):
    """PPO-clip on the token ratio pi/pi_old (Shao et al. 2024, DeepSeekMath)."""
    ratio = torch.exp(logp - old_logp)
    return _ppo_clip(ratio, advantages[:, None], *clip_range(cfg))


@register(POLICY_LOSSES, "dapo")
def dapo_loss(logp, old_logp, advantages, mask, cfg):
    """GRPO with decoupled clip-higher, 1-eps_low <= r <= 1+eps_high (Yu et al. 2025, DAPO)."""
    return grpo_loss(logp, old_logp, advantages, mask, cfg)


@register(POLICY_LOSSES, "gspo")
def gspo_loss(logp, old_logp, advantages, mask, cfg):
    """Sequence-level ratio s_i = exp(mean_t log r_it), clipped per sequence (Zheng et al. 2025, GSPO).

    Written per token as GSPO-token: s_it = sg(s_i) * pi_t / sg(pi_t), whose value is s_i and whose
    gradient is s_i * grad log pi_t, so sample-mean aggregation gives exactly the GSPO gradient.
    """
    lengths = mask.sum(-1).clamp(min=1)
    seq_log_ratio = ((logp - old_logp) * mask).sum(-1) / lengths
    token_ratio = torch.exp(seq_log_ratio.detach()[:, None] + logp - logp.detach())
    return _ppo_clip(token_ratio, advantages[:, None], *clip_range(cfg))


@register(POLICY_LOSSES, "cispo")
def cispo_loss(logp, old_logp, advantages, mask, cfg):
    """-sg(min(r, eps_max)) * A * log pi (MiniMax-M1 2025; ScaleRL's choice, eps_max 4-5).

    Unlike PPO-clip no token loses its gradient: the IS weight is capped, not the update.
    """
    ratio = torch.exp(logp - old_logp).detach()
    weight = ratio.clamp(max=cfg.cispo_eps_max)
    return -weight * advantages[:, None] * logp, ratio > cfg.cispo_eps_max


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): e^(ref-logp) - (ref-logp) - 1 (Schulman 2020), >= 0."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


@register(AGGREGATIONS, "token_mean")
def token_mean(loss, mask, group_ids, norm):
    """Mean over every loss token of the batch (DAPO): long completions weigh more."""
    return (loss * mask).sum() / max(norm.tokens, 1.0)


@register(AGGREGATIONS, "sample_mean")
def sample_mean(loss, mask, group_ids, norm):
    """Mean over completions of each completion's token mean (GRPO's 1/|o_i|)."""
    per_sample = (loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return per_sample.sum() / max(norm.samples, 1)


@register(AGGREGATIONS, "prompt_mean")
def prompt_mean(loss, mask, group_ids, norm):
    """Token mean within each prompt's group, then mean over prompts (ScaleRL's prompt-level average).

    A group's completions must sit together in one piece of the batch (micro-batches and ranks split whole groups).
    """
    groups = torch.unique(group_ids, return_inverse=True)[1].to(loss.device)
    count = int(groups.max()) + 1
    token_sum = loss.new_zeros(count).index_add(0, groups, (loss * mask).sum(-1))
    token_count = loss.new_zeros(count).index_add(0, groups, mask.sum(-1).to(loss.dtype))
    return (token_sum / token_count.clamp(min=1)).sum() / max(norm.prompts, 1)


@register(AGGREGATIONS, "constant")
def constant_norm(loss, mask, group_ids, norm):
    """Sum divided by batch x generation budget, a constant (Dr.GRPO, Liu et al. 2025): no length bias.

    `norm.budget` must bound every completion's length (forced interruption included), or a long completion
    would weigh more than a full one and the "constant" would not normalise."""
    return (loss * mask).sum() / (max(norm.samples, 1) * norm.budget)


def policy_loss(name: str) -> LossFn:
    return POLICY_LOSSES[name]


def aggregation(name: str) -> AggregateFn:
    return AGGREGATIONS[name]
