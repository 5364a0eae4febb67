"""Batched sampling with a KV cache, keeping the sampler's own per-token log-probs.

A hand-written loop instead of `generate`: it takes an explicit `torch.Generator` (so a resumed
run draws exactly the samples an uninterrupted one would), returns log-probs under the
temperature-scaled distribution without a second pass, and stops as soon as every row hit a stop id
(`eos_id`: one EOS id or several, e.g. a chat model's end-of-turn and end-of-text; any of them ends a row).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from scaling.model import stop_ids
from scaling.rl.prompts import encode_prompts  # noqa: F401  (prompt rendering lives there; imported from here too)


@dataclass
class Completions:
    tokens: torch.Tensor      # (B, T) sampled ids, pad after the stop id
    logprobs: torch.Tensor    # (B, T) sampler log-probs of those ids (0 where masked or forced)
    mask: torch.Tensor        # (B, T) 1 for tokens up to and including the stop id
    truncated: torch.Tensor   # (B,) True where no stop id came within the budget
    forced: torch.Tensor | None = None  # (B, T) True for interruption tokens written by us, not sampled

    def to(self, device: torch.device | str) -> "Completions":
        move = lambda t: None if t is None else t.to(device)
        return Completions(move(self.tokens), move(self.logprobs), move(self.mask), move(self.truncated),
                           move(self.forced))

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1)

    @property
    def action_mask(self) -> torch.Tensor:
        """Tokens the policy chose: the ones a policy loss may train on."""
        return self.mask if self.forced is None else self.mask * (~self.forced)


@functools.cache
def _cache_keyword(model_class: type) -> str:
    """transformers 5.2x renamed `past_key_values` to `cache` (the old name warns on every call); older
    releases only know the old name. Ask the model's own signature rather than silencing the warning."""
    params = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def with_cache(model, cache) -> dict:
    """The keyword arguments that hand `cache` to `model`'s forward, under the name its transformers uses."""
    inner = getattr(model, "module", model)  # a DistributedDataParallel wrapper forwards keywords as they are
    return {_cache_keyword(type(inner)): cache, "use_cache": True}


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (a plain forward does not do this)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class _Decoder:
    """A KV-cached forward over a growing batch; tokens appended are fed lazily, several at a time."""

    def __init__(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, repeat: int = 1):
        self.model, self.cache = model, DynamicCache()
        pos = positions(attention_mask)
        logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos,
                       logits_to_keep=1, **with_cache(model, self.cache)).logits[:, -1]
        if repeat > 1:  # a group's prompt is computed once and its cache shared by its G samples
            self.cache.batch_repeat_interleave(repeat)
        self.logits = logits.repeat_interleave(repeat, 0)
        self.mask = attention_mask.repeat_interleave(repeat, 0)
        self.next_pos = (pos[:, -1:] + 1).repeat_interleave(repeat, 0)
        self.unfed: list[torch.Tensor] = []

    def next_logits(self) -> torch.Tensor:
        if self.unfed:
            new = torch.stack(self.unfed, 1)
            self.unfed = []
            width = new.shape[1]
            ones = torch.ones(new.shape[0], width, dtype=self.mask.dtype, device=new.device)
            self.mask = torch.cat([self.mask, ones], dim=1)
            pos = self.next_pos + torch.arange(width, device=new.device)
            self.logits = self.model(input_ids=new, attention_mask=self.mask, position_ids=pos,
                                     logits_to_keep=1, **with_cache(self.model, self.cache)).logits[:, -1]
            self.next_pos = self.next_pos + width
        return self.logits


@dataclass
class _Columns:
    tokens: list = field(default_factory=list)
    logprobs: list = field(default_factory=list)
    alive: list = field(default_factory=list)
    forced: list = field(default_factory=list)

    def add(self, tok, logp, alive, forced, pad_id: int) -> torch.Tensor:
        """`forced`: a bool for the whole column, or a (B,) mask of rows whose token was written by us."""
        forced = forced if isinstance(forced, torch.Tensor) else torch.full_like(alive, bool(forced))
        column = torch.where(alive, tok, torch.full_like(tok, pad_id))
        self.tokens.append(column)
        self.logprobs.append(torch.where(alive & ~forced, logp, torch.zeros_like(logp)))
        self.alive.append(alive.clone())
        self.forced.append(alive & forced)
        return column


def as_stop_ids(eos_id: int | Sequence[int]) -> list[int]:
    """`sample`'s `eos_id`, one id or several, as a list."""
    return [int(eos_id)] if isinstance(eos_id, int) else [int(i) for i in eos_id]


def _decode(dec: _Decoder, cols: _Columns, alive: torch.Tensor, steps: int, temperature: float, stops: torch.Tensor,
            pad_id: int, generator, greedy: bool, forcing=None) -> torch.Tensor:
    for _ in range(steps):
        if not alive.any():
            break
        logp = torch.log_softmax(dec.next_logits().float() / temperature, dim=-1)
        tok = logp.argmax(-1) if greedy else torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        forced = False
        if forcing is not None:  # e.g. s1 budget forcing (scaling.infer.budget): may overwrite some rows' tokens
            tok, forced = forcing(tok, alive)
        dec.unfed.append(cols.add(tok, logp.gather(-1, tok[:, None]).squeeze(-1), alive, forced, pad_id))
        alive = alive & ~torch.isin(tok, stops)
    return alive


@torch.no_grad()
def sample(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, max_new_tokens: int,
           temperature: float, eos_id: int | Sequence[int], pad_id: int, generator: torch.Generator | None = None,
           greedy: bool = False, interrupt_ids: list[int] | None = None, interrupt_budget: int = 0,
           repeat: int = 1, forcing=None) -> Completions:
    """`repeat` samples for each prompt row (prompt-major), up to `max_new_tokens` each, a row ending at the first of
    its stop ids (`eos_id`, one or several); rows still going then
    get `interrupt_ids` appended (ScaleRL's forced interruption: a phrase that closes the thinking and opens
    the answer) and `interrupt_budget` more tokens. `forcing(sampled, alive) -> (tokens, forced_mask)`, when
    given, sees every step's sampled tokens and may replace some rows' with its own (marked forced)."""
    stops = torch.tensor(as_stop_ids(eos_id), dtype=torch.long, device=input_ids.device)
    dec = _Decoder(model, input_ids, attention_mask, repeat)
    cols = _Columns()
    alive = torch.ones(input_ids.shape[0] * repeat, dtype=torch.bool, device=input_ids.device)
    alive = _decode(dec, cols, alive, max_new_tokens, temperature, stops, pad_id, generator, greedy, forcing)
    interrupted = bool(interrupt_ids) and bool(alive.any())
    if interrupted:
        for forced_id in interrupt_ids:
            dec.unfed.append(cols.add(torch.full_like(alive, forced_id, dtype=torch.long), torch.zeros(alive.shape, device=alive.device),
                                      alive, True, pad_id))
        alive = _decode(dec, cols, alive, interrupt_budget, temperature, stops, pad_id, generator, greedy)
    return Completions(tokens=torch.stack(cols.tokens, 1), logprobs=torch.stack(cols.logprobs, 1),
                       mask=torch.stack(cols.alive, 1).float(), truncated=alive,
                       forced=torch.stack(cols.forced, 1) if interrupted or forcing is not None else None)


def sampling_options(rollout, tokenizer, model) -> dict:
    """The keyword arguments of `sample` that a RolloutConfig and the policy fix (shared by training, evaluation,
    pipeline): the stop ids are the tokenizer's EOS and those of `model`'s generation_config."""
    interrupt = tokenizer.encode(rollout.interrupt_text, add_special_tokens=False) if rollout.interrupt_text else None
    return {"max_new_tokens": rollout.max_new_tokens, "temperature": rollout.temperature,
            "eos_id": stop_ids(model, tokenizer), "pad_id": tokenizer.pad_token_id,
            "interrupt_ids": interrupt, "interrupt_budget": rollout.interrupt_budget}


def completion_budget(rollout, tokenizer) -> int:
    """The longest a completion can be: the budget, plus the forced interruption and its own budget."""
    if not rollout.interrupt_text:
        return rollout.max_new_tokens
    forced = len(tokenizer.encode(rollout.interrupt_text, add_special_tokens=False))
    return rollout.max_new_tokens + forced + rollout.interrupt_budget


def decode(tokenizer, completions: Completions) -> list[str]:
    """Completion texts without their stop id and padding.

    A row that was not truncated ends with exactly one stop id, whichever it was, so that last token is dropped
    (special tokens are skipped by the tokenizer too, but a stop id need not be a special token)."""
    texts = []
    ended = (~completions.truncated).long().tolist()
    for row, length, stop in zip(completions.tokens.tolist(), completions.lengths.long().tolist(), ended):
        ids = row[:length - stop]
        texts.append(tokenizer.decode(ids, skip_special_tokens=True))
    return texts
