"""The engine choice without vLLM installed: the missing extra is named before anything is written, and the
vLLM engine's layout of completions is the built-in sampler's."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from scaling.config import ConfigError, ModelConfig, RunConfig
from scaling.model import make_policy
from scaling.rl.engines import check_engine
from scaling.rl.engines.vllm import VLLMEngine, _completions, _Row
from scaling.rl.inputs import validate_inputs
from scaling.rl.loop import train
from scaling.rl.rollout import encode_prompts, sample


def _config(tiny_tree, **rollout) -> RunConfig:
    tiny_tree["rollout"].update(rollout)
    return RunConfig.model_validate(tiny_tree)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_missing_vllm_is_one_line_naming_the_extra(tmp_path, tiny_tree):
    config = _config(tiny_tree, engine="vllm")
    with pytest.raises(ConfigError, match=r"rollout.engine: vllm is not installed; pip install 'scaling\[vllm\]'"):
        validate_inputs(config)
    with pytest.raises(ConfigError):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_vllm_with_pipelinerl_is_refused(tiny_tree):
    tiny_tree["train"]["pipeline_k"] = 1
    with pytest.raises(ConfigError, match="PipelineRL"):
        check_engine(_config(tiny_tree, engine="vllm"))


def test_builtin_is_the_default_and_keeps_run_ids(tiny_tree):
    default = RunConfig.model_validate(tiny_tree)
    assert default.rollout.engine == "builtin"
    assert _config(tiny_tree, engine="builtin").identity_hash() == default.identity_hash()
    assert _config(tiny_tree, engine="vllm").identity_hash() != default.identity_hash()


def test_vllm_layout_is_the_builtin_samplers(tiny_tree):
    """Rows as vLLM returns them (token lists of different lengths), laid out by the vLLM engine, give exactly the
    built-in sampler's tensors: padding, mask up to EOS, truncation, forced interruption tokens."""
    model, tok = make_policy(ModelConfig(**tiny_tree["model"]), 0)
    ids, mask = encode_prompts(tok, ["12+34=", "5+6=", "7+80="], None, device="cpu")
    interrupt = tok.encode("=", add_special_tokens=False)
    gen = torch.Generator(device="cpu").manual_seed(3)
    out = sample(model, ids, mask, max_new_tokens=3, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, generator=gen, interrupt_ids=interrupt, interrupt_budget=2, repeat=4)
    assert out.forced is not None and bool(out.forced.any())
    rows = []
    for r in range(out.tokens.shape[0]):
        n = int(out.lengths[r])
        row = _Row([], [])
        forced = out.forced[r, :n].tolist()
        for t in range(n):
            row.extend([int(out.tokens[r, t])], [float(out.logprobs[r, t])], forced=forced[t])
        rows.append(row)
    again = _completions(rows, out.truncated.tolist(), tok.pad_token_id, True, torch.device("cpu"))
    for name in ("tokens", "logprobs", "mask", "truncated", "forced"):
        assert torch.equal(getattr(again, name), getattr(out, name)), name


def test_vllm_engine_ends_rows_at_any_stop_id():
    """vLLM returns a stopped row with its stop token last; the engine takes any of the stop ids as an end (not
    truncated, not interrupted) and hands vLLM all of them. vLLM itself is replaced by scripted rows here; its own
    stopping is tested in the vLLM stage (test_vllm_engine.py)."""
    calls = []
    scripted = [[([5, 2], [-0.1, -0.2]), ([6, 3], [-0.3, -0.4]), ([7, 8], [-0.5, -0.6])], [([9], [-0.7])]]

    def generate(prompts, budget, temperature, stops, generator, greedy):
        calls.append((prompts, budget, stops))
        return scripted[len(calls) - 1]

    engine = VLLMEngine.__new__(VLLMEngine)  # no vLLM in this environment: no engine is started
    engine._generate = generate
    ids, mask = torch.tensor([[1, 4]]), torch.ones(1, 2, dtype=torch.long)
    out = engine.sample(ids, mask, max_new_tokens=2, temperature=1.0, eos_id=[2, 3], pad_id=0, repeat=3,
                        interrupt_ids=[4], interrupt_budget=1)
    assert calls[0][2] == [2, 3] and calls[1][0] == [[1, 4, 7, 8, 4]]  # only the row that ended on neither
    assert out.truncated.tolist() == [False, False, True]
    assert out.tokens.tolist() == [[5, 2, 0, 0], [6, 3, 0, 0], [7, 8, 4, 9]]
