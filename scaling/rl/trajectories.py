"""The trajectory log: which sampled completions of a step go into trajectories.parquet.

RLVR practice is to keep every successful trajectory for downstream distillation and evaluation;
`scaling export` turns the table into a deduplicated SFT set. Rows are capped per step and spread
over the step's prompts (every prompt's first kept sample before any prompt's second), so a cap
keeps the variety of prompts rather than the first few groups.
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
