"""Precision: the dtypes a policy computes in, and fp32 master weights for the optimizer.

- fp32: everything in float32.
- bf16 / fp16: parameters and activations in the low dtype; the optimizer updates an fp32 master
  copy (small updates would vanish in a bf16 weight), fp16 with dynamic loss scaling.
- fp32_lm_head: bf16 body, LM head and logits in fp32 (ScaleRL, Khatri et al. 2025): the softmax
  over the vocabulary is where low precision hurts the sampler/trainer agreement most.
"""

from __future__ import annotations

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32_lm_head": torch.bfloat16}


def apply_precision(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    model.to(DTYPES[precision])
    if precision == "fp32_lm_head":
        _fp32_head(model)
    return model


def _fp32_head(model: torch.nn.Module) -> None:
    body_dtype = DTYPES["fp32_lm_head"]
    head = model.get_output_embeddings()
    head.float()
    head.register_forward_pre_hook(lambda module, args: tuple(a.float() for a in args))
    embedding = model.get_input_embeddings()
    if embedding.weight.dtype == torch.float32:  # tied to the head: feed the body its own dtype
        embedding.register_forward_hook(lambda module, args, out: out.to(body_dtype))


def dtype_summary(model: torch.nn.Module) -> str:
    body = model.get_input_embeddings().weight.dtype
    layer_dtype = next(p.dtype for n, p in model.named_parameters() if "layers" in n)
    head = model.get_output_embeddings().weight.dtype
    short = lambda d: str(d).replace("torch.", "")
    return f"body={short(layer_dtype)},embed={short(body)},head={short(head)}"


class MasterWeights:
    """fp32 copies of low-precision parameters: gradients are copied up, updates copied down."""

    def __init__(self, model: torch.nn.Module):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.active = any(p.dtype != torch.float32 for p in self.params)
        if self.active:
            self.master = [p.detach().float().clone().requires_grad_(True) for p in self.params]
        else:
            self.master = self.params

    def grads_to_master(self) -> None:
        if not self.active:
            return
        for p, m in zip(self.params, self.master):
            m.grad = None if p.grad is None else p.grad.float()
            p.grad = None

    @torch.no_grad()
    def master_to_model(self) -> None:
        if self.active:
            for p, m in zip(self.params, self.master):
                p.copy_(m)

    def state_dict(self) -> list[torch.Tensor]:
        return [m.detach().clone() for m in self.master] if self.active else []

    @torch.no_grad()
    def load_state_dict(self, state: list[torch.Tensor]) -> None:
        for m, saved in zip(self.master if self.active else [], state):
            m.copy_(saved)
