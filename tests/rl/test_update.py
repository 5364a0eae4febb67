"""Micro-batching (train.micro_batch_size): gradient accumulation gives exactly the full-batch update."""

from __future__ import annotations

import copy

import pytest
import torch

import scaling.rl.update as update_module
from scaling.config import ConfigError, build_config
from scaling.rl.losses import Normaliser, aggregation
from scaling.rl.state import build_state
from scaling.rl.step import rl_step
from scaling.rl.update import micro_batches

TINY = {"threads": 1, "warmstart": {"enabled": False}, "seed": 3,
        "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
        "task": {"train_size": 64, "val_size": 8},
        "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4, "max_new_tokens": 6},
        # adam_eps above the fp32 rounding noise of the gradients: with 1e-8 Adam's first step is lr * sign(g), which
        # flips on elements whose gradient is zero up to rounding, however exactly the gradients agree.
        "optim": {"warmup_steps": 0, "lr": 1e-2, "adam_eps": 1e-4}, "train": {"steps": 2}, "eval": {"every": 2, "k": 1}}


def varied_score(example, text: str) -> float:
    return float(sum(map(ord, text)) % 3 == 0)


def _state(micro, **loss):
    tree = copy.deepcopy(TINY)
    tree["train"]["micro_batch_size"] = micro
    tree["loss"] = loss
    state = build_state(build_config(tree))
    state.task.score = varied_score
    return state


@pytest.mark.parametrize("agg", ["token_mean", "sample_mean", "prompt_mean", "constant"])
@pytest.mark.parametrize("extra", [{}, {"adv_norm": "batch", "kl_beta": 0.1, "tis_cap": 2.0}])
def test_micro_batched_update_equals_full_batch_update(monkeypatch, agg, extra):
    pieces, grads = [], []
    real, real_step = update_module.micro_batches, update_module.optimizer_step
    monkeypatch.setattr(update_module, "micro_batches", lambda rows, size: pieces.append(real(rows, size)) or pieces[-1])

    def record_grads(state):
        grads.append([p.grad.clone() for p in state.model.parameters()])
        return real_step(state)

    monkeypatch.setattr(update_module, "optimizer_step", record_grads)
    full, micro = _state(None, aggregation=agg, **extra), _state(4, aggregation=agg, **extra)
    for _ in range(2):
        row_full, row_micro = rl_step(full), rl_step(micro)
    assert [len(p) for p in pieces] == [1, 4, 1, 4]  # 16 rows: one piece, or four groups of four
    for g_full, g_micro in ((grads[0], grads[1]), (grads[2], grads[3])):
        for a, b in zip(g_full, g_micro):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert row_full["loss"] == pytest.approx(row_micro["loss"], rel=1e-5, abs=1e-7)
    assert row_full["entropy"] == pytest.approx(row_micro["entropy"], rel=1e-5)
    moved = 0.0
    for a, b, start in zip(full.master.master, micro.master.master, build_state(full.config).master.master):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        moved = max(moved, float((a - start).detach().abs().max()))
    assert moved > 1e-4  # the updates did something
    assert full.meter.trained_tokens == micro.meter.trained_tokens


@pytest.mark.parametrize("agg", ["token_mean", "sample_mean", "prompt_mean", "constant"])
def test_shares_with_whole_batch_denominators_add_up(agg):
    loss = torch.rand(6, 5, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(6, 5) > 0.3).double()
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    norm = Normaliser.of(mask, groups, 5)
    whole = aggregation(agg)(loss, mask, groups, norm)
    (grad_whole,) = torch.autograd.grad(whole, loss)
    shares = sum(aggregation(agg)(loss[i:i + 2], mask[i:i + 2], groups[i:i + 2], norm) for i in (0, 2, 4))
    (grad_shares,) = torch.autograd.grad(shares, loss)
    torch.testing.assert_close(shares, whole)
    torch.testing.assert_close(grad_shares, grad_whole)


def test_micro_batches_keep_whole_groups():
    rows = torch.arange(12)
    assert [p.tolist() for p in micro_batches(rows, 8)] == [list(range(8)), list(range(8, 12))]
    assert len(micro_batches(rows, None)) == 1 and len(micro_batches(rows, 64)) == 1


def test_micro_batch_size_must_hold_whole_groups():
    with pytest.raises(ConfigError, match="train.micro_batch_size .6. must be a multiple"):
        build_config({"train": {"micro_batch_size": 6}, "rollout": {"generations_per_prompt": 4}})
