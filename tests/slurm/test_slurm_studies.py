"""Studies through a real Slurm cluster, with the real trainer and tiny runs.

Each behaviour that a mocked scheduler hides is checked against slurmctld + slurmdbd: one job array per
grid, failures with their error text, `scancel` then relaunch, USR2 preemption (checkpoint, requeue,
resume, same rows as an uninterrupted run), an external `scontrol requeue` without USR2, and grids larger
than the array size limit. Runs are tiny (a 32-wide one-layer model, a few dozen RL steps of 4x4 samples),
so most of each job's time is Python start-up; the module stays within CI's budget on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from slurm_helpers import sacct_states, slurm, squeue_state, use_cluster, wait_for_state, wait_until

pytest.importorskip("scaling.rl.loop")

from scaling.store import read_evals, read_metrics  # noqa: E402
from scaling.study.results import study_evals  # noqa: E402
from scaling.study.launch import launch  # noqa: E402
from scaling.study.manifest import read_manifest  # noqa: E402
from scaling.study.spec import load_spec  # noqa: E402
from scaling.study.status import LIVE, status  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(240)]

TINY: dict[str, Any] = {
    "threads": 1, "checkpoint_every": 5,
    "task": {"name": "addition", "digits": 2, "train_size": 2000, "val_size": 16},
    "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
    "warmstart": {"max_steps": 30, "check_every": 10, "target_low": 0.0},
    "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4},
    "train": {"steps": 6}, "eval": {"every": 2, "k": 2},
}
# Long enough (a few seconds of training) that a signal sent once the first checkpoint is on disk
# lands mid-run; short enough that a whole interrupted run stays well under a minute.
LONG = {**TINY, "train": {"steps": 80}, "eval": {"every": 10, "k": 2}}
# Wall-clock columns differ between any two runs; everything else must match exactly on resume.
WALL_CLOCK = ["wall_seconds", "device_hours", "eval_seconds"]
# Every job's wait: ~5-10 s of Python start-up per job on 2 busy cores, ~11-16 s for a requeued job to
# be scheduled again (cred_expire=10 in cluster.sh), plus the training itself.
RUN_TIMEOUT_S = 150


@pytest.fixture(autouse=True)
def shared_warmstart_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """One base model for the whole module: `launch` builds it before submitting, the jobs read it
    (they inherit this environment through sbatch's default --export=ALL)."""
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path_factory.getbasetemp() / "slurm-warmstart-cache"))


def write_spec(folder: Path, name: str, base: dict[str, Any] | None = None, **changes: Any) -> Path:
    spec: dict[str, Any] = {
        "name": name, "output": str(folder / "results"), "base": base or TINY,
        "axes": {"loss.type": {"values": ["grpo"], "short": "loss"}}, "seeds": [0],
        # mem_gb: Slurm's default is 1 GB per CPU; these runs need ~0.4 GB, and asking for less lets both
        # cores take a job when the test machine has little memory to give.
        "resources": {"executor": "slurm", "timeout_min": 10, "mem_gb": 0.75},
    }
    for key, value in changes.items():
        if key == "resources":
            spec["resources"].update(value)
        else:
            spec[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def wait_finished(spec: Path, timeout: float = RUN_TIMEOUT_S) -> list[dict[str, Any]]:
    """Rows once no run is pending, running or requeued."""
    last: list[dict[str, Any]] = []

    def finished() -> list[dict[str, Any]] | None:
        nonlocal last
        last = status(spec)
        return None if any(r["state"] in LIVE for r in last) else last

    return wait_until(finished, timeout, f"{spec.stem} to finish", interval=0.5) or last  # type: ignore[return-value]


def newest_checkpoint(run_dir: Path) -> int | None:
    steps = [int(p.name[5:11]) for p in (run_dir / "checkpoints").glob("step_*.pt")]
    return max(steps) if steps else None


def wait_training(run_dir: Path, job_id: str, past_step: int = 0) -> int:
    """Wait until the job runs and has a checkpoint after `past_step` (so it is mid-run, not starting)."""
    def mid_run() -> int | None:
        if (run_dir / "FAILED").exists():  # say why now instead of timing out
            pytest.fail(f"job {job_id} failed before it could be interrupted: {(run_dir / 'FAILED').read_text()[:2000]}")
        step = newest_checkpoint(run_dir)
        return step if step is not None and step > past_step and squeue_state(job_id) == "RUNNING" else None

    return int(wait_until(mid_run, RUN_TIMEOUT_S, f"job {job_id} to checkpoint past step {past_step}", interval=0.05))


def restarts(job_id: str) -> int:
    """How often Slurm started this job again (requeue); from the controller, which keeps the count."""
    out = slurm("scontrol", "show", "job", job_id, check=False)
    for word in out.split():
        if word.startswith("Restarts="):
            return int(word.split("=")[1])
    return 0


def only_run(spec: Path) -> tuple[str, Path, str]:
    """(run ID, run folder, job ID) of a one-run study that has been launched."""
    loaded = load_spec(spec)
    (run_id, record), = read_manifest(loaded.study_dir)["runs"].items()
    return run_id, loaded.study_dir / "runs" / run_id, str(record["job_id"])


def evals_without_wall_clock(run_dir: Path) -> pd.DataFrame:
    return read_evals(run_dir).drop(columns=WALL_CLOCK).reset_index(drop=True)


# ------------------------------------------------------------------------------------------ grids


def test_grid_is_one_job_array_and_loads_as_one_table(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "grid", axes={"loss.type": {"values": ["grpo", "cispo"], "short": "loss"}},
                      seeds=[0, 1])
    # The user's path: the CLI, which waits with its live table and exits 0 only when every run is done.
    cli = str(Path(sys.executable).parent / "scaling")
    done = subprocess.run([cli, "launch", str(spec), "--executor", "slurm", "--wait"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "submitted 4 runs to slurm" in done.stdout

    study = load_spec(spec).study_dir
    job_ids = sorted(str(r["job_id"]) for r in read_manifest(study)["runs"].values())
    array = job_ids[0].split("_")[0]
    assert job_ids == [f"{array}_{i}" for i in range(4)]  # one array, one task per run
    accounted = sacct_states(array)
    assert {accounted[j] for j in job_ids} == {"COMPLETED"}, accounted

    rows = status(spec)
    assert [r["state"] for r in rows] == ["done"] * 4
    frame = study_evals(spec)
    assert len(frame) == 4 * 4  # evaluations at steps 0, 2, 4, 6 of each run
    assert sorted(frame["run_name"].unique()) == ["loss=cispo,seed=0", "loss=cispo,seed=1",
                                                   "loss=grpo,seed=0", "loss=grpo,seed=1"]
    assert {"loss.type", "seed", "state", "step", "pass_rate", "flops"} <= set(frame.columns)
    assert set(frame["state"]) == {"done"} and frame["pass_rate"].between(0, 1).all()
    assert all(list(g["step"]) == [0, 2, 4, 6] for _, g in frame.groupby("run_id"))


def test_grid_larger_than_the_array_limit_is_split_into_arrays(tmp_path: Path) -> None:
    base = {**TINY, "train": {"steps": 2}, "eval": {"every": 2, "k": 2}}
    spec = write_spec(tmp_path, "split", base=base, seeds=[0, 1, 2], resources={"max_array_size": 2})
    result = launch(spec)
    assert len(result.submitted) == 3
    jobs: dict[str, list[str]] = {}
    for job_id in result.job_ids.values():
        array, _, task = job_id.partition("_")
        jobs.setdefault(array, []).append(task)
    # 3 runs, at most 2 per array: one array of two tasks and the last run alone (submitit submits a
    # one-element array as a plain job, id without "_").
    assert sorted(sorted(tasks) for tasks in jobs.values()) == [[""], ["0", "1"]]
    rows = wait_finished(spec)
    assert [r["state"] for r in rows] == ["done"] * 3, rows
    frame = study_evals(spec)
    assert sorted(frame["seed"].unique()) == [0, 1, 2] and len(frame) == 3 * 2


# ------------------------------------------------------------------------------------------ failures


def test_run_that_raises_is_failed_with_its_error_text(tmp_path: Path) -> None:
    # A model folder with a config and a tokenizer but no weights: `launch` checks what it can without
    # loading a model (both load), the job fails loading the weights.
    from transformers import LlamaConfig

    from scaling.model import char_tokenizer

    folder = tmp_path / "no-weights"
    char_tokenizer().save_pretrained(folder)
    LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(folder)
    spec = write_spec(tmp_path, "broken", base={**TINY, "model": {"name_or_path": str(folder)}})
    launch(spec)
    (row,) = wait_finished(spec)
    assert row["state"] == "failed", row
    assert "model.name_or_path: cannot load" in row["error"] and "no-weights" in row["error"]  # the job's own text
    # The FAILED marker is written before the job exits; accounting follows a moment later.
    assert wait_for_state(row["job_id"], {"FAILED", "COMPLETED"}, timeout=30) == "FAILED"


def test_cancelled_run_is_cancelled_and_relaunch_resumes_it(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "cancel", base=LONG)
    launch(spec)
    run_id, run_dir, job_id = only_run(spec)
    wait_training(run_dir, job_id)
    slurm("scancel", job_id)
    (row,) = wait_finished(spec)
    assert row["state"] == "cancelled", row
    stopped_at = newest_checkpoint(run_dir)
    assert stopped_at is not None and stopped_at < 80 and not (run_dir / "DONE").exists()
    before = read_evals(run_dir)
    before = before[before["step"] <= stopped_at].reset_index(drop=True)

    again = launch(spec)
    assert again.submitted == [run_id] and again.job_ids[run_id] != job_id
    (row,) = wait_finished(spec)
    assert row["state"] == "done", row
    after = read_evals(run_dir)
    assert list(after["step"]) == list(range(0, 81, 10))  # none lost, none twice
    assert list(read_metrics(run_dir)["step"]) == list(range(1, 81))
    # Rows from before the cancel are the same rows, wall-clock included: they were not recomputed, so the
    # second job resumed from the checkpoint instead of starting over.
    pd.testing.assert_frame_equal(after.iloc[:len(before)].reset_index(drop=True), before)
    assert read_manifest(load_spec(spec).study_dir)["runs"][run_id]["attempts"] == 2


# ------------------------------------------------------------------------------------------ preemption


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, slurm_session: dict[str, str]) -> Path:
    """The uninterrupted twin (same config and seed, so the same run ID) of the interrupted runs below;
    launched once, early, so it trains while the interrupted ones wait to be requeued."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write_spec(folder, "reference", base=LONG)
    with pytest.MonkeyPatch.context() as patch:  # set up before the function-scoped fixtures that do this
        use_cluster(patch, slurm_session)
        patch.setenv("SCALING_CACHE", str(tmp_path_factory.getbasetemp() / "slurm-warmstart-cache"))
        launch(spec)
    return spec


def reference_evals(spec: Path) -> pd.DataFrame:
    (row,) = wait_finished(spec)
    assert row["state"] == "done", row
    return evals_without_wall_clock(only_run(spec)[1])


def test_usr2_preemption_checkpoints_requeues_and_matches_an_uninterrupted_run(tmp_path: Path, reference: Path) -> None:
    spec = write_spec(tmp_path, "preempt", base=LONG)
    launch(spec)
    run_id, run_dir, job_id = only_run(spec)
    assert run_id == only_run(reference)[0]
    wait_training(run_dir, job_id)
    # What Slurm sends before a time limit or a preemption (--signal=USR2@90 in submitit's sbatch script).
    slurm("scancel", "--signal=USR2", job_id)
    wait_until(lambda: restarts(job_id) >= 1, 60, f"job {job_id} to be requeued after USR2")
    row = _finishes_as_if_uninterrupted(spec, run_dir, reference)
    assert restarts(job_id) == 1 and row["job_id"] == job_id  # the same job ran again: no relaunch needed


def _finishes_as_if_uninterrupted(spec: Path, run_dir: Path, reference: Path) -> dict:
    """After an interruption: the rows up to the newest checkpoint stay as they were (resumed, not restarted),
    every step appears once, and the final evaluations equal an uninterrupted run's."""
    stopped_at = newest_checkpoint(run_dir)
    assert stopped_at is not None and stopped_at < 80
    before = read_evals(run_dir)
    before = before[before["step"] <= stopped_at].reset_index(drop=True)
    (row,) = wait_finished(spec)
    assert row["state"] == "done", row
    after = read_evals(run_dir)
    pd.testing.assert_frame_equal(after.iloc[:len(before)].reset_index(drop=True), before)
    assert list(read_metrics(run_dir)["step"]) == list(range(1, 81))
    pd.testing.assert_frame_equal(evals_without_wall_clock(run_dir), reference_evals(reference))
    return row


def test_external_requeue_without_usr2_resumes_from_the_newest_checkpoint(tmp_path: Path, reference: Path) -> None:
    spec = write_spec(tmp_path, "requeue", base=LONG)
    launch(spec)
    run_id, run_dir, job_id = only_run(spec)
    wait_training(run_dir, job_id)
    # An admin's or the scheduler's requeue: SIGTERM, then SIGKILL after KillWait; submitit sees no USR2
    # and the job restarts from its original pickle, so only the run folder can carry the progress over.
    slurm("scontrol", "requeue", job_id)
    wait_until(lambda: squeue_state(job_id) == "PENDING" and restarts(job_id) >= 1, 60,
               f"job {job_id} to be pending again after the requeue")
    _finishes_as_if_uninterrupted(spec, run_dir, reference)
    log = Path(load_spec(spec).study_dir / "slurm" / job_id / f"{job_id}_0_log.out").read_text()
    assert log.count("Starting with JobEnvironment") == 2  # one log, appended across the requeue


# ------------------------------------------------------------------------------------------ data parallel

# Two ranks of one CPU each: all the test node has. Long enough for a USR2 to land mid-run.
DP = {**TINY, "checkpoint_every": 3, "train": {"steps": 24}, "eval": {"every": 8, "k": 2}}
DP_RESOURCES = {"tasks_per_node": 2, "cpus_per_run": 1, "mem_gb": 1.5}


def task_logs(spec: Path) -> list[Path]:
    return sorted((load_spec(spec).study_dir / "slurm").rglob("*_log.err"))


@pytest.mark.timeout(900)
def test_data_parallel_run_is_one_two_task_job_and_survives_usr2_preemption(tmp_path: Path) -> None:
    straight = write_spec(tmp_path, "dp-straight", base=DP, resources=DP_RESOURCES)
    launch(straight)
    (row,) = wait_finished(straight, timeout=400)
    assert row["state"] == "done", row
    _, straight_dir, _ = only_run(straight)
    assert {p.name.split("_")[-2] for p in task_logs(straight)} == {"0", "1"}  # one job, two srun tasks
    assert (read_metrics(straight_dir)["samples_seen"].diff().dropna() == 16).all()  # both ranks' samples

    preempted = write_spec(tmp_path, "dp-preempted", base=DP, resources=DP_RESOURCES)
    launch(preempted)
    _, run_dir, job_id = only_run(preempted)
    wait_training(run_dir, job_id)
    slurm("scancel", "--signal=USR2", job_id)  # reaches both tasks; rank 0 requeues the job
    wait_until(lambda: restarts(job_id) >= 1, 120, f"job {job_id} to be requeued after USR2")
    (row,) = wait_finished(preempted, timeout=400)
    assert row["state"] == "done" and row["job_id"] == job_id, row
    assert newest_checkpoint(run_dir) == 24 and restarts(job_id) == 1
    assert list(read_metrics(run_dir)["step"]) == list(range(1, 25))
    pd.testing.assert_frame_equal(evals_without_wall_clock(run_dir), evals_without_wall_clock(straight_dir))
