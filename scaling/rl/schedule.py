"""Learning-rate schedules and the weight-decay split, as AdamW parameter groups and a LambdaLR factor.

The schedule's clock is the RL step (one sampled batch), not the optimizer update: with
`train.updates_per_batch > 1` a warm-up of 100 steps still lasts 100 sampled batches (ScaleRL
counts its 100 warm-up steps in RL steps). The trainer advances it once per RL step.
"""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, *, schedule: str, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the base lr for the RL step after `step` completed ones.

    Warm-up is linear from 1/warmup to 1; then constant (ScaleRL), or cosine / linear decay from 1 at the
    end of warm-up to `min_ratio` at `total` steps, held there after."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif schedule == "linear":
        decay = 1.0 - progress
    else:
        raise ValueError(f"optim.schedule: unknown schedule {schedule!r}")
    return min_ratio + (1.0 - min_ratio) * decay


def make_scheduler(optimizer: torch.optim.Optimizer, optim, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, schedule=optim.schedule, warmup=optim.warmup_steps, total=total_steps, min_ratio=optim.min_lr_ratio))


def decays(model: torch.nn.Module) -> list[bool]:
    """Per trainable parameter (in `model.parameters()` order): whether weight decay applies.

    Only matmul weights decay. Norm gains and biases are 1-D: decaying them pulls the scale of the
    activations toward 0 and buys no regularisation. Embeddings (and a head tied to them) are lookup
    tables whose rare rows would shrink every step they are not used."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return [p.ndim >= 2 and id(p) not in embeddings for p in model.parameters() if p.requires_grad]


def param_groups(model: torch.nn.Module, params: list[torch.Tensor], weight_decay: float) -> list[dict]:
    """AdamW groups over `params` (the fp32 master copies, aligned with the model's trainable parameters)."""
    flags = decays(model)
    groups = [{"params": [p for p, d in zip(params, flags) if d], "weight_decay": weight_decay},
              {"params": [p for p, d in zip(params, flags) if not d], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
