"""Experiment trackers (TensorBoard, W&B, trackio) behind one interface: `log(rows, kind)` and `close()`.

Rows go to the trackers when they are written to Parquet (step metrics at each checkpoint, evaluation
rows right after theirs), so a resumed run, which redoes the steps after its last checkpoint, sends no
step twice. Parquet stays the source of truth; a tracker is a view. Only finite numbers are sent, under
`train/<column>` and `eval/<column>`. Every tracker is an optional extra, imported only when asked for.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

class Tracker(Protocol):
    def log(self, rows: list[dict[str, Any]], kind: str) -> None: ...

    def close(self) -> None: ...


def scalars(row: dict[str, Any], kind: str) -> dict[str, float]:
    """The row's finite numbers (bools and lists left out) under `kind/column`."""
    return {f"{kind}/{k}": float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class TensorBoard:
    def __init__(self, run_dir: Path, config: dict[str, Any]):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, rows, kind):
        for row in rows:
            for tag, value in scalars(row, kind).items():
                self.writer.add_scalar(tag, value, global_step=int(row["step"]))
        self.writer.flush()

    def close(self):
        self.writer.close()


class WandB:
    """Offline unless log.wandb_mode is online: files under <run>/wandb, `wandb sync` uploads them later."""

    def __init__(self, run_dir: Path, config: dict[str, Any], project: str, mode: str):
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=project, name=run_dir.name, dir=str(run_dir), mode=mode, config=config,
                              reinit="create_new")
        self.run.define_metric("*", step_metric="step")

    def log(self, rows, kind):
        for row in rows:
            self.run.log({"step": int(row["step"]), **scalars(row, kind)})

    def close(self):
        self.run.finish()


class Trackio:
    def __init__(self, run_dir: Path, config: dict[str, Any], project: str):
        import trackio

        self.trackio = trackio
        self.run = trackio.init(project=project, name=run_dir.name, config=config)

    def log(self, rows, kind):
        for row in rows:
            self.trackio.log(scalars(row, kind), step=int(row["step"]))

    def close(self):
        self.trackio.finish()


class Trackers:
    """Every tracker a run asked for, fanned out; an empty list does nothing."""

    def __init__(self, trackers: list[Tracker]):
        self.trackers = trackers

    def log(self, rows: list[dict[str, Any]], kind: str) -> None:
        if rows:
            for tracker in self.trackers:
                tracker.log(rows, kind)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


def open_trackers(log_config, run_dir: Path, config: dict[str, Any]) -> Trackers:
    """Open the trackers named in `log_config.report_to` (a LogConfig) for the run in `run_dir`."""
    made: list[Tracker] = []
    for name in log_config.report_to:
        if name == "tensorboard":
            made.append(TensorBoard(run_dir, config))
        elif name == "wandb":
            made.append(WandB(run_dir, config, log_config.project, log_config.wandb_mode))
        elif name == "trackio":
            made.append(Trackio(run_dir, config, log_config.project))
    return Trackers(made)
