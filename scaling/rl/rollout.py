"""Batched sampling with a KV cache, keeping the sampler's own per-token log-probs.

A hand-written loop instead of `generate`: it takes an explicit `torch.Generator` (so a resumed
run draws exactly the samples an uninterrupted one would), returns log-probs under the
temperature-scaled distribution without a second pass, and stops as soon as every row hit EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache


@dataclass
class Completions:
    tokens: torch.Tensor      # (B, T) sampled ids, pad after EOS
    logprobs: torch.Tensor    # (B, T) sampler log-probs of those ids (0 where masked)
    mask: torch.Tensor        # (B, T) 1 for tokens up to and including EOS
    truncated: torch.Tensor   # (B,) True where no EOS came within the budget

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1)


def encode_prompts(tokenizer, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and attention mask (no special tokens added)."""
    batch = tokenizer(prompts, padding=True, add_special_tokens=False, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (a plain forward does not do this)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def sample(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, max_new_tokens: int,
           temperature: float, eos_id: int, pad_id: int, generator: torch.Generator | None = None,
           greedy: bool = False) -> Completions:
    batch = input_ids.shape[0]
    cache = DynamicCache()
    mask = attention_mask.clone()
    pos = positions(mask)
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                   use_cache=True, logits_to_keep=1).logits[:, -1]
    next_pos = pos[:, -1:] + 1
    tokens, logprobs, alive_steps = [], [], []
    alive = torch.ones(batch, dtype=torch.bool)
    for step in range(max_new_tokens):
        logp = torch.log_softmax(logits.float() / temperature, dim=-1)
        if greedy:
            tok = logp.argmax(-1)
        else:
            tok = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        tok_logp = logp.gather(-1, tok[:, None]).squeeze(-1)
        alive_steps.append(alive.clone())
        tokens.append(torch.where(alive, tok, torch.full_like(tok, pad_id)))
        logprobs.append(torch.where(alive, tok_logp, torch.zeros_like(tok_logp)))
        alive = alive & (tok != eos_id)
        if not alive.any() or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones(batch, 1, dtype=mask.dtype)], dim=1)
        logits = model(input_ids=tokens[-1][:, None], attention_mask=mask, position_ids=next_pos,
                       past_key_values=cache, use_cache=True).logits[:, -1]
        next_pos = next_pos + 1
    return Completions(tokens=torch.stack(tokens, 1), logprobs=torch.stack(logprobs, 1),
                       mask=torch.stack(alive_steps, 1).float(), truncated=alive)


def decode(tokenizer, completions: Completions) -> list[str]:
    """Completion texts with EOS and padding removed."""
    texts = []
    for row, length in zip(completions.tokens.tolist(), completions.lengths.long().tolist()):
        ids = [t for t in row[:length] if t != tokenizer.eos_token_id]
        texts.append(tokenizer.decode(ids, skip_special_tokens=True))
    return texts
