"""Compute accounting: FLOPs, tokens, wall-clock and device-hours of a run's training.

FLOPs follow Kaplan et al. (2020) / PaLM (Chowdhery et al. 2022, app. B), counted per pass actually run:

    forward  = 2 * N * tokens + 4 * L * d * sum(context attended by each token)
    backward = 2 * forward

N counts matmul parameters (the LM head included, the embedding lookup not), L layers, d hidden
size. Generation with a KV cache is a forward over the prompt (prefill) plus one token per step,
each attending to everything before it. Evaluation is monitoring, not training compute, and is
excluded (ScaleRL plots against training GPU-hours too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass
class ModelShape:
    matmul_params: int
    layers: int
    hidden: int

    @classmethod
    def of(cls, model: torch.nn.Module, matmul_params: int) -> "ModelShape":
        cfg = model.config
        return cls(matmul_params, cfg.num_hidden_layers, cfg.hidden_size)

    def forward_flops(self, tokens: int, attended: int) -> float:
        """`attended` = sum over the tokens of how many positions each one attends to."""
        return 2.0 * self.matmul_params * tokens + 4.0 * self.layers * self.hidden * attended


def attended_positions(start: int, count: int) -> int:
    """Sum of context sizes for `count` tokens at positions start+1 .. start+count (causal)."""
    return count * start + count * (count + 1) // 2


@dataclass
class ComputeMeter:
    """Cumulative training compute; one instance per run, saved in every checkpoint."""

    step: int = 0
    prompts_seen: int = 0
    samples_seen: int = 0
    generated_tokens: int = 0
    trained_tokens: int = 0
    flops: float = 0.0
    wall_seconds: float = 0.0
    device_seconds: float = 0.0
    devices: int = 1  # GPUs in use (world size), or CPU cores (world size x threads): Runtime.devices_in_use

    @classmethod
    def restore(cls, saved: dict, devices: int) -> "ComputeMeter":
        """A meter from a checkpoint, counting this process's devices from now on (a resume may run elsewhere)."""
        saved = dict(saved)
        saved.setdefault("device_seconds", saved["wall_seconds"] * saved.get("devices", devices))
        return cls(**{**saved, "devices": devices})

    def add_time(self, seconds: float) -> None:
        """Training wall-clock, and device-seconds at the devices in use while it passed."""
        self.wall_seconds += seconds
        self.device_seconds += seconds * self.devices

    def add_forward(self, shape: ModelShape, sequences: int, start: int, length: int) -> None:
        """A forward over `length` new positions after `start` cached ones, for `sequences` rows."""
        self.flops += sequences * shape.forward_flops(length, attended_positions(start, length))

    def add_backward(self, shape: ModelShape, sequences: int, start: int, length: int) -> None:
        """The backward of that forward: twice its FLOPs (gradients for activations and for weights)."""
        self.flops += 2.0 * sequences * shape.forward_flops(length, attended_positions(start, length))

    COUNTERS = ("prompts_seen", "samples_seen", "generated_tokens", "trained_tokens", "flops")

    def counters(self) -> list[float]:
        return [float(getattr(self, name)) for name in self.COUNTERS]

    def add_global(self, before: list[float], runtime) -> None:
        """Replace this rank's additions since `before` by every rank's (a data-parallel run counts all its work)."""
        if not runtime.distributed:
            return
        added = runtime.all_reduce_sum([now - then for now, then in zip(self.counters(), before)])
        for name, then, more in zip(self.COUNTERS, before, added):
            setattr(self, name, type(getattr(self, name))(then + more))

    @property
    def device_hours(self) -> float:
        return self.device_seconds / 3600.0

    def row(self) -> dict:
        out = asdict(self)
        out.pop("devices")
        out.pop("device_seconds")
        out["device_hours"] = self.device_hours
        return out
