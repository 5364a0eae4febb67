"""s1 budget forcing (Muennighoff et al. 2025) as a per-step controller of the sampler.

A thinking task writes a thinking section, an end-of-thinking marker, then its answer. Given a budget
(`min_tokens`, `max_tokens`) of thinking tokens:

- at `max_tokens` model-written thinking tokens, the end marker and the answer prefix are forced in
  (s1: "</think>" then "Final Answer:"), and the model writes the answer;
- below `min_tokens`, a sampled end marker (or EOS) is discarded and "Wait" is forced in its place, so
  thinking continues (s1's extension).

Forced tokens are returned as a mask, which `scaling.rl.rollout.sample` stores in `Completions.forced`:
they get no sampler log-prob, no loss and are never counted as model tokens. The controller is
vectorised over rows and keeps its state on the sampler's device (no host round trip per step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from scaling.rl.rollout import as_stop_ids

NO_SEQUENCE, WAIT, STOP = -1, 0, 1


@dataclass(frozen=True)
class Budget:
    """A thinking budget: force the end at `max_tokens` (None: never), extend with "Wait" below `min_tokens`."""

    min_tokens: int = 0
    max_tokens: int | None = None

    def __post_init__(self):
        if self.min_tokens < 0 or (self.max_tokens is not None and self.max_tokens < 0):
            raise ValueError(f"budget {self.label}: token counts must be >= 0")
        if self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(f"budget {self.label}: the minimum exceeds the maximum")

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """`MAX`, `MIN:MAX` or `MIN:` (thinking tokens)."""
        low, sep, high = text.partition(":")
        try:
            if not sep:
                return cls(0, int(text))
            return cls(int(low) if low else 0, int(high) if high else None)
        except ValueError as err:
            if "budget" in str(err):
                raise
            raise ValueError(f"--budget {text!r}: expected MAX, MIN:MAX or MIN: (thinking tokens)") from None

    @property
    def label(self) -> str:
        return f"{self.min_tokens}:{'' if self.max_tokens is None else self.max_tokens}"


def single_token(tokenizer, text: str, what: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"{what} {text!r} must be one token for this tokenizer (it is {len(ids)})")
    return ids[0]


class BudgetForcing:
    """Call with each step's sampled tokens; returns the tokens to emit and which of them are forced."""

    def __init__(self, rows: int, budget: Budget, *, end_id: int, eos_id: int | Sequence[int], wait_ids: list[int],
                 stop_ids: list[int], device: torch.device | str):
        if not wait_ids or not stop_ids or stop_ids[0] != end_id:
            raise ValueError("budget forcing: the wait text must be non-empty and the forced stop must start with the end marker")
        width = max(len(wait_ids), len(stop_ids))
        pad = lambda ids: ids + [ids[-1]] * (width - len(ids))
        self.seqs = torch.tensor([pad(wait_ids), pad(stop_ids)], dtype=torch.long, device=device)
        self.lens = torch.tensor([len(wait_ids), len(stop_ids)], dtype=torch.long, device=device)
        self.end_id, self.budget = end_id, budget
        self.stops = torch.tensor(as_stop_ids(eos_id), dtype=torch.long, device=device)  # any of them ends a row
        self.kind = torch.full((rows,), NO_SEQUENCE, dtype=torch.long, device=device)
        self.pos = torch.zeros(rows, dtype=torch.long, device=device)
        self.thinking = torch.ones(rows, dtype=torch.bool, device=device)
        self.count = torch.zeros(rows, dtype=torch.long, device=device)  # model-written thinking tokens
        if budget.max_tokens == 0:
            self.kind.fill_(STOP)

    def __call__(self, sampled: torch.Tensor, alive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        busy = self.kind >= 0
        kind = self.kind.clamp(min=0)
        out = torch.where(busy, self.seqs[kind, self.pos], sampled)
        forced = busy.clone()
        self._advance(busy, kind)
        own = ~busy & alive & self.thinking
        stop = own & ((sampled == self.end_id) | torch.isin(sampled, self.stops))
        early = stop & (self.count < self.budget.min_tokens)
        out = torch.where(early, self.seqs[WAIT, 0], out)
        forced |= early
        if int(self.lens[WAIT]) > 1:
            self.kind = torch.where(early, WAIT, self.kind)
            self.pos = torch.where(early, 1, self.pos)
        self.thinking &= ~(stop & ~early & (sampled == self.end_id))  # the model ended its thinking itself
        grow = own & ~stop
        self.count += grow.long()
        if self.budget.max_tokens is not None:
            hit = grow & (self.count >= self.budget.max_tokens)
            self.kind = torch.where(hit, STOP, self.kind)
            self.pos = torch.where(hit, 0, self.pos)
        return out, forced

    def _advance(self, busy: torch.Tensor, kind: torch.Tensor) -> None:
        self.pos = torch.where(busy, self.pos + 1, self.pos)
        done = busy & (self.pos >= self.lens[kind])
        self.thinking &= ~(done & (self.kind == STOP))
        self.kind = torch.where(done, NO_SEQUENCE, self.kind)
        self.pos = torch.where(done, 0, self.pos)


def thinking_tokens(tokens: torch.Tensor, action_mask: torch.Tensor, end_id: int,
                    eos_id: int | Sequence[int]) -> torch.Tensor:
    """Model-written tokens before the first end-of-thinking marker (forced ones and stop ids excluded), per row."""
    is_end = tokens == end_id
    before = torch.cumsum(is_end.long(), dim=1) == 0
    stops = torch.tensor(as_stop_ids(eos_id), dtype=torch.long, device=tokens.device)
    own = action_mask.bool() & ~torch.isin(tokens, stops)
    return (own & before).sum(dim=1)
