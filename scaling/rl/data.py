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
            self.cursor += 1
            if self.active[index] and index not in picked:
                picked.append(index)
        return picked

    def retire(self, indices: list[int]) -> None:
        self.active[indices] = False

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "active": self.active.copy(),
                "order": self.order.copy(), "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.active, self.order, self.cursor = state["active"], state["order"], state["cursor"]
