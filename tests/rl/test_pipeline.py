"""PipelineRL-k: a sampler process with weights exactly k steps stale at most, fed by torch.distributed broadcasts;
deterministic, resumable exactly, and deaf to the job's signals."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch

from scaling.config import build_config
from scaling.model import make_policy
from scaling.rl.loop import train
from scaling.rl.pipeline import PipelineSampler
from scaling.rl.rollout import encode_prompts, sample, sampling_options
from scaling.store import read_evals, read_metrics

from resume_helpers import comparable, sigkill_after_evals


def _pipelined(tree, steps=8, every=4):
    tree["train"].update({"pipeline_k": 2, "steps": steps})
    tree["eval"]["every"] = every
    tree["threads"] = 2
    return build_config(tree)


def test_pipeline_bounded_lag_and_exact_resume_after_stop(tmp_path, tiny_tree):
    tiny_tree["checkpoint_every"] = 50  # no checkpoint mid-run: the pipeline stays full
    config = _pipelined(tiny_tree)
    summary = train(config, tmp_path / "straight")
    metrics = read_metrics(tmp_path / "straight")
    assert summary["status"] == "done" and len(metrics) == 8
    assert list(metrics["lag_mean"]) == [0, 1, 2, 2, 2, 2, 2, 2]  # requested k steps ahead: exactly k stale
    assert (metrics["samples_seen"].diff().dropna() == 16).all()
    # Stopped at step 3 with k+1 batches in flight: the checkpoint keeps them and the sampler's RNG, and
    # each request is sampled with the weights of its version whatever the timing, so the rows are the same.
    calls = iter(range(100))
    stopped = train(config, tmp_path / "resumed", should_stop=lambda: next(calls) >= 3)
    assert stopped == {"status": "stopped", "step": 3}
    train(config, tmp_path / "resumed")
    for read in (read_evals, read_metrics):
        pd.testing.assert_frame_equal(comparable(read(tmp_path / "straight")), comparable(read(tmp_path / "resumed")))


@pytest.mark.slow
def test_pipelined_sigkill_mid_run_then_resume_matches(tmp_path, tiny_tree):
    tiny_tree["checkpoint_every"] = 3  # checkpoints between evaluations: in-flight batches are in them
    config = _pipelined(tiny_tree, steps=16, every=4)
    train(config, tmp_path / "straight")
    run = tmp_path / "killed"
    sigkill_after_evals(config, run, evals=3, timeout_s=300)
    train(config, run)
    for read in (read_evals, read_metrics):
        pd.testing.assert_frame_equal(comparable(read(tmp_path / "straight")), comparable(read(run)))


def test_published_weights_reach_the_sampler_exactly(tiny_tree):
    config = build_config(tiny_tree)
    model, tokenizer = make_policy(config.model, 0)
    sampler = PipelineSampler(config, None, model, threads=1, version=0)
    try:
        prompts = ["12+34=", "5+6="]
        sampler.request([0, 1], prompts)
        first = sampler.receive()
        assert first.version == 0
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.5)  # a very different policy
        sampler.publish(1)
        sampler.request([2, 3], prompts)
        second = sampler.receive()
        assert second.version == 1
        # The same prompts with the trainer's new weights and the sampler's generator where it was: identical.
        generator = torch.Generator().set_state(first.rng)
        ids, mask = encode_prompts(tokenizer, prompts)
        local = sample(model, ids, mask, generator=generator, repeat=config.rollout.generations_per_prompt,
                       **sampling_options(config.rollout, tokenizer, model))
        assert torch.equal(local.tokens, second.completions.tokens)
        torch.testing.assert_close(local.logprobs, second.completions.logprobs)
        with pytest.raises(ValueError, match="out of order"):
            sampler.publish(3)
    finally:
        sampler.close()


def test_a_dead_sampler_is_reported_not_waited_for(tiny_tree):
    config = build_config(tiny_tree)
    model, _ = make_policy(config.model, 0)
    sampler = PipelineSampler(config, "/nonexistent/model", model, threads=1, version=0)  # cannot load: exits
    try:
        sampler.request([0], ["1+1="])
        with pytest.raises(RuntimeError, match="sampler process exited"):
            sampler.receive()
    finally:
        sampler.close()


SIGNALS_SCRIPT = textwrap.dedent("""
    import os, signal
    from scaling.config import build_config
    from scaling.model import make_policy
    from scaling.rl.pipeline import PipelineSampler


    def main():
        got = []
        signal.signal(signal.SIGUSR2, lambda *a: got.append("USR2"))  # the trainer's own handler (study/job.py)
        config = build_config({tree!r})
        model, _ = make_policy(config.model, 0)
        sampler = PipelineSampler(config, None, model, threads=1, version=0)
        sampler.request([0], ["1+2="])
        sampler.receive()
        os.kill(sampler.process.pid, signal.SIGTERM)
        os.killpg(os.getpgid(0), signal.SIGUSR2)  # Slurm signals every process of the job
        sampler.request([1], ["3+4="])
        assert sampler.receive().indices == [1] and sampler.process.is_alive()
        sampler.state_dict()
        sampler.close()
        print("OK", got, sampler.process.exitcode)


    if __name__ == "__main__":  # the spawned sampler imports this file too
        main()
""")


def test_sampler_ignores_the_jobs_signals_and_leaves_no_tracebacks(tmp_path, tiny_tree):
    script = tmp_path / "signals.py"
    script.write_text(SIGNALS_SCRIPT.format(tree=tiny_tree))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OK ['USR2'] 0" in done.stdout
    assert "Traceback" not in done.stderr and "KeyError" not in done.stderr and "leaked" not in done.stderr
