"""Examples made on first use: indexing, slices, iteration, and what is read up front."""

from __future__ import annotations

import pytest

from scaling.tasks.base import Example
from scaling.tasks.lazy import UPFRONT, LazyExamples, upfront, with_demonstrations


def _lazy(size: int, made: list[int]) -> LazyExamples:
    return LazyExamples(size, lambda i: made.append(i) or Example(prompt=f"p{i}", answer=str(i), demonstration=str(i)))


def test_each_example_is_made_once_when_first_read():
    made: list[int] = []
    examples = _lazy(1000, made)
    assert len(examples) == 1000 and made == []
    assert examples[700].prompt == "p700" and examples[-1].prompt == "p999" and examples[700] is examples[700]
    view = examples[690:710]
    assert len(view) == 20 and view[10] is examples[700] and made == [700, 999]
    assert [e.prompt for e in view[:3]] == ["p690", "p691", "p692"] and examples.built == 5
    with pytest.raises(IndexError):
        examples[1000]


def test_upfront_reads_a_lazy_sets_head_and_a_list_whole():
    made: list[int] = []
    assert [e.prompt for e in upfront(_lazy(1000, made))] == [f"p{i}" for i in range(UPFRONT)]
    assert made == list(range(UPFRONT))
    plain = [Example("a", "1"), Example("b", "2", demonstration="2")]
    assert upfront(plain) is plain and with_demonstrations(plain) == plain[1:]
    lazy = _lazy(10, made)
    assert with_demonstrations(lazy) is lazy
