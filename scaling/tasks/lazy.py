"""A task's examples built on first use: for procedural generators whose entries are slow to make.

A `LazyExamples` is a read-only sequence of fixed length whose i-th example is a pure function of i (`build(i)`),
made the first time it is read and kept. The prompt pool, the step and evaluation only index it, so a run touches
the examples it samples: 20,000 countdown prompts (~7 ms each) no longer cost minutes before the first step, and
the same index gives the same example in any order of access, in every process (resume, data-parallel ranks).

What must read every example up front reads `upfront(examples)` instead: a list is returned whole; a lazy set gives
its first UPFRONT examples (a generator writes every prompt from one template, so these stand for the rest). The
warm start takes `with_demonstrations(examples)`: a lazy set's builder must give every example a demonstration,
since filtering it would make every example at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload

from scaling.tasks.base import Example

UPFRONT = 64


class LazyExamples(Sequence):
    def __init__(self, size: int, build: Callable[[int], Example], indices: range | None = None,
                 store: dict[int, Example] | None = None):
        self._build, self._indices = build, indices if indices is not None else range(size)
        self._store = store if store is not None else {}  # shared by slices: an example is built once

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> Example: ...
    @overload
    def __getitem__(self, i: slice) -> "LazyExamples": ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return LazyExamples(0, self._build, self._indices[i], self._store)
        key = self._indices[i]  # IndexError past the end, negative indices count from it
        if key not in self._store:
            self._store[key] = self._build(key)
        return self._store[key]

    @property
    def built(self) -> int:
        """How many examples were made so far (shared with every slice of the same set)."""
        return len(self._store)


def upfront(examples: Sequence[Example]) -> Sequence[Example]:
    """The examples to check before a run starts: all of a list, the first UPFRONT of a lazy set."""
    return list(examples[:UPFRONT]) if isinstance(examples, LazyExamples) else examples


def with_demonstrations(examples: Sequence[Example]) -> Sequence[Example]:
    """The examples a supervised warm start can train on: a list's that carry a demonstration; a lazy set as is."""
    if isinstance(examples, LazyExamples):
        return examples
    return [ex for ex in examples if ex.demonstration is not None]
