"""The training pass's log-probs from hidden states, chunk by chunk, equal the full-logits pass they replace,
and no pass (training, old log-probs, sampling) ever projects more than a chunk of positions through the head."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from scaling.model import enable_gradient_checkpointing, head_replaced
from scaling.rl import logprobs
from scaling.rl.batch import Batch
from scaling.rl.logprobs import selective_logprobs
from scaling.rl.precision import apply_precision
from scaling.rl.rollout import positions, sample, with_cache
from scaling.rl.update import completion_logprobs

VOCAB, GROUP, TEMPERATURE = 300, 3, 0.8
ARCHS = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}


def _model(arch: str, tied: bool) -> torch.nn.Module:
    config_cls, model_cls = ARCHS[arch]
    config = config_cls(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                        tie_word_embeddings=tied, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    with torch.random.fork_rng(), torch.device("cpu"):
        torch.manual_seed(0)
        model = model_cls(config).eval()
    with torch.no_grad():  # random init of the head is tiny; spread the logits so the softmax is not flat
        model.get_output_embeddings().weight.mul_(20)
    assert (model.get_output_embeddings().weight is model.get_input_embeddings().weight) == tied
    return model


def _batch(model) -> Batch:
    gen = torch.Generator(device="cpu").manual_seed(1)
    prompt_ids = torch.randint(2, VOCAB, (2, 5), generator=gen, device="cpu")
    prompt_mask = torch.ones(2, 5, dtype=torch.long, device="cpu")
    prompt_mask[1, :2] = 0  # left padding
    prompt_ids[1, :2] = 0
    out = sample(model, prompt_ids, prompt_mask, max_new_tokens=7, temperature=TEMPERATURE, eos_id=1, pad_id=0,
                 generator=gen, repeat=GROUP)
    return Batch(prompt_ids, prompt_mask, out, torch.zeros(2, GROUP), torch.zeros(2, GROUP), [0, 1])


def _full_logits_pass(model, batch, temperature):
    """The pass this replaced: the model's own forward returns (rows, T, vocab) logits (a shared prompt cache,
    logits for the last prompt position and every completion position), then the selective log-softmax."""
    prompt_ids, prompt_mask, tokens = batch.prompt_ids, batch.prompt_mask, batch.completions.tokens
    width = tokens.shape[1] - 1
    cache = DynamicCache()
    first = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions(prompt_mask),
                  logits_to_keep=1, **with_cache(model, cache)).logits[:, -1:]
    cache.batch_repeat_interleave(GROUP)
    attention = torch.cat([prompt_mask.repeat_interleave(GROUP, 0), batch.completions.mask.long()], 1)
    start = prompt_mask.sum(-1, keepdim=True).repeat_interleave(GROUP, 0)
    rest = model(input_ids=tokens[:, :-1], attention_mask=attention[:, :-1],
                 position_ids=start + torch.arange(width), **with_cache(model, cache)).logits
    return selective_logprobs(torch.cat([first.repeat_interleave(GROUP, 0), rest], 1), tokens, temperature)


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_chunked_head_pass_equals_the_full_logits_pass(monkeypatch, arch, tied, checkpointing):
    model = _model(arch, tied)
    batch = _batch(model)
    rows = torch.arange(2 * GROUP)
    weights = torch.randn(batch.completions.tokens.shape, generator=torch.Generator().manual_seed(2))
    ref_logp, ref_entropy = _full_logits_pass(model, batch, TEMPERATURE)
    (ref_logp * weights).sum().backward()
    ref_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    if checkpointing:
        enable_gradient_checkpointing(model)
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", 4 * VOCAB)  # 4 positions a chunk: 6 rows x 8 make 12 chunks
    logp, entropy = completion_logprobs(model, batch, rows, TEMPERATURE, backward=True)
    (logp * weights).sum().backward()
    torch.testing.assert_close(logp, ref_logp, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(entropy, ref_entropy, atol=1e-6, rtol=1e-6)
    assert not entropy.requires_grad
    # Relative to the largest gradient: a key bias's gradient is ~0 in exact arithmetic, only rounding is left.
    scale = max(float(ref.abs().max()) for ref in ref_grads)
    for grad, ref in zip(_grads(model), ref_grads):
        torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-6 * scale)


def test_fp32_lm_head_projects_bf16_hidden_states_in_fp32(monkeypatch):
    """An untied head, so its gradient is fp32 arithmetic alone (a tied one also gets the bf16 body's)."""
    model = apply_precision(_model("qwen2", tied=False), "fp32_lm_head")
    batch = _batch(model)
    head_inputs = []
    model.get_output_embeddings().register_forward_hook(lambda module, args, out: head_inputs.append(args[0].dtype))
    ref_logp, ref_entropy = _full_logits_pass(model, batch, TEMPERATURE)
    ref_logp.sum().backward()
    ref_head = model.get_output_embeddings().weight.grad.clone()
    model.zero_grad(set_to_none=True)
    head_inputs.clear()
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", 5 * VOCAB)
    logp, entropy = completion_logprobs(model, batch, torch.arange(2 * GROUP), TEMPERATURE, backward=True)
    logp.sum().backward()
    assert set(head_inputs) == {torch.float32} and len(head_inputs) > 2
    torch.testing.assert_close(logp, ref_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy, ref_entropy, atol=1e-5, rtol=0)
    head = model.get_output_embeddings().weight.grad
    assert head.dtype == torch.float32
    torch.testing.assert_close(head, ref_head, rtol=1e-5, atol=1e-6 * float(ref_head.abs().max()))


@pytest.mark.parametrize("grad", [True, False])
def test_head_sees_only_completion_positions_a_chunk_at_a_time(monkeypatch, grad):
    """Forward and backward: the head never gets a prompt position nor more than a chunk of positions."""
    model = _model("llama", tied=True)
    batch = _batch(model)
    seen = []
    model.lm_head.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", 4 * VOCAB)
    with torch.set_grad_enabled(grad):
        logp, _ = completion_logprobs(model, batch, torch.arange(2 * GROUP), TEMPERATURE, backward=grad)
    positions_needed = batch.completions.tokens.numel()
    assert all(len(s) == 2 and s[0] <= 4 for s in seen)
    assert sum(s[0] for s in seen) == positions_needed
    if grad:
        seen.clear()
        logp.sum().backward()  # the backward recomputes each chunk's logits, once
        assert all(s[0] <= 4 for s in seen) and sum(s[0] for s in seen) == positions_needed


def test_sampler_projects_one_position_per_row():
    model = _model("qwen2", tied=False)
    seen = []
    model.lm_head.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    batch = _batch(model)
    steps = batch.completions.tokens.shape[1]
    assert seen[0] == (2, 1, VOCAB)  # the prefill: the last prompt position of each prompt only
    assert all(s[1] == 1 for s in seen) and len(seen) == steps


def test_logit_transforming_heads_are_refused():
    model = _model("llama", tied=True)
    model.config.final_logit_softcapping = 30.0
    with pytest.raises(ValueError, match="final_logit_softcapping"), head_replaced(model):
        pass
    assert isinstance(model.lm_head, torch.nn.Linear)


def test_the_real_head_is_back_after_a_failing_forward():
    model = _model("qwen2", tied=True)
    head = model.lm_head
    with pytest.raises(RuntimeError, match="boom"), head_replaced(model):
        assert model.lm_head is not head
        raise RuntimeError("boom")
    assert model.lm_head is head and model.get_output_embeddings() is head
