"""The callable every executor runs: one RL run into its run folder, resumable and requeueable.

`RunJob` is a submitit `Checkpointable`. Submitit's own USR2 handler would call `checkpoint()`
from inside the signal handler, in the middle of an optimizer step, and exit at once. Instead we
install our own handler while training: it only raises a flag, the trainer sees it at the next
step boundary (`should_stop`), saves a checkpoint and returns; then we hand the signal to the
handler we displaced (submitit's), which calls `checkpoint()` -> `DelayedSubmission(self)`,
requeues the job and exits. Nothing of the training state is pickled: on restart the trainer
resumes from the newest checkpoint in the run folder, which also covers restarts that never saw
a USR2 (external requeue, node failure, a relaunch of a failed run). SIGTERM (scancel, an external
requeue; submitit itself only logs it) also stops at the next step boundary with a checkpoint, so
the work since the last one survives if the step ends within Slurm's KillWait.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from submitit.helpers import Checkpointable

from scaling.config import RunConfig, build_config
from scaling.fsio import LockError
from scaling.store import RunFiles

TRAIN_ENTRY = "scaling.rl.loop:train"
WARMSTART_ENTRY = "scaling.rl.warmstart:ensure_base_model"
STOPPED_EXIT_CODE = 3  # local worker: stopped on a signal after saving a checkpoint
LOCK_WAIT_S = 600  # a forced relaunch waits this long for the old process to checkpoint and leave


def resolve(entry: str) -> Callable[..., Any]:
    module, name = entry.split(":")
    return getattr(importlib.import_module(module), name)


def warmstart_configs(configs: list[dict[str, Any]], warmstart_entry: str) -> list[dict[str, Any]]:
    """One config per distinct base model, in order; built one after the other before any job.

    The warm-start module's own key (`warmstart_key` next to the entry point) says which runs
    share a base; without one, every run config minus its RL seed counts as distinct (the cache
    then answers the repeats).
    """
    module = importlib.import_module(warmstart_entry.split(":")[0])
    key_of = getattr(module, "warmstart_key", None)
    seen, out = set(), []
    for config in configs:
        if not config.get("warmstart", {}).get("enabled", True):
            continue
        tree = {**config, "seed": 0}
        key = key_of(build_config(tree)) if key_of else repr(sorted(tree.items()))
        if key not in seen:
            seen.add(key)
            out.append(tree)
    return out


class StopFlag:
    """Turns the given signals into a flag for `should_stop`, remembering the displaced handlers."""

    def __init__(self, signums: tuple[int, ...]):
        self.received: int | None = None
        self.previous: dict[int, Any] = {}
        for signum in signums:
            try:
                self.previous[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread: no signals to catch, never stops early
                pass

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.received = signum

    def is_set(self) -> bool:
        return self.received is not None

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def forward(self) -> None:
        """Deliver the caught signal to the displaced handler (submitit's checkpoint-and-requeue)."""
        handler = self.previous.get(self.received) if self.received is not None else None
        if callable(handler):
            handler(self.received, None)


def mark_failed(files: RunFiles, error: BaseException) -> None:
    if files.failed.exists():  # the trainer wrote its own reason (TrainingFailed)
        return
    tail = traceback.format_exception(type(error), error, error.__traceback__)[-6:]
    files.mark(files.failed, {"reason": f"{type(error).__name__}: {error}", "traceback": "".join(tail),
                              "time": time.time()})


def join_slurm_tasks() -> None:
    """Inside a multi-task Slurm job (a data-parallel run): export this task's RANK, WORLD_SIZE, LOCAL_RANK and
    the rendezvous address from Slurm's variables, as torchrun would set them (scaling.runtime reads them)."""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ and "RANK" not in os.environ:
        from submitit.helpers import TorchDistributedEnvironment

        # Slurm binds each task's GPUs itself (--gpus-per-task); scaling.runtime picks by local rank otherwise.
        TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def is_writer() -> bool:
    """Rank 0 of a data-parallel run (or a one-process run): the one that writes markers in the run folder."""
    return int(os.environ.get("RANK", "0")) == 0


class RunJob(Checkpointable):
    """Train one run; picklable (a config dict, a folder, the entry point's import path)."""

    def __init__(self, config: dict[str, Any], run_dir: str | Path, train_entry: str = TRAIN_ENTRY,
                 stop_signals: tuple[int, ...] = (signal.SIGUSR2, signal.SIGTERM)):
        self.config = config
        self.run_dir = str(run_dir)
        self.train_entry = train_entry
        self.stop_signals = tuple(int(s) for s in stop_signals)

    def __call__(self) -> dict[str, Any]:
        config: RunConfig = build_config(self.config)
        files = RunFiles(self.run_dir)
        train = resolve(self.train_entry)
        if files.done.exists():  # a duplicate submission of a finished run: nothing to do
            return {"status": "done", "skipped": True}
        join_slurm_tasks()
        stop = StopFlag(self.stop_signals)
        try:  # the trainer takes the run lock; a forced relaunch waits for the old process to leave
            result = train(config, files.dir, progress=False, should_stop=stop.is_set, lock_wait_s=LOCK_WAIT_S)
        except LockError:  # another live process writes this run: its folder is not ours to mark
            raise
        except Exception as error:
            if is_writer():
                mark_failed(files, error)
            raise
        finally:
            stop.restore()
        if result.get("status") == "stopped":
            # Under submitit: checkpoint() + requeue + exit on rank 0 (it requeues the whole job); the other
            # ranks' handler returns and they end here, after all ranks saved the same step.
            stop.forward()
        return result

