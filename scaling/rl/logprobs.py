"""Per-token log-probs and entropy of chosen tokens without a (rows, T, vocab) log-softmax in memory.

`log_softmax(logits / temperature)` over the whole batch holds a float32 tensor as large as the
logits, and autograd keeps it for the backward pass: at vocabulary 150k and 4k tokens per row that
is hundreds of GB. Only the chosen token's log-prob is needed (TRL's `selective_log_softmax`, veRL's
`logprobs_from_logits` do the same), so it is computed as `z[token] - logsumexp(z)` in chunks of
positions, and the backward recomputes each chunk's softmax from the logits instead of storing it:
`d logp / d z = onehot(token) - softmax(z)`. Peak extra memory is one chunk, whatever the batch.

The logits themselves are (rows, T, vocab) too (1.2 GB per 4k-token row at vocabulary 152k in bf16), so the
training pass never asks the model for them: `head_logprobs` takes the decoder's final hidden states and
projects one chunk of positions at a time through the LM head inside activation checkpointing (the idea of
Liger's fused linear cross-entropy), so neither the forward nor the backward holds more than one chunk's logits.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

# Positions per chunk are sized so one chunk's float32 copy of the logits stays near this many elements (256 MiB).
CHUNK_ELEMENTS = 1 << 26


def _chunks(count: int, vocab: int, chunk_elements: int | None = None):
    chunk_elements = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    step = max(1, chunk_elements // max(1, vocab))
    return [(lo, min(count, lo + step)) for lo in range(0, count, step)]


def _scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """float32 logits divided by the temperature; fp32 logits at temperature 1 come back as they are (x / 1 == x
    exactly, and a chunk-sized copy is saved)."""
    z = logits.float()
    return z if temperature == 1.0 else z / temperature


class _SelectiveLogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, tokens, temperature, chunk_elements):
        flat, chosen = logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1)
        logp = torch.empty(chosen.shape, dtype=torch.float32, device=logits.device)
        entropy = torch.empty(chosen.shape, dtype=torch.float32, device=logits.device)
        for lo, hi in _chunks(flat.shape[0], flat.shape[1], chunk_elements):
            logp_all = torch.log_softmax(_scaled(flat[lo:hi], temperature), dim=-1)  # of one chunk only
            logp[lo:hi] = logp_all.gather(-1, chosen[lo:hi, None]).squeeze(-1)
            entropy[lo:hi] = -logp_all.exp().mul_(logp_all).sum(-1)
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
        chunks = _chunks(flat.shape[0], flat.shape[1], ctx.chunk_elements)
        out = None if len(chunks) == 1 else torch.empty_like(flat)
        for lo, hi in chunks:
            part = torch.softmax(_scaled(flat[lo:hi], ctx.temperature), dim=-1)
            part.mul_(-grad[lo:hi, None])
            part.scatter_add_(-1, chosen[lo:hi, None], grad[lo:hi, None])
            if out is None:  # one chunk (each chunk of head_logprobs): no second buffer to copy it into
                return part.to(flat.dtype).view_as(logits), None, None, None
            out[lo:hi] = part.to(out.dtype)
        return out.view_as(logits), None, None, None


def selective_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0,
                       chunk_elements: int = CHUNK_ELEMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-prob of `tokens`, entropy) per position under softmax(logits / temperature), both float32.

    `logits` is (..., V) in any dtype, `tokens` (...) the chosen ids. The log-prob carries gradients to
    the logits; the entropy is a detached statistic.
    """
    return _SelectiveLogSoftmax.apply(logits, tokens, float(temperature), int(chunk_elements))


def head_logprobs(hidden: torch.Tensor, head: torch.nn.Module, tokens: torch.Tensor, temperature: float = 1.0,
                  chunk_elements: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`selective_logprobs(head(hidden), tokens, temperature)` without the (..., vocab) logits in memory.

    `hidden` (..., H) are the final hidden states at the positions that predict `tokens` (...); `head` is the
    LM head module, called as the model calls it (its hooks apply: fp32_lm_head casts the input to fp32 there).
    Each chunk of positions is projected inside activation checkpointing, so autograd keeps only the hidden
    states and the backward recomputes one chunk's logits at a time.
    """
    flat, chosen = hidden.reshape(-1, hidden.shape[-1]), tokens.reshape(-1)
    vocab = head.weight.shape[0]
    chunks = _chunks(flat.shape[0], vocab, chunk_elements)
    # A single chunk's logits, kept for the backward, are no more than its recomputation would hold: no checkpoint.
    track = len(chunks) > 1 and torch.is_grad_enabled() and (
        hidden.requires_grad or any(p.requires_grad for p in head.parameters()))
    parts = []
    for lo, hi in chunks:
        args = (head, flat[lo:hi], chosen[lo:hi], float(temperature))
        # The head draws no random numbers, so the RNG state need not be saved for the recomputation.
        parts.append(checkpoint(_project, *args, use_reentrant=False, preserve_rng_state=False) if track
                     else _project(*args))
    if not parts:
        empty = torch.zeros(tokens.shape, dtype=torch.float32, device=hidden.device)
        return empty, empty.clone()
    return (torch.cat([p[0] for p in parts]).view(tokens.shape),
            torch.cat([p[1] for p in parts]).view(tokens.shape))


def _project(head, hidden, tokens, temperature):
    logits = head(hidden)
    return selective_logprobs(logits, tokens, temperature, logits.numel())
