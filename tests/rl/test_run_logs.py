"""What a run records beside its curve: the trajectory log, verifier coverage, the RFT watch, trackers."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from scaling.config import ConfigError, build_config
from scaling.export import export
from scaling.rl.checkpoint import checkpoint_paths
from scaling.rl.loop import train
from scaling.rl.rollout import Completions
from scaling.rl.step import Batch
from scaling.rl.trajectories import merge_ranks, trajectory_rows
from scaling.store import RunFiles, read_evals, read_metrics, read_rows


def _batch(rewards: list[list[float]]) -> Batch:
    groups, group = len(rewards), len(rewards[0])
    rows = groups * group
    comp = Completions(tokens=torch.zeros(rows, 3, dtype=torch.long), logprobs=torch.zeros(rows, 3),
                       mask=torch.ones(rows, 3), truncated=torch.zeros(rows, dtype=torch.bool))
    return Batch(torch.zeros(groups, 2, dtype=torch.long), torch.ones(groups, 2), comp, torch.tensor(rewards),
                 torch.tensor(rewards), [10 + g for g in range(groups)], [f"c{i}" for i in range(rows)])


def test_trajectory_rows_keep_correct_ones_and_spread_the_cap_over_prompts():
    batch = _batch([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.5]])
    correct = trajectory_rows(7, batch, ["p0", "p1", "p2"], "correct", cap=100)
    assert [(r["prompt_id"], r["sample"]) for r in correct] == [(10, 0), (12, 0), (12, 1), (10, 2)]
    assert all(r["reward"] == 1.0 and r["step"] == 7 and r["tokens"] == 3 for r in correct)
    assert correct[1]["prompt"] == "p2" and correct[1]["completion"] == "c6"
    capped = trajectory_rows(7, batch, ["p0", "p1", "p2"], "all", cap=4)
    assert [(r["prompt_id"], r["sample"]) for r in capped] == [(10, 0), (11, 0), (12, 0), (10, 1)]
    assert trajectory_rows(7, batch, ["p0", "p1", "p2"], "none", cap=4) == []


@pytest.mark.parametrize("cap", [1, 3, 5, 7, 100])
def test_every_ranks_capped_rows_merge_into_the_whole_rounds_pick(cap):
    """A data-parallel round: ranks hold contiguous shards of the groups; merging their capped picks gives exactly
    the rows one process picks from the whole round."""
    rewards = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.5], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    whole = trajectory_rows(3, _batch(rewards), [f"p{g}" for g in range(5)], "correct", cap)
    shards = [(0, 3), (3, 5)]  # runtime.shard of 5 prompts over 2 ranks
    parts = []
    for lo, hi in shards:
        part = _batch(rewards[lo:hi])
        part.pool_indices = [10 + g for g in range(lo, hi)]
        part.texts = [f"c{i}" for i in range(lo * 3, hi * 3)]
        parts.append(trajectory_rows(3, part, [f"p{g}" for g in range(lo, hi)], "correct", cap))
    assert merge_ranks(parts, cap) == whole
    assert merge_ranks([whole], cap) == whole  # one process: unchanged


def _event_scalars(folder) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps: dict[str, list[int]] = {}
    for events in sorted(folder.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            steps.setdefault(tag, []).extend(e.step for e in acc.Scalars(tag))
    return steps


def test_run_logs_trajectories_coverage_and_tensorboard_and_resume_adds_no_duplicates(tmp_path, tiny_tree):
    pytest.importorskip("tensorboard")
    tiny_tree["log"] = {"trajectories": "all", "trajectories_per_step": 5, "report_to": ["tensorboard"]}
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "straight")
    calls = iter(range(100))
    assert train(cfg, tmp_path / "resumed", should_stop=lambda: next(calls) >= 3)["status"] == "stopped"
    train(cfg, tmp_path / "resumed")

    rows = pd.DataFrame(read_rows(RunFiles(tmp_path / "resumed").trajectories))
    straight = pd.DataFrame(read_rows(RunFiles(tmp_path / "straight").trajectories))
    pd.testing.assert_frame_equal(rows, straight)  # resume redid nothing twice and lost nothing
    assert sorted(rows["step"].unique()) == list(range(1, 7)) and (rows.groupby("step").size() == 5).all()
    assert rows["reward"].isin([0.0, 1.0]).all() and (rows["tokens"] >= 1).all()
    assert rows["prompt"].str.contains(r"\+").all() and not rows.duplicated(["step", "prompt_id", "sample"]).any()
    exported = export(tmp_path / "straight", tmp_path / "sft.jsonl", min_reward=0)  # the run's rows as an SFT set
    assert exported == len(rows.drop_duplicates(["prompt", "completion"])) > 0

    metrics, evals = read_metrics(tmp_path / "resumed"), read_evals(tmp_path / "resumed")
    # binary rewards: a group with equal rewards is all-zero or all-full
    assert ((metrics["zero_reward_frac"] + metrics["full_reward_frac"] - metrics["zero_variance_frac"]).abs() < 1e-9).all()
    assert metrics["solved_frac"].is_monotonic_increasing and metrics["epochs"].iloc[-1] == 6 * 4 / 400
    assert evals["train_zero_reward_frac"].iloc[1:].notna().all() and evals["train_solved_frac"].between(0, 1).all()
    counts = evals["correct_counts"].iloc[-1]
    assert evals["zero_reward_frac"].iloc[-1] == sum(c == 0 for c in counts) / len(counts)
    assert evals["train_pass_rate"].isna().all()  # no training sample asked for outside RFT

    scalars = _event_scalars(tmp_path / "resumed" / "tensorboard")
    assert scalars["train/reward_mean"] == list(range(1, 7))  # once each, although steps 4-6 ran after a resume
    assert scalars["eval/pass_rate"] == [0, 2, 4, 6]
    assert scalars["train/zero_reward_frac"] == list(range(1, 7))

    # As if killed after step 6 with only the step-2 checkpoint on disk: the rows after it are dropped and redone.
    files = RunFiles(tmp_path / "resumed")
    files.done.unlink()
    for step, path in checkpoint_paths(files.checkpoints):
        if step > 2:
            path.unlink()
    train(cfg, tmp_path / "resumed")
    pd.testing.assert_frame_equal(pd.DataFrame(read_rows(files.trajectories)), straight)


def test_rft_trains_on_a_narrow_set_and_scores_it_at_evaluation(tmp_path, tiny_tree):
    tiny_tree["task"]["train_prompts"] = 4
    cfg = build_config(tiny_tree)
    train(cfg, tmp_path / "rft")
    metrics, evals = read_metrics(tmp_path / "rft"), read_evals(tmp_path / "rft")
    assert list(metrics["epochs"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # 4 prompts per step over 4 prompts
    assert list(evals["epochs"]) == [0.0, 2.0, 4.0, 6.0] and evals["train_pass_rate"].between(0, 1).all()
    assert metrics["solved_frac"].isin([0.0, 0.25, 0.5, 0.75, 1.0]).all()


def test_a_tracker_that_is_not_installed_is_refused_before_anything_is_written(tmp_path, tiny_tree, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    tiny_tree["log"] = {"report_to": ["wandb"]}
    with pytest.raises(ConfigError, match=r"log.report_to: wandb is not installed"):
        train(build_config(tiny_tree), tmp_path / "run")
    assert not (tmp_path / "run").exists()
