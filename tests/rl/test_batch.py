"""Joining and selecting group batches (zero-variance refill) keeps every completion's log-probs."""

from __future__ import annotations

import copy

import torch

from scaling.config import build_config
from scaling.rl.batch import join_batches, select_groups
from scaling.rl.state import build_state
from scaling.rl.step import collect, completion_logprobs

TINY = {"threads": 1, "warmstart": {"enabled": False}, "task": {"name": "countdown", "train_size": 64, "val_size": 8},
        "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
        "rollout": {"prompts_per_step": 3, "generations_per_prompt": 2, "max_new_tokens": 6}}


def test_joined_batch_gives_each_completion_the_logprobs_it_had_alone():
    state = build_state(build_config(copy.deepcopy(TINY)))
    first, _ = collect(state)
    state.config.rollout.max_new_tokens = 2  # a narrower second batch: the join must pad it
    second, _ = collect(state)
    second = select_groups(second, [2, 0])
    joined = join_batches([first, second], state.tokenizer.pad_token_id)
    assert joined.groups == 5 and joined.pool_indices == first.pool_indices + [second.pool_indices[0], second.pool_indices[1]]
    assert first.completions.tokens.shape[1] != second.completions.tokens.shape[1]
    alone = {}
    for name, b in (("first", first), ("second", second)):
        rows = torch.arange(b.completions.tokens.shape[0])
        alone[name] = completion_logprobs(state.model, b, rows, 1.0)[0]
    rows = torch.arange(10)
    together = completion_logprobs(state.model, joined, rows, 1.0)[0]
    for name, b, part in (("first", first, slice(0, 6)), ("second", second, slice(6, 10))):
        mask = b.completions.mask.bool()
        width = mask.shape[1]
        torch.testing.assert_close(together[part, :width][mask], alone[name][mask], atol=1e-5, rtol=1e-5)
        assert joined.completions.mask[part, width:].sum() == 0
