"""Per-token log-probs and entropy of chosen tokens without a (rows, T, vocab) log-softmax in memory.

`log_softmax(logits / temperature)` over the whole batch holds a float32 tensor as large as the
logits, and autograd keeps it for the backward pass: at vocabulary 150k and 4k tokens per row that
is hundreds of GB. Only the chosen token's log-prob is needed (TRL's `selective_log_softmax`, veRL's
`logprobs_from_logits` do the same), so it is computed as `z[token] - logsumexp(z)` in chunks of
positions, and the backward recomputes each chunk's softmax from the logits instead of storing it:
`d logp / d z = onehot(token) - softmax(z)`. Peak extra memory is one chunk, whatever the batch.
"""

from __future__ import annotations

import torch

# Positions per chunk are sized so one chunk's float32 copy of the logits stays near this many elements (256 MiB).
CHUNK_ELEMENTS = 1 << 26


def _chunks(count: int, vocab: int, chunk_elements: int):
    step = max(1, chunk_elements // max(1, vocab))
    return [(lo, min(count, lo + step)) for lo in range(0, count, step)]


class _SelectiveLogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, tokens, temperature, chunk_elements):
        flat, chosen = logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1)
        logp = torch.empty(chosen.shape, dtype=torch.float32, device=logits.device)
        entropy = torch.empty(chosen.shape, dtype=torch.float32, device=logits.device)
        for lo, hi in _chunks(flat.shape[0], flat.shape[1], chunk_elements):
            z = flat[lo:hi].float() / temperature
            logp_all = torch.log_softmax(z, dim=-1)  # of one chunk only
            logp[lo:hi] = logp_all.gather(-1, chosen[lo:hi, None]).squeeze(-1)
            entropy[lo:hi] = -(logp_all.exp() * logp_all).sum(-1)
        ctx.save_for_backward(logits, tokens)
        ctx.temperature, ctx.chunk_elements = temperature, chunk_elements
        logp, entropy = logp.view(tokens.shape), entropy.view(tokens.shape)
        ctx.mark_non_differentiable(entropy)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, _grad_entropy):
        logits, tokens = ctx.saved_tensors
        flat, chosen = logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1)
        grad = grad_logp.reshape(-1).float() / ctx.temperature
        out = torch.empty_like(flat)
        for lo, hi in _chunks(flat.shape[0], flat.shape[1], ctx.chunk_elements):
            probs = torch.softmax(flat[lo:hi].float() / ctx.temperature, dim=-1)
            part = -probs * grad[lo:hi, None]
            part.scatter_add_(-1, chosen[lo:hi, None], grad[lo:hi, None])
            out[lo:hi] = part.to(out.dtype)
        return out.view_as(logits), None, None, None


def selective_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0,
                       chunk_elements: int = CHUNK_ELEMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-prob of `tokens`, entropy) per position under softmax(logits / temperature), both float32.

    `logits` is (..., V) in any dtype, `tokens` (...) the chosen ids. The log-prob carries gradients to
    the logits; the entropy is a detached statistic.
    """
    return _SelectiveLogSoftmax.apply(logits, tokens, float(temperature), int(chunk_elements))
