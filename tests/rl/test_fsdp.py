"""train.parallel fsdp (FSDP2 fully_shard over gloo, 2 processes): the same update as one process on the same global
batch, an interrupted run that resumes to the rows of an uninterrupted one, and a checkpoint that loads in one
process. The sampler copy (scaling.rl.fsdp) is what the parameters are read from: it must track the shards."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from scaling.config import ConfigError, build_config
from scaling.model import make_policy
from scaling.rl.state import build_state
from scaling.rl.step import learn
from scaling.store import RunFiles, read_evals, read_metrics

sys.path.insert(0, str(Path(__file__).parent))
from dp_worker import snapshot  # noqa: E402
from resume_helpers import comparable  # noqa: E402
from test_data_parallel import ALL, _global_batch, _run_ranks, _tree  # noqa: E402
from test_data_parallel_run import _ok, run_ranks  # noqa: E402

FSDP = {"parallel": "fsdp", "steps": 2, "track_kl": False}
# grad_clip 0.1 (the norm is ~0.8): each rank must clip by the global norm over all shards, not its own shards'.
CASES = [("token_mean-batch-clipped", _tree(loss={"aggregation": "token_mean", "adv_norm": "batch"}, train=FSDP,
                                            optim={"grad_clip": 0.1}), ALL),
         ("sample_mean-batch-kl", _tree(loss={"aggregation": "sample_mean", "adv_norm": "batch", "kl_beta": 0.1},
                                        train=FSDP), ALL),
         ("token_mean-checkpointing", _tree(loss={"aggregation": "token_mean"}, train=FSDP,
                                            model={"gradient_checkpointing": True}), ALL),
         # Rank 0 keeps 2 groups in 2 micro-batches, rank 1 none: it runs two idle passes to match rank 0's all-gathers.
         ("prompt_mean-micro-rank1-idle", _tree(loss={"aggregation": "prompt_mean"},
                                                train={**FSDP, "micro_batch_size": 4}), [0, 1])]
# bf16 compute (FSDP MixedPrecisionPolicy against one process's bf16 model with fp32 master weights): the same update
# up to bf16 rounding. Measured: gradients within 0.4% and updates within 1.1% in norm.
LOW = [(f"token_mean-{p}", _tree(loss={"aggregation": "token_mean", "adv_norm": "batch"}, train=FSDP,
                                 model={"precision": p}), ALL) for p in ("bf16", "fp32_lm_head")]


def _relative(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    a, b = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float((a - b).norm() / a.norm())


@pytest.mark.slow
def test_two_fsdp_ranks_take_the_single_process_update(tmp_path):
    batch = _global_batch()
    torch.save({"batch": batch, "cases": CASES + LOW}, tmp_path / "spec.pt")
    _run_ranks(2, tmp_path / "spec.pt", tmp_path / "out.pt")
    ranks = torch.load(tmp_path / "out.pt", weights_only=False)
    start = [p.detach().clone() for p in build_state(build_config(_tree())).model.parameters()]
    for name, tree, keep in CASES:
        state = build_state(build_config(tree))  # one process: fsdp runs unsharded
        assert state.sharded is None and ranks[name]["sharded"]
        single = snapshot(state, learn(state, batch, keep))
        for a, b in zip(single["grads"], ranks[name]["grads"]):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7, msg=lambda m: f"{name} gradients: {m}")
        for a, b, s in zip(single["params"], ranks[name]["params"], start):
            torch.testing.assert_close(b - s, a - s, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name} update: {m}")
        for key in ("loss", "entropy", "clip_frac", "grad_norm", "kl_to_init"):
            assert ranks[name]["metrics"][key] == pytest.approx(single["metrics"][key], rel=1e-5, abs=1e-7,
                                                                nan_ok=True), (name, key)
        assert any(float((p - s).abs().max()) > 1e-4 for p, s in zip(single["params"], start)), name
    assert ranks["token_mean-batch-clipped"]["metrics"]["grad_norm"] > 0.2  # so clipping did act
    for name, tree, keep in LOW:
        state = build_state(build_config(tree))
        start = [m.detach().clone() for m in state.master.master]
        single, fsdp = snapshot(state, learn(state, batch, keep)), ranks[name]
        assert fsdp["sharded"] and _relative(single["grads"], fsdp["grads"]) < 0.02, name
        updates = [[m - s for m, s in zip(run["master"], start)] for run in (single, fsdp)]
        assert _relative(*updates) < 0.05 and max(float(u.abs().max()) for u in updates[0]) > 1e-4, name
        assert fsdp["metrics"]["grad_norm"] == pytest.approx(single["metrics"]["grad_norm"], rel=0.01), name
        assert all(p.dtype == torch.bfloat16 for n, p in state.model.named_parameters() if "layers" in n)
        # The sampler copy is the fp32 masters in the copy's dtypes, exactly.
        for plain, master in zip(fsdp["params"], fsdp["master"]):
            assert torch.equal(plain, master.to(plain.dtype)), name


@pytest.fixture
def fsdp_config(tmp_path, tiny_tree):
    tiny_tree["train"]["parallel"] = "fsdp"
    tiny_tree["model"]["precision"] = "fp32"
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_tree))
    return path


@pytest.mark.slow
def test_fsdp_run_resumes_exactly_and_its_checkpoint_loads_in_one_process(tmp_path, fsdp_config):
    assert [s["status"] for s in _ok(run_ranks(fsdp_config, tmp_path / "straight"))] == ["done", "done"]
    stopped = _ok(run_ranks(fsdp_config, tmp_path / "resumed", "stop:3:1"))
    assert [s["step"] for s in stopped] == [2, 2]
    _ok(run_ranks(fsdp_config, tmp_path / "resumed"))
    for read in (read_evals, read_metrics):
        pd.testing.assert_frame_equal(comparable(read(tmp_path / "straight")), comparable(read(tmp_path / "resumed")))
    assert RunFiles(tmp_path / "resumed").done.exists()

    # The last checkpoint, in this one process: a full model state for a plain policy, a full optimizer state.
    path = sorted((tmp_path / "straight" / "checkpoints").glob("step_*.pt"))[-1]
    saved = torch.load(path, map_location="cpu", weights_only=False)
    config = build_config(yaml.safe_load(fsdp_config.read_text()))
    policy, _ = make_policy(config.model, config.warmstart_seed)
    fresh = {k: v.clone() for k, v in policy.state_dict().items()}
    policy.load_state_dict(saved["model"])  # strict: every name, full shapes
    assert any(not torch.equal(fresh[k], v) for k, v in policy.state_dict().items())
    params = dict(policy.named_parameters())
    assert saved["optimizer"]["state"] and all(
        s["exp_avg"].shape == params[name].shape for name, s in saved["optimizer"]["state"].items())


def test_fsdp_refuses_fp16():
    with pytest.raises(ConfigError, match="fsdp does not run model.precision fp16"):
        build_config({"train": {"parallel": "fsdp"}, "model": {"precision": "fp16"}})
