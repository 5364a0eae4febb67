"""One writer per run folder: `train` itself takes the lock, whoever calls it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from scaling.config import build_config
from scaling.fsio import LockError, holder
from scaling.rl.loop import train


def test_second_writer_is_refused_naming_host_and_pid(tmp_path, tiny_tree):
    tiny_tree["train"]["steps"] = 100_000
    run = tmp_path / "run"
    code = ("from scaling.config import build_config; from scaling.rl.loop import train; "
            f"train(build_config({tiny_tree!r}), {str(run)!r})")
    first = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "evals.parquet").exists():
            assert first.poll() is None, "the first writer died"
            time.sleep(0.1)
        expected = f"host {socket.gethostname()} pid {first.pid}"
        assert holder(run / ".lock") == expected
        with pytest.raises(LockError, match=expected):
            train(build_config(tiny_tree), run)

        from scaling.cli import _register, app

        _register()
        tiny_tree_set = ["--set", "train.steps=100000"]  # the same config: only the lock can refuse it
        config = tmp_path / "tiny.yaml"
        import yaml

        config.write_text(yaml.safe_dump(tiny_tree))
        result = CliRunner().invoke(app, ["train", str(config), *tiny_tree_set, "--quiet", "--out", str(run)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.output.strip() == f"error: run folder {run}: in use by another process ({expected})"
        assert not (run / "FAILED").exists()  # the live run is not marked failed by the refused one
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
