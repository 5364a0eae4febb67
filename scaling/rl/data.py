"""The training prompt pool: epoch-shuffled order, and the prompts retired by the curriculum."""

from __future__ import annotations

import numpy as np


class PromptPool:
    """Draws training prompt indices; no-positive-resampling (ScaleRL) retires prompts for good."""

    def __init__(self, size: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.active = np.ones(size, dtype=bool)
        self.order = np.empty(0, dtype=np.int64)
        self.cursor = 0
        # Prompts with at least one full-reward sample so far (verifier coverage over the run).
        self.solved = np.zeros(size, dtype=bool)

    @property
    def remaining(self) -> int:
        return int(self.active.sum())

    @property
    def retired(self) -> int:
        return int((~self.active).sum())

    def draw(self, count: int) -> list[int]:
        """`count` distinct active prompts (fewer if fewer remain)."""
        picked: list[int] = []
        count = min(count, self.remaining)
        while len(picked) < count:
            if self.cursor >= len(self.order):
                self.order = self.rng.permutation(np.flatnonzero(self.active))
                self.cursor = 0
            index = int(self.order[self.cursor])
            if self.active[index] and index in picked:
                # A new epoch began inside this draw and starts with a prompt the draw already holds: defer it
                # to later in the epoch (swap with the next unpicked active one) instead of skipping it, so every
                # epoch still serves each active prompt exactly once.
                later = next(j for j in range(self.cursor + 1, len(self.order))
                             if self.active[self.order[j]] and int(self.order[j]) not in picked)
                self.order[self.cursor], self.order[later] = self.order[later], self.order[self.cursor]
                index = int(self.order[self.cursor])
            self.cursor += 1
            if self.active[index]:
                picked.append(index)
        return picked

    @property
    def solved_frac(self) -> float:
        return float(self.solved.mean()) if len(self.solved) else 0.0

    def mark_solved(self, indices: list[int]) -> None:
        self.solved[indices] = True

    def retire(self, indices: list[int]) -> None:
        self.active[indices] = False

    def record(self, indices: list[int], successes: list[float], attempts: int, retire_at: float | None) -> list[int]:
        """No-positive-resampling (ScaleRL): retire the prompts whose pass rate in this batch reached `retire_at`.

        The rate is this sampling's alone, not a lifetime average: a prompt the policy now solves retires
        even if it failed every earlier epoch."""
        if retire_at is None:
            return []
        solved = [i for i, s in zip(indices, successes) if s / attempts >= retire_at]
        self.retire(solved)
        return solved

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "active": self.active.copy(),
                "order": self.order.copy(), "cursor": self.cursor, "solved": self.solved.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        # Copies: retire() and draw() change these in place, and the saved dict must stay as it was saved.
        self.active, self.order = state["active"].copy(), state["order"].copy()
        self.cursor = state["cursor"]
        if "solved" in state:  # checkpoints written before coverage was tracked start from none solved
            self.solved = state["solved"].copy()
