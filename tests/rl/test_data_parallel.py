"""Data parallelism: a 2-rank gloo run takes the same update as one process on the same global batch.

This is the test that catches a missing all-reduce: the batch-level advantage std, the aggregation denominators
(token_mean, prompt_mean, constant), DDP's gradient average against the loss scaling, micro-batch accumulation
under DDP, and a rank with nothing to train on.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scaling.config import build_config
from scaling.rl.state import build_state
from scaling.rl.step import collect, learn

sys.path.insert(0, str(Path(__file__).parent))
from dp_worker import snapshot  # noqa: E402

TINY = {"threads": 1, "warmstart": {"enabled": False}, "seed": 5,
        "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
        "task": {"train_size": 64, "val_size": 8},
        "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4, "max_new_tokens": 6},
        # adam_eps above the fp32 rounding noise of the gradients (Adam's first step is otherwise lr * sign(g)).
        "optim": {"warmup_steps": 0, "lr": 1e-2, "adam_eps": 1e-4}, "train": {"steps": 2, "track_kl": False},
        "eval": {"every": 2, "k": 1}}
ALL = [0, 1, 2, 3]


def _tree(**sections) -> dict:
    tree = copy.deepcopy(TINY)
    for section, values in sections.items():
        tree.setdefault(section, {}).update(values)
    return tree


CASES = [(f"{agg}-batch", _tree(loss={"aggregation": agg, "adv_norm": "batch"}), ALL)
         for agg in ("token_mean", "sample_mean", "prompt_mean", "constant")] + [
    ("token_mean-group-micro", _tree(loss={"aggregation": "token_mean"}, train={"micro_batch_size": 4}), ALL),
    ("sample_mean-kl-tis", _tree(loss={"aggregation": "sample_mean", "kl_beta": 0.1, "tis_cap": 1.5}), ALL),
    ("prompt_mean-rank1-idle", _tree(loss={"aggregation": "prompt_mean", "adv_norm": "batch"}), [0, 1]),
]


def _global_batch():
    """A real sampled batch of 4 groups with rewards that vary within groups (a random policy solves nothing)."""
    state = build_state(build_config(_tree()))
    batch, _ = collect(state)
    rewards = (torch.rand(batch.rewards.shape, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    rewards[:, 0], rewards[:, 1] = 1.0, 0.0
    batch.rewards, batch.shaped = rewards, rewards.clone()
    return batch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(world: int, spec: Path, out: Path) -> None:
    port = _free_port()
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(Path(__file__).parent / "dp_worker.py"), str(spec), str(out)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-3000:]


@pytest.mark.slow
def test_two_ranks_take_the_single_process_update(tmp_path):
    batch = _global_batch()
    torch.save({"batch": batch, "cases": CASES}, tmp_path / "spec.pt")
    _run_ranks(2, tmp_path / "spec.pt", tmp_path / "out.pt")
    ranks = torch.load(tmp_path / "out.pt", weights_only=False)
    start = [p.detach().clone() for p in build_state(build_config(_tree())).model.parameters()]
    for name, tree, keep in CASES:
        state = build_state(build_config(tree))
        single = snapshot(state, learn(state, batch, keep))
        for a, b in zip(single["grads"], ranks[name]["grads"]):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7, msg=lambda m: f"{name} gradients: {m}")
        for a, b, s in zip(single["params"], ranks[name]["params"], start):
            torch.testing.assert_close(b - s, a - s, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name} update: {m}")
        for key in ("loss", "entropy", "clip_frac", "grad_norm"):
            assert ranks[name]["metrics"][key] == pytest.approx(single["metrics"][key], rel=1e-5, abs=1e-7), (name, key)
        assert any(float((p - s).abs().max()) > 1e-4 for p, s in zip(single["params"], start)), name
