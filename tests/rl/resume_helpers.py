"""What the resume tests share: rows compared without timings, and a run killed by SIGKILL part-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from scaling.config import RunConfig
from scaling.store import RunFiles, read_evals

TIMING = ["wall_seconds", "device_hours", "eval_seconds", "step_seconds"]


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A table less its wall-clock columns: what an interrupted run must reproduce exactly."""
    return frame.drop(columns=[c for c in TIMING if c in frame]).reset_index(drop=True)


def sigkill_after_evals(config: RunConfig, run: Path, evals: int = 3, timeout_s: float = 120) -> None:
    """Train `config` into `run` in a subprocess and SIGKILL it once `evals` evaluation rows are written."""
    code = ("from scaling.config import build_config; from scaling.rl.loop import train; "
            f"train(build_config({config.to_dict()!r}), {str(run)!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + timeout_s
    while time.time() < deadline and len(read_evals(run)) < evals:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not RunFiles(run).done.exists()
