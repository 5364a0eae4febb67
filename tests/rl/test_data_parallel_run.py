"""A 2-rank data-parallel run end to end (gloo on CPU): rank 0 alone writes, a stop request on any rank stops all,
a rank that dies takes the run down with a FAILED marker instead of leaving rank 0 hanging, and the run resumes
to exactly the evaluation rows of an uninterrupted 2-rank run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scaling.store import RunFiles, read_evals, read_metrics, read_rows

from resume_helpers import comparable

WORKER = Path(__file__).parent / "dp_train_worker.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(config: Path, run_dir: Path, mode: str = "run", world: int = 2) -> list[subprocess.CompletedProcess]:
    port, procs = _port(), []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(config), str(run_dir), mode], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), *p.communicate()) for p in procs]


@pytest.fixture
def dp_config(tmp_path, tiny_tree):
    tiny_tree["eval"]["k"] = 2
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_tree))
    return path


def _ok(results) -> list[dict]:
    assert all(r.returncode == 0 for r in results), "\n".join(r.stderr[-2000:] for r in results)
    return [json.loads(r.stdout.strip().splitlines()[-1]) for r in results]


@pytest.mark.slow
def test_two_rank_run_resumes_after_a_stop_and_a_dead_rank(tmp_path, dp_config):
    straight = _ok(run_ranks(dp_config, tmp_path / "straight"))
    assert [s["status"] for s in straight] == ["done", "done"]
    evals = read_evals(tmp_path / "straight")
    assert list(evals["step"]) == [0, 2, 4, 6] and all(len(c) == 16 for c in evals["correct_counts"])
    metrics = read_metrics(tmp_path / "straight")
    assert (metrics["samples_seen"].diff().dropna() == 16).all()  # both ranks' samples counted
    assert not list(tmp_path.glob("straight/checkpoints/.*tmp"))

    # Rank 1 alone asks to stop at its 3rd step boundary: both ranks stop after step 2.
    stopped = _ok(run_ranks(dp_config, tmp_path / "resumed", "stop:3:1"))
    assert stopped == [{"rank": 0, "status": "stopped", "step": 2}, {"rank": 1, "status": "stopped", "step": 2}]
    # Rank 1 dies at the boundary after step 4: rank 0 must not hang, and records the failure.
    crashed = run_ranks(dp_config, tmp_path / "resumed", "crash:3:1")
    assert crashed[1].returncode == 3 and crashed[0].returncode != 0
    assert RunFiles(tmp_path / "resumed").failed.exists()
    _ok(run_ranks(dp_config, tmp_path / "resumed"))
    for read in (read_evals, read_metrics):
        pd.testing.assert_frame_equal(comparable(read(tmp_path / "straight")), comparable(read(tmp_path / "resumed")))
    assert not RunFiles(tmp_path / "resumed").failed.exists() and RunFiles(tmp_path / "resumed").done.exists()


@pytest.mark.slow
def test_checkpoint_of_two_ranks_does_not_resume_with_one(tmp_path, dp_config):
    _ok(run_ranks(dp_config, tmp_path / "run", "stop:2:0"))
    one = run_ranks(dp_config, tmp_path / "run", world=1)[0]
    assert one.returncode != 0 and "written by 2 data-parallel ranks" in one.stderr


@pytest.mark.slow
def test_trajectories_of_a_two_rank_run_hold_every_ranks_samples(tmp_path, tiny_tree):
    """Each rank samples half of a step's prompts; the trajectory table rank 0 writes holds all of them."""
    tiny_tree["log"] = {"trajectories": "all", "trajectories_per_step": 64}
    tiny_tree["train"]["steps"], tiny_tree["eval"] = 2, {"every": 2, "k": 1}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_tree))
    _ok(run_ranks(config, tmp_path / "run"))
    rows = pd.DataFrame(read_rows(RunFiles(tmp_path / "run").trajectories))
    metrics = read_metrics(tmp_path / "run")
    for step, got in rows.groupby("step"):
        assert len(got) == 16 and got["prompt_id"].nunique() == 4  # 4 prompts x 4 samples, both ranks' halves
        assert not got.duplicated(["prompt_id", "sample"]).any()
        reward_mean = metrics.loc[metrics["step"] == step, "reward_mean"].item()
        assert got["reward"].mean() == pytest.approx(reward_mean)
    assert sorted(rows["step"].unique()) == [1, 2]
