"""FSDP2 (`fully_shard`; Zhao et al. 2023, "PyTorch FSDP") for policies that do not fit one device.

`train.parallel: fsdp` trains through a sharded fp32 copy of the policy: each rank holds 1/world of the parameters,
gradients and AdamW state, and every forward all-gathers a layer's parameters just in time (a collective). Each
decoder layer is its own FSDP unit, then the root (embeddings, final norm, LM head), as torchtitan and TRL do it.

Ranks sample different numbers of tokens, so generation and evaluation cannot run through the sharded copy (a
forward on one rank would wait for the others forever). As in veRL's hybrid engine, each rank keeps a plain, full
copy of the policy in the run's compute dtype (`RunState.model`) for sampling, evaluation and the pi_old pass; it is
refreshed from the shards after every optimizer step (`ShardedWeights.master_to_model`, as `MasterWeights` copies
fp32 masters down to a bf16 model). The sharded parameters stay in fp32 and are the optimizer's master weights;
`MixedPrecisionPolicy` computes in bf16 and reduces gradients in fp32.

Checkpoints hold the full fp32 model and the full optimizer state, gathered to rank 0's CPU
(`torch.distributed.checkpoint.state_dict`), so a checkpoint loads in one process for inspection.
"""

from __future__ import annotations

import torch
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict, get_optimizer_state_dict,
                                                     set_model_state_dict, set_optimizer_state_dict)
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor
from transformers.modeling_layers import GradientCheckpointingLayer

from scaling.runtime import Runtime


def is_sharded(model: torch.nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def _policies(precision: str) -> tuple[MixedPrecisionPolicy, MixedPrecisionPolicy]:
    """(decoder layers, root). fp32_lm_head keeps the root in fp32: the LM head and logits (ScaleRL's point),
    and with them the embeddings and final norm that share its FSDP unit (tied weights must)."""
    if precision == "fp32":
        return MixedPrecisionPolicy(), MixedPrecisionPolicy()
    if precision not in ("bf16", "fp32_lm_head"):
        raise ValueError(f"precision {precision!r} is not supported with fsdp")
    body = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return body, body if precision == "bf16" else MixedPrecisionPolicy()


def shard_policy(model: torch.nn.Module, precision: str, runtime: Runtime) -> torch.nn.Module:
    """`model` (fp32, any device) sharded over every rank, in place: each decoder layer, then the root."""
    mesh = runtime.device_mesh()
    body, root = _policies(precision)
    for module in model.modules():
        if isinstance(module, GradientCheckpointingLayer):  # transformers' decoder-layer base class
            fully_shard(module, mesh=mesh, mp_policy=body)
    fully_shard(model, mesh=mesh, mp_policy=root)
    return model


class ShardedWeights:
    """`MasterWeights` for FSDP: the sharded fp32 parameters are the master copy (gradients land on them, the
    optimizer steps them); `master_to_model` gathers them into the plain sampler copy (a collective)."""

    active = True

    def __init__(self, sharded: torch.nn.Module, sampler: torch.nn.Module):
        self.master = [p for p in sharded.parameters() if p.requires_grad]
        self.plain = dict(sampler.named_parameters())
        # Layers first, the root last: each FSDP unit with the name prefix of its parameters.
        self.units = [(n, m) for n, m in sharded.named_modules() if is_sharded(m) and n] + [("", sharded)]
        missing = {n for n, _ in sharded.named_parameters()} - set(self.plain)
        if missing:
            raise ValueError(f"the sampler copy lacks parameters {sorted(missing)[:3]}")

    def grads_to_master(self) -> None:
        """Gradients are already on the shards (FSDP reduce-scatters them in fp32)."""

    @torch.no_grad()
    def master_to_model(self) -> None:
        """One all-gather per FSDP unit, in its compute dtype (what the sampler copy holds), not one per parameter."""
        for prefix, unit in self.units:
            unit.unshard()
            for name, param in unit.named_parameters(prefix=prefix):
                if not isinstance(param, DTensor):  # the root's view of its layers: still sharded, done above
                    self.plain[name].copy_(param)
            unit.reshard()


_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)  # full tensors on rank 0's CPU; others get {}
_SCATTER = StateDictOptions(full_state_dict=True)  # every rank holds the full state (it read the file) and keeps its shard


def full_state(sharded: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """(model, optimizer) full state dicts, keyed by parameter name, on rank 0's CPU. Every rank must call it."""
    return get_model_state_dict(sharded, options=_GATHER), get_optimizer_state_dict(sharded, optimizer, options=_GATHER)


def load_full_state(sharded: torch.nn.Module, optimizer: torch.optim.Optimizer, model: dict, optim: dict) -> None:
    """Each rank takes its shard of a `full_state` (a collective)."""
    set_model_state_dict(sharded, model, options=_SCATTER)
    set_optimizer_state_dict(sharded, optimizer, optim, options=_SCATTER)
