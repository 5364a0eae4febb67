"""The test cluster itself, through submitit as the studies use it: jobs, arrays, failures, cancellation."""

from __future__ import annotations

import os
import time

import pytest

from slurm_helpers import sacct_states, slurm, squeue_state, wait_for_state, wait_until

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(180)]


def _add(a: int, b: int) -> tuple[int, str, str]:
    return a + b, os.environ.get("SLURM_JOB_ID", ""), os.environ.get("SLURM_ARRAY_TASK_ID", "")


def _square(x: int) -> int:
    return x * x


def _boom(message: str) -> None:
    raise ValueError(message)


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


def test_trivial_job_runs_on_slurm_and_is_accounted(executor_factory):
    job = executor_factory().submit(_add, 2, 3)
    total, job_id, task = job.result()
    assert total == 5
    assert job_id == job.job_id and task == ""  # it really ran as a Slurm job, not in-process
    assert wait_for_state(job.job_id, {"COMPLETED"}, timeout=30) == "COMPLETED"


def test_array_returns_every_result_in_order(executor_factory):
    jobs = executor_factory("array").map_array(_square, range(6))
    assert [job.result() for job in jobs] == [x * x for x in range(6)]
    array_id = jobs[0].job_id.split("_")[0]
    assert [job.job_id for job in jobs] == [f"{array_id}_{i}" for i in range(6)]
    states = wait_until(lambda: (s := sacct_states(array_id)) and len(s) == 6 and set(s.values()) == {"COMPLETED"}
                        and s, timeout=30, what=f"all 6 tasks of array {array_id} COMPLETED in sacct")
    assert set(states) == {f"{array_id}_{i}" for i in range(6)}


def test_exception_in_job_is_a_failed_job_with_its_message(executor_factory):
    import submitit

    job = executor_factory().submit(_boom, "the answer is not 41")
    with pytest.raises(submitit.core.utils.FailedJobError, match="the answer is not 41"):
        job.result()
    # submitit wraps the exception and exits non-zero: accounting must say FAILED, not COMPLETED.
    assert wait_for_state(job.job_id, {"FAILED", "COMPLETED"}, timeout=30) == "FAILED"


def test_cancelled_job_is_cancelled_in_sacct_and_in_submitit(executor_factory):
    job = executor_factory().submit(_sleep, 300)
    wait_until(lambda: squeue_state(job.job_id) == "RUNNING", timeout=60, what=f"job {job.job_id} RUNNING")
    slurm("scancel", job.job_id)
    assert wait_for_state(job.job_id, {"CANCELLED"}, timeout=30) == "CANCELLED"
    # Without accounting this is where submitit would wait forever: its state comes from sacct.
    wait_until(lambda: job.done(force_check=True), timeout=30, what="submitit to see the cancelled job as done")
    assert job.state.startswith("CANCELLED")
