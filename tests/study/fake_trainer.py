"""A trainer with the contract of `scaling.rl.loop.train`, but no torch: for executor tests.

It writes evals / metrics through the real store, checkpoints (a JSON file per step) at every
evaluation, resumes from the newest checkpoint (dropping rows written after it), honours
`should_stop` at step boundaries and writes DONE. Env knobs: FAKE_STEP_S (seconds per step),
FAKE_FAIL (raise at this step), FAKE_SIGNAL_AT (send this process SIGUSR2 after that step), FAKE_TRACE (a file to append "start/end run_dir time" lines to),
FAKE_HOLD (a file: from step FAKE_HOLD_AFTER on, wait at each step boundary while it exists, until stopped),
so a test can act on a running run without racing its clock.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from scaling.config import RunConfig, save_run_config
from scaling.store import EVAL_COLUMNS, STEP_COLUMNS, RunFiles, TableLog


class TrainingFailed(RuntimeError):
    pass


def ensure_base_model(config: RunConfig) -> Path:
    trace = os.environ.get("FAKE_TRACE")
    if trace:
        with open(trace, "a") as handle:
            handle.write(f"warmstart {config.model.hidden_size} {time.time()}\n")
    return Path("/nonexistent")


def _trace(event: str, run_dir: Path) -> None:
    trace = os.environ.get("FAKE_TRACE")
    if trace:
        with open(trace, "a") as handle:
            handle.write(f"{event} {run_dir.name} {time.time()}\n")


def _latest(folder: Path) -> int | None:
    steps = [int(p.stem.split("-")[1]) for p in folder.glob("step-*.json")]
    return max(steps) if steps else None


def train(config: RunConfig, run_dir: Path, *, progress: bool = False, should_stop=None, lock_wait_s: float = 0.0) -> dict:
    with RunFiles(run_dir).lock(lock_wait_s):  # the trainer's contract: it holds the run lock while it writes
        return _train(config, Path(run_dir), should_stop)


def _train(config: RunConfig, run_dir: Path, should_stop) -> dict:
    files = RunFiles(run_dir)
    files.dir.mkdir(parents=True, exist_ok=True)
    save_run_config(config, files.config)
    evals, metrics = TableLog(files.evals, EVAL_COLUMNS), TableLog(files.metrics, STEP_COLUMNS)
    start = _latest(files.checkpoints)
    if start is not None:
        print(f"resumed from step {start}", flush=True)
        evals.truncate_after(start)
        metrics.truncate_after(start)
    step = start or 0
    _trace("start", files.dir)
    if start is None:
        _evaluate(evals, files, step)
    while step < config.train.steps:
        _hold(step, should_stop)
        if should_stop is not None and should_stop():
            _checkpoint(files, step)
            _trace("stop", files.dir)
            return {"status": "stopped", "step": step}
        time.sleep(float(os.environ.get("FAKE_STEP_S", "0.02")))
        step += 1
        if os.environ.get("FAKE_FAIL") == str(step):
            raise ValueError(f"fake failure at step {step}")
        metrics.append([{"step": step, "flops": 1e9 * step, "loss": 0.1}])
        if os.environ.get("FAKE_SIGNAL_AT") == str(step):  # what Slurm does before a time limit
            os.kill(os.getpid(), signal.SIGUSR2)
        if step % config.eval.every == 0 or step == config.train.steps:
            _evaluate(evals, files, step)
    files.mark(files.done, {"status": "done", "step": step})
    _trace("end", files.dir)
    return {"status": "done", "step": step}


def _hold(step: int, should_stop) -> None:
    gate = os.environ.get("FAKE_HOLD")
    if not gate or step < int(os.environ.get("FAKE_HOLD_AFTER", "0")):
        return
    while Path(gate).exists() and not (should_stop is not None and should_stop()):
        time.sleep(0.05)


def _evaluate(evals: TableLog, files: RunFiles, step: int) -> None:
    evals.append([{"step": step, "pass_rate": step / 100, "flops": 1e9 * step, "eval_k": 2}])
    _checkpoint(files, step)


def _checkpoint(files: RunFiles, step: int) -> None:
    files.checkpoints.mkdir(exist_ok=True)
    (files.checkpoints / f"step-{step}.json").write_text(json.dumps({"step": step}))
