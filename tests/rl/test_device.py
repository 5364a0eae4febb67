"""Every tensor a run makes has an explicit device, and checkpoints load onto the run's device.

The guard: with torch's default device set to `meta`, a tensor or generator made without a device
lands on meta and the run fails (meta tensors hold no data). The run's own device is `cpu`, so a run
that passes here places everything explicitly: the same code then runs on `cuda` unchanged.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from scaling.config import build_config
from scaling.rl.checkpoint import load_latest
from scaling.rl.loop import train
from scaling.runtime import Runtime
from scaling.store import read_evals, read_metrics

TIMING = ["wall_seconds", "device_hours", "eval_seconds", "step_seconds"]


def _rows(run):
    return [read(run).drop(columns=TIMING, errors="ignore") for read in (read_evals, read_metrics)]


_GENERATOR = torch.Generator


class _ExplicitGenerator(_GENERATOR):
    """torch.Generator() ignores the default device: a generator without one is caught here instead."""

    def __new__(cls, device=None):
        if device is None:
            raise AssertionError("torch.Generator made without an explicit device")
        return _GENERATOR(device)


@pytest.fixture
def meta_default(monkeypatch):
    monkeypatch.setattr(torch, "Generator", _ExplicitGenerator)
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


@pytest.mark.parametrize("variant", [{}, {"loss": {"kl_beta": 0.01, "tis_cap": 2.0, "aggregation": "prompt_mean"}, "train": {"updates_per_batch": 2},
                                         "rollout": {"overlong": "soft_penalty", "interrupt_text": "=",
                                                     "interrupt_budget": 2}, "model": {"precision": "fp16"}},
                                     {"model": {"gradient_checkpointing": True, "precision": "bf16"},
                                      "train": {"micro_batch_size": 4, "filter_zero_variance": "refill"},
                                      "loss": {"aggregation": "constant", "adv_norm": "batch"}}])
def test_run_with_warm_start_places_every_tensor_explicitly(tmp_path, tiny_tree, meta_default, variant):
    tiny_tree["device"] = "cpu"
    tiny_tree["train"]["steps"] = 2
    # A band out of reach: the warm start takes real SFT steps (and pass-rate checks) before it gives up.
    tiny_tree["warmstart"].update(target_low=0.99, target_high=1.0, max_steps=2, check_every=1)
    for section, values in variant.items():
        tiny_tree.setdefault(section, {}).update(values)
    summary = train(build_config(tiny_tree), tmp_path / "run")
    assert summary["status"] == "done" and summary["step"] == 2
    evals, metrics = _rows(tmp_path / "run")
    assert list(evals["step"]) == [0, 2] and metrics["peak_memory_gib"].isna().all()  # no allocator stats on CPU


def test_checkpoint_from_another_device_resumes_here(tmp_path, tiny_tree, meta_default):
    """Checkpoints whose tensors say they live on cuda:0 (tagged so on save) load here through map_location."""
    tiny_tree["device"] = "cpu"
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "straight")
    tag = {"on": True}
    torch.serialization.register_package(
        1, lambda obj: "cuda:0" if tag["on"] and getattr(obj, "device", None) == torch.device("cpu") else None,
        lambda obj, location: None)
    try:
        calls = iter(range(100))
        train(cfg, tmp_path / "resumed", should_stop=lambda: next(calls) >= 3)
    finally:
        tag["on"] = False
    loaded = load_latest(tmp_path / "resumed" / "checkpoints", Runtime(device=torch.device("cpu")))
    assert loaded.state["step"] == 3 and not loaded.failed  # loaded, not set aside as unreadable
    train(cfg, tmp_path / "resumed")
    for straight, resumed in zip(_rows(tmp_path / "straight"), _rows(tmp_path / "resumed")):
        pd.testing.assert_frame_equal(straight, resumed)
