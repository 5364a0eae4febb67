"""Helpers for the real-Slurm tests (imported by name: a module called `conftest` is ambiguous once
pytest has collected another directory's conftest.py, so the tests import from here).

Which cluster: the throwaway one that `tests/slurm/cluster.sh up` starts (found through its config under
$SCALING_SLURM_DIR, default /tmp/scaling-slurm), or, with SCALING_SLURM_TESTS=1, whatever cluster the
environment already points at (a real one: the tests then submit small jobs to its default partition).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable

import pytest

HERE = Path(__file__).resolve().parent
SLURM_DIR = Path(os.environ.get("SCALING_SLURM_DIR", "/tmp/scaling-slurm"))
OUR_CONF = SLURM_DIR / "etc" / "slurm.conf"
UP_HINT = "start one with `bash tests/slurm/cluster.sh up` (root, Debian/Ubuntu)"

def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def slurm_env() -> dict[str, str]:
    """The environment every Slurm command and submitit call of these tests runs with."""
    env = dict(os.environ)
    if OUR_CONF.exists() and os.environ.get("SCALING_SLURM_TESTS") != "1":
        env["SLURM_CONF"] = str(OUR_CONF)
    return env


@functools.cache
def cluster_problem() -> str | None:
    """Why no cluster can be used, or None when one answers and has a usable node (asked once per session)."""
    if not OUR_CONF.exists() and os.environ.get("SCALING_SLURM_TESTS") != "1":
        return f"no Slurm cluster: {OUR_CONF} does not exist; {UP_HINT}, or set SCALING_SLURM_TESTS=1 to use the " \
               "cluster this environment already points at"
    for tool in ("sbatch", "scontrol", "sacct", "sinfo"):
        if shutil.which(tool) is None:
            return f"no Slurm cluster: `{tool}` is not on PATH; {UP_HINT}"
    env = slurm_env()
    try:
        ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "no Slurm cluster: `scontrol ping` did not answer within 15 s"
    if "is UP" not in ping.stdout:
        said = next(iter((ping.stdout + ping.stderr).strip().splitlines()), "no output")  # drop its banner
        return f"no Slurm cluster: slurmctld does not answer `scontrol ping` ({said}); {UP_HINT}"
    # Accounting is what submitit reads job states from; a cluster without it hangs cancelled jobs forever.
    acct = subprocess.run(["sacct", "-n", "-X", "-S", "now-1minutes", "-o", "JobID"], env=env, capture_output=True,
                          text=True, timeout=30)
    if acct.returncode != 0:
        return f"Slurm cluster has no working accounting (sacct: {acct.stderr.strip()})"
    nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=15)
    # A trailing "*" (not responding) or "~" (powered off) makes the state not match: such a node runs nothing.
    usable = [s for s in nodes.stdout.split() if s in {"idle", "mixed", "allocated", "completing"}]
    if not usable:
        return f"Slurm cluster has no usable node (sinfo states: {nodes.stdout.split() or 'none'})"
    return None


def use_cluster(patch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Point this process (and every job it submits) at the test cluster for the lifetime of `patch`."""
    for key in ("SLURM_CONF", "PYTHONPATH", "OMP_NUM_THREADS"):
        if key in env:
            patch.setenv(key, env[key])


def slurm(*args: str, check: bool = True) -> str:
    """Run a Slurm command against the test cluster and return its stdout."""
    out = subprocess.run(list(args), env=slurm_env(), capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def sacct_states(job_id: str) -> dict[str, str]:
    """Job (or array task) id -> state as accounting records it, allocations only (no .batch steps)."""
    rows = slurm("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "JobID,State").splitlines()
    states = {}
    for row in rows:
        jid, _, state = row.partition("|")
        if jid:
            states[jid] = state.split()[0] if state else ""
    return states


def squeue_state(job_id: str) -> str | None:
    """The controller's view of one job (sacct lags it by a scheduling cycle), or None once it has left."""
    out = slurm("squeue", "-h", "-j", job_id, "-o", "%T", check=False).split()
    return out[0] if out else None


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.25) -> object:
    """Poll until `predicate()` is truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_for_state(job_id: str, states: Iterable[str], timeout: float = 60) -> str:
    """Wait until sacct shows `job_id` in one of `states`; returns that state."""
    wanted = set(states)

    def current() -> str | None:
        state = sacct_states(job_id).get(job_id)
        return state if state in wanted else None

    return str(wait_until(current, timeout, f"job {job_id} to reach {sorted(wanted)} "
                                            f"(sacct: {sacct_states(job_id)})"))
