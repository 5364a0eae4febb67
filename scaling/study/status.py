"""State of every run of a study: the results folder first, the scheduler second.

States: done (DONE marker), failed (FAILED marker, or the process/job ended without DONE),
running, pending (submitted, not started), requeued (Slurm preemption / time-out, will run
again), cancelled (cancelled, or stopped on a signal after a checkpoint), incomplete (the Slurm
job COMPLETED, i.e. exited cleanly, but the run wrote no DONE marker: it stopped before its last
step), missing (never submitted, or unknown to a scheduler that answered), unknown (the
scheduler did not answer `squeue` after retries: the job may still be queued or running).
`launch` resubmits failed, requeued, cancelled, incomplete and missing runs; they resume from
their newest checkpoint. It never resubmits an unknown run: that could start a second copy of a
live job.

Health is reported beside the state (`health`: ok, collapsed, diverging or nan, from the DONE marker
or the newest evaluation row; see scaling.rl.health): a collapsed run is done, not failed, and is
not resubmitted, but its curve says nothing about its recipe.
"""

from __future__ import annotations

import getpass
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import pyarrow.parquet as pq

from scaling.store import RunFiles, read_table_pinned
from scaling.study import local
from scaling.study.job import STOPPED_EXIT_CODE
from scaling.study.manifest import read_manifest
from scaling.watch import coverage_warning, gap_warning

STATES = ("pending", "running", "requeued", "done", "failed", "cancelled", "incomplete", "missing", "unknown")
LIVE = ("pending", "running", "requeued")

_SLURM_STATES = {
    "PENDING": "pending", "CONFIGURING": "pending", "RUNNING": "running", "COMPLETING": "running",
    "SUSPENDED": "running", "STOPPED": "running", "RESIZING": "running", "SIGNALING": "running",
    "REQUEUED": "requeued", "REQUEUE_FED": "requeued", "REQUEUE_HOLD": "requeued", "PREEMPTED": "requeued",
    "CANCELLED": "cancelled", "COMPLETED": "incomplete", "FAILED": "failed", "TIMEOUT": "failed",
    "NODE_FAIL": "failed", "OUT_OF_MEMORY": "failed", "BOOT_FAIL": "failed", "DEADLINE": "failed",
}


QUERY_ATTEMPTS = 3
QUERY_RETRY_S = 2.0


class SlurmStates(dict):
    """Slurm state per job ID, and what the scheduler did not answer (None: it answered)."""

    queue_error: str | None = None
    acct_error: str | None = None


def _query(command: list[str], attempts: int = QUERY_ATTEMPTS) -> tuple[str | None, str | None]:
    """(output, None), or (None, why) after `attempts` tries: a busy controller times out now and then."""
    why = ""
    for attempt in range(attempts):
        try:  # check_output, as submitit does: its test doubles replace exactly this call
            out = subprocess.check_output(command, stderr=subprocess.PIPE, timeout=60)
            return (out.decode() if isinstance(out, bytes) else out), None
        except subprocess.CalledProcessError as err:
            detail = (err.stderr or b"").decode(errors="replace").strip().splitlines() if isinstance(err.stderr, bytes) else []
            why = f"exit code {err.returncode}" + (f": {detail[0]}" if detail else "")
        except Exception as err:  # no such program, a timeout, a test double that does not know the command
            why = f"{type(err).__name__}: {err}"
        if attempt + 1 < attempts:
            time.sleep(QUERY_RETRY_S * (attempt + 1))
    return None, f"`{command[0]}` did not answer ({why})"


def _parse(text: str | None) -> dict[str, str]:
    states: dict[str, str] = {}
    for line in (text or "").splitlines():
        job, _, state = line.partition("|")
        words = state.split()
        if job.strip() and words:
            states[job.strip()] = words[0]
    return states


def slurm_states(job_ids: Iterable[str]) -> SlurmStates:
    """Slurm state per job ID (array tasks as `123_4`): the controller's queue first (it knows a job
    the moment it is submitted; accounting lags seconds behind), then sacct for finished jobs."""
    ids = sorted({str(j) for j in job_ids if j})
    states = SlurmStates()
    if not ids:
        return states
    arrays = sorted({j.split("_")[0] for j in ids})
    acct, states.acct_error = _query(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(arrays)])
    queue, states.queue_error = _query(["squeue", "-h", "-r", "-o", "%i|%T", "-u", getpass.getuser()])
    states.update(_parse(acct))
    states.update({job: state for job, state in _parse(queue).items() if job.split("_")[0] in arrays})
    return states


def _slurm_state(job_id: str, states: dict[str, str]) -> tuple[str, str | None]:
    raw = states.get(job_id)
    if raw is None and "_" in job_id:  # tasks not started yet show as one line `123_[4-9%2]`
        array = job_id.split("_")[0] + "_["
        raw = next((s for j, s in states.items() if j.startswith(array)), None)
    queue_error, acct_error = getattr(states, "queue_error", None), getattr(states, "acct_error", None)
    if raw is None and queue_error:  # not seen, but the queue was not read: it may be running right now
        return "unknown", f"job {job_id}: {queue_error}; not resubmitted until the scheduler answers"
    if raw is None and acct_error:  # not in the queue, so not live; how it ended is not known
        return "failed", f"job {job_id} left the queue; {acct_error}, so how it ended is unknown"
    if raw is None:
        return "missing", f"job {job_id} unknown to the scheduler"
    state = _SLURM_STATES.get(raw, "running")
    if state == "incomplete":
        return state, f"job {job_id} COMPLETED but the run wrote no DONE marker (it stopped before its last step)"
    return state, (f"slurm state {raw}" if state == "failed" else None)


def _local_state(study_dir: Path, run_id: str, job_id: str) -> tuple[str, str | None]:
    info = local.read_state(study_dir, run_id)
    runner = int(job_id.split("-")[1]) if job_id.startswith("local-") else None
    if info is None:  # the runner has not written yet, or never will
        return ("pending", None) if local.pid_alive(runner, "scaling.study.local") else ("missing", "runner gone")
    kind = info.get("state")
    if kind == "queued":
        alive = local.pid_alive(info.get("runner_pid"), "scaling.study.local")
        return ("pending", None) if alive else ("cancelled", "runner exited before starting it")
    if kind == "running":
        if local.pid_alive(info.get("pid"), run_id):
            return "running", None
        if local.pid_alive(info.get("runner_pid"), "scaling.study.local"):
            return "running", None  # just exited: its runner records the exit status within a poll
        return "failed", f"process {info.get('pid')} died without a DONE marker (and its runner is gone)"
    if kind == "exited":
        code = info.get("returncode")
        if code == STOPPED_EXIT_CODE:
            return "cancelled", "stopped on a signal after a checkpoint"
        return "failed", _exit_reason(code)
    return "cancelled", None


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        return f"killed by {signal.Signals(-code).name}"
    return f"exited with code {code} without a DONE marker"


PROGRESS = ("step", "pass_rate", "flops", "device_hours")


def _progress(files: RunFiles, finished: bool) -> dict[str, Any]:
    """Last step and compute from the step metrics (or evals), last pass rate from the evals, and the run's
    warnings (run_warnings), from one read of each table. A finished run's last evaluation is at its last step,
    so its metrics need not be read."""
    out: dict[str, Any] = {"step": None, "pass_rate": None, "flops": None, "device_hours": None}
    evals = _columns(files.evals, [*PROGRESS, "train_pass_rate", "train_zero_reward_frac"]) or {}
    steps = {} if finished else _columns(files.metrics, ["step", "flops", "device_hours", "zero_reward_frac"]) or {}
    for data in (evals, steps):
        if data.get("step"):
            last = {c: data[c][-1] for c in PROGRESS if c in data}
            if out["step"] is None or (last["step"] or 0) >= out["step"]:
                out.update({k: v for k, v in last.items() if k != "pass_rate"})
            if "pass_rate" in last:
                out["pass_rate"] = last["pass_rate"]
    out["warning"] = run_warnings(evals, steps, finished)
    return out


def _columns(path: Path, names: list[str]) -> dict[str, list] | None:
    """The columns of `names` that the table has, as lists (one open of the file); None without a table."""
    try:
        with open(path, "rb") as handle:
            table = pq.ParquetFile(handle)
            present = [n for n in names if n in table.schema_arrow.names]
            data = table.read(columns=present)
    except (OSError, ValueError):
        return None
    return {n: data.column(n).to_pylist() for n in present}


def run_warnings(evals: dict[str, list], steps: dict[str, list], finished: bool) -> str | None:
    """Warnings from scaling.watch: verifier coverage (from the step metrics while a run goes, from the evaluation
    rows once it is done) and the RFT gap (training-set against held-out pass rate). Plain lists, no pandas:
    status reads a thousand runs."""
    notes = []
    if finished and "train_zero_reward_frac" in evals:
        notes.append(coverage_warning(evals["step"], evals["train_zero_reward_frac"]))
    elif "zero_reward_frac" in steps:
        notes.append(coverage_warning(steps["step"], steps["zero_reward_frac"]))
    if "train_pass_rate" in evals and any(v is not None and v == v for v in evals["train_pass_rate"]):
        notes.append(gap_warning(evals["step"], evals["train_pass_rate"], evals["pass_rate"]))
    return "; ".join(n for n in notes if n) or None


def _health(files: RunFiles, state: str) -> str | None:
    if state == "done":
        return (files.read_marker(files.done) or {}).get("health")
    try:
        table = read_table_pinned(files.evals, columns=["health"])
    except (OSError, ValueError, KeyError):  # no evaluation yet, or a table from before health existed
        return None
    return table.column("health")[-1].as_py() if table.num_rows else None


def log_tail(study_dir: Path, run_id: str, record: dict[str, Any], lines: int = 5) -> str:
    job_id = str(record.get("job_id", ""))
    candidates = [Path(study_dir) / "logs" / f"{run_id}.log",
                  Path(study_dir) / "slurm" / job_id / f"{job_id}_0_log.err"]
    for path in candidates:
        try:
            with open(path, "rb") as handle:
                handle.seek(max(0, path.stat().st_size - 8192))
                text = handle.read().decode(errors="replace")
        except OSError:
            continue
        kept = [line for line in text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])
    return ""


def run_row(study_dir: Path, run_id: str, name: str, record: dict[str, Any] | None,
            slurm: dict[str, str]) -> dict[str, Any]:
    files = RunFiles(Path(study_dir) / "runs" / run_id)
    record = record or {}
    row: dict[str, Any] = {"run_id": run_id, "name": name, "job_id": record.get("job_id"),
                           "executor": record.get("executor"), "error": None}
    if files.done.exists():
        state, reason = "done", None
    elif files.failed.exists():
        state, reason = "failed", (files.read_marker(files.failed) or {}).get("reason", "FAILED marker")
    elif not record:
        state, reason = "missing", None
    elif record.get("executor") == "slurm":
        state, reason = _slurm_state(str(record["job_id"]), slurm)
    elif record.get("executor") == "local":
        state, reason = _local_state(Path(study_dir), run_id, str(record["job_id"]))
    else:  # debug runs in-process: no marker means it did not finish
        state, reason = "failed", "ended without a DONE marker"
    row["state"] = state
    row.update(_progress(files, finished=state == "done"))
    row["health"] = _health(files, state)
    if state == "failed":
        tail = log_tail(Path(study_dir), run_id, record)
        row["error"] = "\n".join(x for x in (reason, tail) if x)
    elif reason and state != "pending":
        row["error"] = reason
    return row


def study_status(study_dir: str | Path, runs: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """One row per run. `runs` is [(run_id, name)] from the spec; default: the manifest + folders."""
    study_dir = Path(study_dir)
    manifest = read_manifest(study_dir)["runs"]
    if runs is None:
        runs = [(rid, rec.get("name", rid)) for rid, rec in manifest.items()]
        known = {rid for rid, _ in runs}
        runs += [(p.name, p.name) for p in sorted((study_dir / "runs").glob("*")) if p.is_dir() and p.name not in known]
    slurm_ids = [str(manifest[r]["job_id"]) for r, _ in runs if manifest.get(r, {}).get("executor") == "slurm"]
    slurm = slurm_states(slurm_ids) if slurm_ids else {}
    return [run_row(study_dir, rid, name, manifest.get(rid), slurm) for rid, name in runs]


UNHEALTHY = ("collapsed", "diverging", "nan")


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Runs per state, then per unhealthy label (a collapsed run also counts as done)."""
    counts = Counter(row["state"] for row in rows)
    health = Counter(row.get("health") for row in rows)
    return {**{state: counts[state] for state in STATES if counts[state]},
            **{label: health[label] for label in UNHEALTHY if health[label]}}


def status(spec: Any) -> list[dict[str, Any]]:
    """Rows for a spec (path or `Spec`), in expansion order; for Python callers (CI, notebooks)."""
    from scaling.study.spec import Spec, expand, load_spec

    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    return study_status(spec.study_dir, [(r.run_id, r.name) for r in expand(spec)])
