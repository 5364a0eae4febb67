"""Warnings a reader should act on, computed from a run's tables: verifier coverage and the RFT overfitting gap.

Verifier coverage (the RLVR teams' rule: if too many prompts return zero reward, broaden the dataset or relax
constraints): when most groups score zero, they have zero advantage and train nothing. `scaling status` and
the report warn when the fraction of all-zero groups stays above `ZERO_REWARD_THRESHOLD` for
`ZERO_REWARD_STEPS` consecutive steps.

The overfitting watch of reinforcement fine-tuning (many epochs over a narrow prompt set): the pass rate on
the training prompts against the held-out one; a gap that keeps widening means the policy memorises.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

ZERO_REWARD_THRESHOLD = 0.8
ZERO_REWARD_STEPS = 50
COVERAGE_ADVICE = ("most groups carry no gradient: broaden the prompt set or add easier prompts, relax the answer "
                   "format (task.answer_format), raise rollout.max_new_tokens, or warm-start further")
GAP_WIDENING = 0.1  # train minus held-out pass rate that grew by this much from its smallest value


def zero_reward_stretch(steps: Sequence[int], fracs: Sequence[float],
                        threshold: float = ZERO_REWARD_THRESHOLD) -> tuple[int, int, int] | None:
    """The longest run of consecutive steps whose all-zero-reward fraction stays above `threshold`, as
    (first step, last step, steps). Row i covers the steps after row i-1's up to its own: one step per row
    of metrics.parquet, the steps since the previous evaluation for evaluation rows."""
    best, start, length, previous = None, None, 0, None
    for step, frac in zip(steps, fracs):
        span = int(step) - int(previous) if previous is not None else min(int(step), 1)  # step 0 covers none
        previous = step
        if frac is None or not math.isfinite(frac) or span <= 0:
            continue
        if frac > threshold:
            start = start if start is not None else int(step) - span + 1
            length += span
            if best is None or length > best[2]:
                best = (start, int(step), length)
        else:
            start, length = None, 0
    return best


def coverage_warning(steps: Sequence[int], fracs: Sequence[float], threshold: float = ZERO_REWARD_THRESHOLD,
                     window: int = ZERO_REWARD_STEPS) -> str | None:
    """One sentence when the zero-reward fraction stayed above `threshold` for at least `window` steps."""
    stretch = zero_reward_stretch(steps, fracs, threshold)
    if stretch is None or stretch[2] < window:
        return None
    first, last, length = stretch
    return (f"more than {threshold:.0%} of groups got zero reward for {length} consecutive steps "
            f"(steps {first}–{last}): {COVERAGE_ADVICE}")


def run_coverage_warnings(table: pd.DataFrame, threshold: float = ZERO_REWARD_THRESHOLD,
                          window: int = ZERO_REWARD_STEPS) -> dict[str, str]:
    """run name -> warning, from an evaluation table (load_evals) with `train_zero_reward_frac`."""
    if "train_zero_reward_frac" not in table.columns or "run_id" not in table.columns:
        return {}
    out = {}
    for run_id, rows in table.sort_values("step").groupby("run_id", sort=True):
        text = coverage_warning(rows["step"].tolist(), rows["train_zero_reward_frac"].tolist(), threshold, window)
        if text:
            out[str(rows["run_name"].iloc[0]) if "run_name" in rows else str(run_id)] = text
    return out


def rft_gap(table: pd.DataFrame) -> pd.DataFrame:
    """Per run with a train_pass_rate: step, epochs, train and held-out pass rate and their gap, in step order."""
    if "train_pass_rate" not in table.columns:
        return pd.DataFrame()
    rows = table[table["train_pass_rate"].notna()]
    if rows.empty:
        return pd.DataFrame()
    columns = [c for c in ("run_id", "run_name", "step", "epochs", "flops", "train_pass_rate", "pass_rate") if c in rows]
    out = rows[columns].sort_values(["run_id", "step"] if "run_id" in rows else ["step"]).reset_index(drop=True)
    return out.assign(gap=out["train_pass_rate"] - out["pass_rate"])


def gap_warning(steps: Sequence[int], train: Sequence[float], heldout: Sequence[float],
                widening: float = GAP_WIDENING) -> str | None:
    """One sentence when the train-minus-held-out gap at the last evaluation exceeds its smallest earlier value by
    `widening` (three evaluations with a training-set score at least)."""
    points = [(int(s), t - h) for s, t, h in zip(steps, train, heldout)
              if t is not None and h is not None and math.isfinite(t) and math.isfinite(h)]
    if len(points) < 3:
        return None
    low, (step, end) = min(g for _, g in points), points[-1]
    if end - low < widening:
        return None
    return (f"the training-set pass rate leads the held-out one by {end:.2f} at step {step} (up from {low:.2f}): "
            f"the policy is fitting its training prompts rather than the task; stop earlier, add prompts, or lower "
            f"the epochs")


def gap_warnings(gaps: pd.DataFrame, widening: float = GAP_WIDENING) -> dict[str, str]:
    """run name -> warning (gap_warning) for a table from rft_gap."""
    if gaps.empty:
        return {}
    out = {}
    for run_id, rows in gaps.groupby("run_id" if "run_id" in gaps else np.zeros(len(gaps)), sort=True):
        text = gap_warning(rows["step"].tolist(), rows["train_pass_rate"].tolist(), rows["pass_rate"].tolist(), widening)
        if text:
            out[str(rows["run_name"].iloc[0]) if "run_name" in rows else str(run_id)] = text
    return out
