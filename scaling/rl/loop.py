"""A run: evaluate at step 0 and every `eval.every` steps, train in between, checkpoint, resume.

Resume is exact on CPU: a run killed anywhere and restarted from its newest checkpoint writes the
same evaluation rows (timings aside) as an uninterrupted run. Rows written after that checkpoint
are dropped and redone; every RNG, the optimizer and the prompt pool come back from the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from scaling.config import ConfigError, RunConfig, read_yaml, save_run_config
from scaling.rl.evaluate import evaluate, merge_results
from scaling.fsio import remove_stale_temps
from scaling.rl.checkpoint import CheckpointError, load_latest, save_checkpoint, save_eval_weights, set_aside
from scaling.rl.engines import open_engine
from scaling.rl.health import classify
from scaling.rl.inputs import validate_inputs
from scaling.rl.state import RunState, build_state
from scaling.runtime import Runtime, cores_available, init_runtime, shutdown_runtime
from scaling.rl.step import rl_step
from scaling.rl.coverage import count_coverage
from scaling.rl.trackers import Trackers, open_trackers
from scaling.rl.trajectories import merge_ranks, trajectory_rows
from scaling.store import EVAL_COLUMNS, STEP_COLUMNS, TRAJECTORY_COLUMNS, RunFiles, TableLog


class TrainingFailed(RuntimeError):
    """The run stopped with a recorded failure reason (FAILED marker written)."""


def _check_run_dir(files: RunFiles, config: RunConfig) -> None:
    """A run folder belongs to one config: resuming with a different one would mix two runs' rows."""
    if files.config.exists():
        existing = RunConfig.model_validate(read_yaml(files.config))
        if existing.identity_hash() != config.identity_hash():
            raise ConfigError(f"{files.dir}: holds a run with a different config "
                              f"({existing.identity_hash()} != {config.identity_hash()}); choose another output folder")


def train_sample(state: RunState) -> list:
    """The fixed sample of training prompts scored at each evaluation (eval.train_prompts): RFT's overfitting watch."""
    cfg = state.config
    n = cfg.eval.train_prompts
    if n is None:
        n = min(len(state.train_examples), len(state.val_examples)) if cfg.task.train_prompts else 0
    order = np.random.default_rng(cfg.warmstart_seed).permutation(len(state.train_examples))
    return [state.train_examples[i] for i in sorted(order[:n])]


def _sharded(state: RunState, examples: list, **options):
    """Each rank evaluates its contiguous share of `examples` with its own generator; every rank gets the merge."""
    mine = state.runtime.shard(examples)
    part = evaluate(state.model, state.tokenizer, state.task, mine, engine=state.engine, **options) if mine else None
    return merge_results([p for p in state.runtime.all_gather(part) if p is not None])


def _evaluate(state: RunState, train_rows: list[dict]) -> dict:
    """One evaluation row; `train_rows` are the step metrics since the previous evaluation."""
    cfg = state.config
    options = dict(k=cfg.eval.k, rollout=cfg.rollout, seed=cfg.seed + 1_000_003 + 7919 * state.runtime.rank)
    result = _sharded(state, state.val_examples, greedy=cfg.eval.greedy, **options)
    sample = train_sample(state)
    on_train = _sharded(state, sample, greedy=False, **options) if sample else None
    zero = [r["zero_reward_frac"] for r in train_rows]
    return {**state.meter.row(), **result.row(), **count_coverage(result.correct_counts, cfg.eval.k),
            "train_zero_reward_frac": sum(zero) / len(zero) if zero else float("nan"),
            "train_solved_frac": state.pool.solved_frac, "epochs": state.meter.prompts_seen / len(state.train_examples),
            "train_pass_rate": on_train.pass_rate if on_train else float("nan")}


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
          should_stop: Callable[[], bool] | None = None, lock_wait_s: float = 0.0) -> dict:
    """Run (or resume) one RL run into `run_dir`; see the module docstring and scaling.store for outputs.

    Inputs are validated before anything is written (a rejected run leaves no trace). The run folder
    is locked for the whole run: a second writer waits `lock_wait_s` seconds, then gets a `LockError`
    naming the holder's host and PID.

    Under a multi-process launcher (torchrun, or Slurm tasks via submitit) every rank calls this and joins the
    process group (scaling.runtime); rank 0 alone holds the lock and writes tables, markers and checkpoints.
    """
    files = RunFiles(run_dir)
    task = validate_inputs(config)
    _check_run_dir(files, config)
    runtime = init_runtime(config.device)
    try:
        with files.lock(lock_wait_s) if runtime.is_main else contextlib.nullcontext():
            _check_run_dir(files, config)  # again under the lock: another writer may have claimed it meanwhile
            if files.done.exists():
                return {"status": "done", **(files.read_marker(files.done) or {})}
            if runtime.is_main:
                files.failed.unlink(missing_ok=True)
                remove_stale_temps(files.dir, files.checkpoints)  # a killed writer's leftovers; no other writer now
            runtime.barrier()  # the other ranks read the folder only once rank 0 has cleaned it
            return _train_recorded(config, files, progress, should_stop, task, runtime)
    finally:
        shutdown_runtime(runtime)


def _train_recorded(config: RunConfig, files: RunFiles, progress: bool, should_stop, task, runtime: Runtime) -> dict:
    """_train, with a FAILED marker (written by rank 0) naming the reason when it raises."""
    try:
        return _train(config, files, progress, should_stop, task, runtime)
    except Exception as err:
        if runtime.is_main:
            files.mark(files.failed, {"reason": f"{type(err).__name__}: {err}",
                                      "traceback": traceback.format_exc()[-4000:], "time": time.time()})
        if isinstance(err, FloatingPointError):
            raise TrainingFailed(str(err)) from err
        raise


def _start_pipeline(state: RunState, threads: int, saved: dict | None) -> None:
    """PipelineRL: one core samples in its own process, the others train; a checkpoint's in-flight batches
    and sampler RNG state carry on."""
    from scaling.rl.pipeline import PipelineSampler

    torch.set_num_threads(max(1, threads - 1))
    state.pipeline = PipelineSampler(state.config, state.base_path, state.model, threads=1, version=state.meter.step,
                                     resume=(saved or {}).get("pipeline"))


def _resume_point(files: RunFiles, evals: TableLog, metrics: TableLog, runtime: Runtime,
                  sharded: bool = False) -> dict | None:
    """The newest checkpoint that loads. None with rows on disk would restart at step 0 and drop
    every row: refuse instead, and leave the tables and checkpoints as they are."""
    loaded = load_latest(files.checkpoints, runtime, on_cpu=sharded)
    if loaded.state is None and loaded.failed and (evals.rows or metrics.rows):
        raise CheckpointError(f"{files.checkpoints}: no checkpoint loads ({loaded.describe()}) but the run has "
                              f"{len(evals.rows)} evaluation rows; not restarting from step 0 (nothing was changed)")
    if runtime.is_main:  # the folder's writer; the other ranks read the same checkpoint
        set_aside(loaded.failed)
    return loaded.state


def _train(config: RunConfig, files: RunFiles, progress: bool, should_stop, task, runtime: Runtime) -> dict:
    threads = config.threads or cores_available()
    if runtime.distributed and config.train.pipeline_k > 0:
        raise ConfigError("train.pipeline_k: PipelineRL runs in one process; data-parallel runs need pipeline_k 0")
    # `threads` sizes a CPU run's compute; on a GPU the CPU only feeds it, within the cores this process was given
    # (torch's default would take every core of a shared node).
    torch.set_num_threads(cores_available() if runtime.is_cuda else threads)
    main = runtime.is_main
    evals, metrics = TableLog(files.evals, EVAL_COLUMNS, main), TableLog(files.metrics, STEP_COLUMNS, main)
    saved = _resume_point(files, evals, metrics, runtime, sharded=config.train.parallel == "fsdp")
    state = build_state(config, runtime, task=task)
    if saved is not None:
        state.load_state_dict(saved)
    state.engine = open_engine(config, state.model, runtime)  # with the resumed weights
    if main and not files.config.exists():  # claimed only once the run could start (warm start and model built)
        save_run_config(config, files.config)
    if config.train.pipeline_k > 0:
        _start_pipeline(state, threads, saved)
    step = state.meter.step
    trajectories = (TableLog(files.trajectories, TRAJECTORY_COLUMNS, main)
                    if config.log.trajectories != "none" else None)
    for table in filter(None, (evals, metrics, trajectories)):
        table.truncate_after(step)
    pending: list[dict] = []
    pending_trajectories: list[dict] = []
    saved_at = step if saved is not None else -1
    # Trackers stream from rank 0 alone, as the tables are written (scaling.runtime: is_main).
    trackers = open_trackers(config.log, files.dir, config.to_dict()) if state.runtime.is_main else Trackers([])

    def checkpoint() -> None:
        nonlocal saved_at
        if main and config.checkpoint.keep_eval_weights and evals.rows and evals.rows[-1]["step"] == step:
            save_eval_weights(files.dir / "weights", step, state.model, state.tokenizer, evals.rows[-1])
        if saved_at == step:  # e.g. the last step was an evaluation step: already saved
            return
        metrics.append(pending)
        if trajectories is not None:
            trajectories.append(pending_trajectories)
        snapshot = state.state_dict()  # on every rank: it gathers each rank's sampling streams
        if main:
            save_checkpoint(files.checkpoints, step, snapshot, runtime)
        trackers.log(pending, "train")  # once durable: a resumed run redoes only steps it never sent
        pending.clear()
        pending_trajectories.clear()
        saved_at = step

    def evaluate_now() -> None:
        last = evals.rows[-1]["step"] if evals.rows else -1
        since = [r for r in metrics.rows + pending if r["step"] > last]
        row = _evaluate(state, since)
        row["health"] = classify(metrics.rows + pending, [r["pass_rate"] for r in evals.rows] + [row["pass_rate"]])
        evals.append([row])
        checkpoint()
        trackers.log(evals.rows[-1:], "eval")

    def keep_trajectories(batch) -> None:  # called once per sampling round (DAPO refill may sample several)
        prompts = [state.train_examples[i].prompt for i in batch.pool_indices]
        room = config.log.trajectories_per_step - sum(r["step"] == step + 1 for r in pending_trajectories)
        mine = trajectory_rows(step + 1, batch, prompts, config.log.trajectories, room)
        # Every rank samples the same rounds, so all reach this gather together; rank 0 then writes the whole step.
        pending_trajectories.extend(merge_ranks(runtime.all_gather(mine), room))

    on_batch = keep_trajectories if trajectories is not None else None
    reporter = _Reporter(progress and main, config.train.steps, step, files.dir.name)
    try:
        if step == 0 and not evals.rows:
            evaluate_now()
        reporter.update(step, pass_rate=evals.rows[-1]["pass_rate"])
        while step < config.train.steps:
            # A stop request on any rank (USR2 reaches every task) stops all ranks here, at the same step.
            if runtime.any_true(should_stop is not None and should_stop()):
                checkpoint()
                return {"status": "stopped", "step": step}
            if state.pool.remaining < runtime.world_size:
                break  # no-positive-resampling retired (nearly) every prompt: nothing left to learn from
            started = time.perf_counter()
            row = rl_step(state, on_batch)
            step += 1
            state.meter.step = step
            state.meter.add_time(time.perf_counter() - started)
            row = {**state.meter.row(), **row}
            row["health"] = classify(metrics.rows + pending + [row])
            pending.append(row)
            reporter.update(step, reward=row["reward_mean"])
            if step % config.eval.every == 0 or step == config.train.steps:
                evaluate_now()
                reporter.update(step, pass_rate=evals.rows[-1]["pass_rate"])
            elif step % config.checkpoint_every == 0:
                checkpoint()
        if evals.rows[-1]["step"] != step:  # stopped early: the curve must end where training did
            evaluate_now()
        checkpoint()
    finally:
        reporter.close()
        trackers.close()
        if state.pipeline is not None:
            state.pipeline.close()
        state.engine.close()
    last = evals.rows[-1]
    summary = {"status": "done", "step": step, "pass_rate": last["pass_rate"], "flops": last["flops"],
               "wall_seconds": state.meter.wall_seconds, "health": last["health"]}
    if not math.isfinite(summary["pass_rate"]):
        raise FloatingPointError("non-finite pass rate at the last evaluation")
    if main:
        files.mark(files.done, summary)
    return summary
