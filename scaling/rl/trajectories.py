"""The trajectory log: which sampled completions of a step go into trajectories.parquet.

RLVR practice is to keep every successful trajectory for downstream distillation and evaluation;
`scaling export` turns the table into a deduplicated SFT set. Rows are capped per step and spread
over the step's prompts (every prompt's first kept sample before any prompt's second), so a cap
keeps the variety of prompts rather than the first few groups. In a data-parallel run each rank picks from its
own share and rank 0 merges every rank's picks (`merge_ranks`), so the table holds the whole step.
"""

from __future__ import annotations

from scaling.rl.coverage import FULL_REWARD


def trajectory_rows(step: int, batch, prompts: list[str], mode: str, cap: int) -> list[dict]:
    """Rows for one scored batch (scaling.rl.step.Batch) sampled at RL step `step`; `prompts` holds the task's
    prompt text per group. `mode`: none, correct (full reward) or all."""
    if mode == "none":
        return []
    rewards = batch.rewards.tolist()
    lengths = batch.completions.lengths.long().tolist()
    group = len(rewards[0]) if rewards else 0
    picked = [(j, g) for g in range(len(rewards)) for j in range(group)
              if mode == "all" or rewards[g][j] >= FULL_REWARD]
    picked.sort()  # by sample index first: one sample of every prompt, then a second, ...
    return [{"step": step, "prompt_id": batch.pool_indices[g], "sample": j, "prompt": prompts[g],
             "completion": batch.texts[g * group + j], "reward": float(rewards[g][j]),
             "tokens": int(lengths[g * group + j])} for j, g in picked[:cap]]


def merge_ranks(parts: list[list[dict]], cap: int) -> list[dict]:
    """One round's rows from every rank (rank order, each rank's capped at `cap` by `trajectory_rows`) as one
    process would pick them from the whole round: ranks hold contiguous shards of the prompts, so the whole round's
    order is (sample, rank, the rank's own order), and its first `cap` rows lie within the ranks' first `cap` each."""
    tagged = [(row["sample"], rank, i, row) for rank, rows in enumerate(parts) for i, row in enumerate(rows)]
    return [row for *_, row in sorted(tagged, key=lambda t: t[:3])][:cap]
