"""Executors: how a list of prepared runs becomes jobs. Each returns run ID -> job ID.

- `local`: our own capped runner of subprocesses (scaling.study.local); returns at once.
- `slurm`: submitit's SlurmExecutor, job arrays of at most `max_array_size` tasks.
- `debug`: in-process, one run after the other (no pdb, unlike submitit's DebugExecutor).
`auto` picks Slurm only when a controller answers `scontrol ping`: submitit's own check is
whether `srun` is on PATH, which sends every job to a dead sbatch when no controller runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling.runtime import cores_available
from scaling.study import local
from scaling.study.job import TRAIN_ENTRY, WARMSTART_ENTRY, RunJob
from scaling.study.manifest import write_json_atomic
from scaling.study.spec import Resources, SpecError


@dataclass
class Prepared:
    """A run ready to submit: its ID, folder and resolved config tree (threads set)."""

    run_id: str
    name: str
    run_dir: Path
    config: dict[str, Any]


@dataclass
class Entry:
    """Import paths of the training code; tests substitute trivial callables."""

    train: str = TRAIN_ENTRY
    warmstart: str = WARMSTART_ENTRY


def slurm_available(timeout_s: float = 10) -> bool:
    if shutil.which("scontrol") is None:
        return False
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "UP" in out.stdout


def choose(executor: str, dry_run: bool = False) -> str:
    if executor == "auto":
        return "slurm" if slurm_available() else "local"
    if executor == "slurm" and not dry_run and not slurm_available():
        raise SpecError("--executor slurm: no Slurm controller answers `scontrol ping`")
    if executor not in ("local", "slurm", "debug"):
        raise SpecError(f"unknown executor {executor!r} (auto, local, slurm, debug)")
    return executor


def submit_local(study_dir: Path, runs: list[Prepared], max_parallel: int | None, entry: Entry,
                 resources: Resources | None = None) -> dict[str, str]:
    resources = resources or Resources()
    world, gpus = resources.world_size, resources.gpus_per_rank * resources.world_size
    threads = max(int(r.config.get("threads") or 1) for r in runs)
    cap = max_parallel or max(1, cores_available() // (threads * world))
    tag = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    batch_file = study_dir / "local" / f"batch-{tag}.json"
    for run in runs:  # a stale state from an earlier attempt must not be read as this one's
        local.state_path(study_dir, run.run_id).unlink(missing_ok=True)
    write_json_atomic(batch_file, {
        "study_dir": str(study_dir), "max_parallel": cap, "train_entry": entry.train,
        "warmstart_entry": entry.warmstart, "warmstarts": [r.config for r in runs],
        "runs": [{"run_id": r.run_id, "run_dir": str(r.run_dir), "threads": int(r.config.get("threads") or 1),
                  "world_size": world, "gpus": gpus} for r in runs]})
    pid = local.spawn_runner(batch_file, study_dir / "local" / f"runner-{tag}.log")
    return {run.run_id: f"local-{pid}" for run in runs}


def submit_debug(study_dir: Path, runs: list[Prepared], entry: Entry) -> None:
    for run in runs:  # each run builds (or finds) its warm start itself, as a Slurm job does
        try:
            RunJob(run.config, run.run_dir, entry.train, stop_signals=())()
        except Exception:  # recorded in FAILED by RunJob; show it, and the next runs still go
            traceback.print_exc()


def slurm_parameters(resources: Resources, name: str, threads: int, max_parallel: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "job_name": name, "time": resources.timeout_min, "cpus_per_task": threads,
        "partition": resources.partition, "account": resources.account, "qos": resources.qos,
        "constraint": resources.constraint, "setup": list(resources.setup) or None,
        "array_parallelism": max_parallel or resources.array_parallelism or 256,
        "additional_parameters": _sbatch_extra(resources.sbatch_extra) or None,
    }
    if resources.world_size > 1:
        # One job (or array element) per run: srun starts nodes x tasks_per_node ranks, each joining the process
        # group from Slurm's environment (RunJob); a rank that dies takes its job down rather than leave the rest
        # waiting in a collective.
        params.update(nodes=resources.nodes, ntasks_per_node=resources.tasks_per_node,
                      srun_args=["--kill-on-bad-exit=1"])
        if resources.gpus_per_task:
            params["gpus_per_task"] = resources.gpus_per_task
    elif resources.gpus_per_run:
        params["gpus_per_node"] = resources.gpus_per_run
    if resources.mem_gb:
        params["mem"] = f"{int(resources.mem_gb * 1024)}MB"
    return {k: v for k, v in params.items() if v is not None}


def _sbatch_extra(lines: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for line in lines:
        option = line.strip().removeprefix("#SBATCH").strip().removeprefix("--")
        key, _, value = option.partition("=")
        extra[key.strip()] = value.strip() if value else True
    return extra


def submit_slurm(study_dir: Path, runs: list[Prepared], resources: Resources, study_name: str,
                 max_parallel: int | None, entry: Entry, ids: dict[str, str]) -> None:
    """Fills `ids` array by array, so a failure half-way still leaves the submitted ones known.

    Nothing is trained here, on the login node, not even the warm start: each job builds its base model
    under the cache's file lock (scaling.rl.warmstart), so the first job of a grid builds it, on the
    resources it asked for, and the others wait for it and then read it."""
    import submitit

    executor = submitit.SlurmExecutor(folder=study_dir / "slurm" / "%j", max_num_timeout=resources.max_num_timeout)
    threads = max(int(r.config.get("threads") or 1) for r in runs)
    executor.update_parameters(**slurm_parameters(resources, study_name, threads, max_parallel))
    size = resources.max_array_size
    for start in range(0, len(runs), size):
        chunk = runs[start:start + size]
        jobs = executor.submit_array([RunJob(r.config, r.run_dir, entry.train) for r in chunk])
        ids.update({r.run_id: job.job_id for r, job in zip(chunk, jobs)})


def cancel(study_dir: Path, run_id: str, record: dict[str, Any]) -> None:
    """Stop a live job before it is submitted again; a local worker gets SIGTERM (it checkpoints)."""
    executor, job_id = record.get("executor"), str(record.get("job_id", ""))
    if executor == "slurm":
        try:
            subprocess.check_output(["scancel", job_id], stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.SubprocessError):
            pass  # already gone; the new job waits for the run lock anyway
    elif executor == "local":
        state = local.read_state(study_dir, run_id) or {}
        if state.get("state") == "running" and local.pid_alive(state.get("pid"), run_id):
            os.kill(int(state["pid"]), signal.SIGTERM)
        local.write_state(study_dir, run_id, state="cancelled")
