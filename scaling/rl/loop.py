"""A run: evaluate at step 0 and every `eval.every` steps, train in between, checkpoint, resume.

Resume is exact on CPU: a run killed anywhere and restarted from its newest checkpoint writes the
same evaluation rows (timings aside) as an uninterrupted run. Rows written after that checkpoint
are dropped and redone; every RNG, the optimizer and the prompt pool come back from the checkpoint.
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Callable

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from scaling.config import ConfigError, RunConfig, check_inputs, read_yaml, save_run_config
from scaling.evaluate import evaluate
from scaling.rl.checkpoint import load_latest, save_checkpoint
from scaling.rl.state import RunState, build_state
from scaling.runtime import cores_available
from scaling.rl.step import rl_step
from scaling.store import EVAL_COLUMNS, STEP_COLUMNS, RunFiles, TableLog


class TrainingFailed(RuntimeError):
    """The run stopped with a recorded failure reason (FAILED marker written)."""


def _claim_run_dir(files: RunFiles, config: RunConfig) -> None:
    """A run folder belongs to one config: resuming with a different one would mix two runs' rows."""
    files.dir.mkdir(parents=True, exist_ok=True)
    if files.config.exists():
        existing = RunConfig.model_validate(read_yaml(files.config))
        if existing.identity_hash() != config.identity_hash():
            raise ConfigError(f"{files.dir}: holds a run with a different config "
                              f"({existing.identity_hash()} != {config.identity_hash()}); choose another output folder")
    else:
        save_run_config(config, files.config)


def _evaluate(state: RunState) -> dict:
    cfg = state.config
    result = evaluate(state.model, state.tokenizer, state.task, state.val_examples, k=cfg.eval.k,
                      greedy=cfg.eval.greedy, rollout=cfg.rollout, seed=cfg.seed + 1_000_003)
    return {**state.meter.row(), **result.row()}


class _Reporter:
    """A rich progress bar when asked for, silence otherwise."""

    def __init__(self, enabled: bool, total: int, start: int, name: str):
        self.progress = None
        if enabled:
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn())
            self.progress.start()
            self.task = self.progress.add_task(name, total=total, completed=start, info="")
        self.info = {}

    def update(self, step: int, **info) -> None:
        self.info.update(info)
        if self.progress:
            text = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.info.items())
            self.progress.update(self.task, completed=step, info=text)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()


def train(config: RunConfig, run_dir: str | Path, *, progress: bool = False,
          should_stop: Callable[[], bool] | None = None) -> dict:
    """Run (or resume) one RL run into `run_dir`; see the module docstring and scaling.store for outputs."""
    files = RunFiles(run_dir)
    check_inputs(config)
    _claim_run_dir(files, config)
    if files.done.exists():
        return {"status": "done", **(files.read_marker(files.done) or {})}
    files.failed.unlink(missing_ok=True)
    try:
        return _train(config, files, progress, should_stop)
    except Exception as err:
        files.mark(files.failed, {"reason": f"{type(err).__name__}: {err}",
                                  "traceback": traceback.format_exc()[-4000:], "time": time.time()})
        if isinstance(err, FloatingPointError):
            raise TrainingFailed(str(err)) from err
        raise


def _start_pipeline(state: RunState, threads: int) -> None:
    """PipelineRL: one core samples in its own process, the others train."""
    from scaling.rl.pipeline import PipelineSampler

    torch.set_num_threads(max(1, threads - 1))
    state.pipeline = PipelineSampler(state.config, state.base_path, state.model, threads=1, version=state.meter.step)


def _train(config: RunConfig, files: RunFiles, progress: bool, should_stop) -> dict:
    threads = config.threads or cores_available()
    torch.set_num_threads(threads)
    state = build_state(config)
    saved = load_latest(files.checkpoints)
    if saved is not None:
        state.load_state_dict(saved)
    if config.train.pipeline_k > 0:
        _start_pipeline(state, threads)
    step = state.meter.step
    evals, metrics = TableLog(files.evals, EVAL_COLUMNS), TableLog(files.metrics, STEP_COLUMNS)
    evals.truncate_after(step)
    metrics.truncate_after(step)
    pending: list[dict] = []
    saved_at = step if saved is not None else -1

    def checkpoint() -> None:
        nonlocal saved_at
        if saved_at == step:  # e.g. the last step was an evaluation step: already saved
            return
        metrics.append(pending)
        pending.clear()
        save_checkpoint(files.checkpoints, step, state.state_dict())
        saved_at = step

    reporter = _Reporter(progress, config.train.steps, step, files.dir.name)
    try:
        if step == 0 and not evals.rows:
            evals.append([_evaluate(state)])
            checkpoint()
        reporter.update(step, pass_rate=evals.rows[-1]["pass_rate"])
        while step < config.train.steps:
            if should_stop is not None and should_stop():
                checkpoint()
                return {"status": "stopped", "step": step}
            if state.pool.remaining == 0:
                break  # no-positive-resampling retired every prompt: nothing left to learn from
            started = time.perf_counter()
            row = rl_step(state)
            step += 1
            state.meter.step = step
            state.meter.wall_seconds += time.perf_counter() - started
            pending.append({**state.meter.row(), **row})
            reporter.update(step, reward=row["reward_mean"])
            if step % config.eval.every == 0 or step == config.train.steps:
                evals.append([_evaluate(state)])
                reporter.update(step, pass_rate=evals.rows[-1]["pass_rate"])
                checkpoint()
            elif step % config.checkpoint_every == 0:
                checkpoint()
        if evals.rows[-1]["step"] != step:  # stopped early: the curve must end where training did
            evals.append([_evaluate(state)])
        checkpoint()
    finally:
        reporter.close()
        if state.pipeline is not None:
            state.pipeline.close()
    last = evals.rows[-1]
    summary = {"status": "done", "step": step, "pass_rate": last["pass_rate"], "flops": last["flops"],
               "wall_seconds": state.meter.wall_seconds}
    if not math.isfinite(summary["pass_rate"]):
        raise FloatingPointError("non-finite pass rate at the last evaluation")
    files.mark(files.done, summary)
    return summary
