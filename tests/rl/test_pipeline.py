"""PipelineRL-k: a sampler process with weights at most k steps stale."""

from __future__ import annotations

from scaling.config import build_config
from scaling.rl.loop import train
from scaling.store import read_metrics


def test_pipeline_trains_with_bounded_lag(tmp_path, tiny_tree):
    tiny_tree["train"].update({"pipeline_k": 2, "steps": 8})
    tiny_tree["threads"] = 2
    summary = train(build_config(tiny_tree), tmp_path / "run")
    metrics = read_metrics(tmp_path / "run")
    assert summary["status"] == "done" and len(metrics) == 8
    assert metrics["lag_mean"].max() <= 2
    assert metrics["lag_mean"].mean() > 0  # batches requested k steps ahead are sampled with older weights
    assert (metrics["samples_seen"].diff().dropna() == 16).all()


def test_a_dead_sampler_is_reported_not_waited_for(tiny_tree):
    import pytest

    from scaling.model import make_policy
    from scaling.rl.pipeline import PipelineSampler

    config = build_config(tiny_tree)
    model, _ = make_policy(config.model, 0)
    sampler = PipelineSampler(config, "/nonexistent/model", model, threads=1, version=0)  # cannot load: exits
    try:
        sampler.request([0], ["1+1="])
        with pytest.raises(RuntimeError, match="sampler process exited"):
            sampler.receive()
    finally:
        sampler.close()
