"""The chunked selective log-softmax equals the full log-softmax: values, entropy and gradients."""

from __future__ import annotations

import pytest
import torch

from scaling.rl.logprobs import head_logprobs, selective_logprobs


def _full(logits, tokens, temperature):
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp_all.gather(-1, tokens[..., None]).squeeze(-1), -(logp_all.exp() * logp_all).sum(-1)


@pytest.mark.parametrize("chunk_elements", [1, 7 * 50, 1 << 26])  # one position per chunk, uneven chunks, one chunk
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_matches_full_log_softmax_in_fp32(chunk_elements, temperature):
    gen = torch.Generator(device="cpu").manual_seed(0)
    logits = (3 * torch.randn(5, 9, 50, generator=gen, device="cpu")).requires_grad_(True)
    tokens = torch.randint(0, 50, (5, 9), generator=gen, device="cpu")
    weights = torch.randn(5, 9, generator=gen, device="cpu")
    logp, entropy = selective_logprobs(logits, tokens, temperature, chunk_elements)
    (logp * weights).sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    ref_logp, ref_entropy = _full(logits, tokens, temperature)
    (ref_logp * weights).sum().backward()
    torch.testing.assert_close(logp, ref_logp, atol=1e-6, rtol=0)
    torch.testing.assert_close(entropy, ref_entropy, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad, logits.grad, atol=1e-6, rtol=0)
    assert not entropy.requires_grad


def test_gradcheck_in_float64():
    gen = torch.Generator(device="cpu").manual_seed(1)
    logits = torch.randn(3, 4, 11, generator=gen, device="cpu", dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 11, (3, 4), generator=gen, device="cpu")
    # The forward is float32 by design; check the analytic backward against finite differences of that.
    fn = lambda x: selective_logprobs(x, tokens, 0.9, 11 * 5)[0].double()
    assert torch.autograd.gradcheck(fn, (logits,), eps=1e-3, atol=1e-3, rtol=1e-3)


def test_low_precision_logits_keep_their_dtype_in_the_gradient():
    gen = torch.Generator(device="cpu").manual_seed(2)
    logits = torch.randn(2, 3, 16, generator=gen, device="cpu").bfloat16().requires_grad_(True)
    tokens = torch.randint(0, 16, (2, 3), generator=gen, device="cpu")
    logp, _ = selective_logprobs(logits, tokens)
    logp.sum().backward()
    assert logp.dtype == torch.float32 and logits.grad.dtype == torch.bfloat16
    torch.testing.assert_close(logp, _full(logits, tokens, 1.0)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("chunk_elements", [1, 3 * 50, 1 << 26])  # a position per chunk, uneven chunks, one chunk
def test_head_logprobs_equal_the_projected_logits_pass(chunk_elements):
    gen = torch.Generator(device="cpu").manual_seed(3)
    head = torch.nn.Linear(8, 50, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.randn(50, 8, generator=gen, device="cpu"))
    hidden = torch.randn(4, 5, 8, generator=gen, device="cpu", requires_grad=True)
    tokens = torch.randint(0, 50, (4, 5), generator=gen, device="cpu")
    logp, entropy = head_logprobs(hidden, head, tokens, 0.7, chunk_elements)
    logp.sum().backward()
    grads = hidden.grad.clone(), head.weight.grad.clone()
    hidden.grad, head.weight.grad = None, None
    ref_logp, ref_entropy = _full(head(hidden), tokens, 0.7)
    ref_logp.sum().backward()
    torch.testing.assert_close(logp, ref_logp, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(entropy, ref_entropy, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grads[0], hidden.grad, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(grads[1], head.weight.grad, atol=1e-6, rtol=1e-5)
