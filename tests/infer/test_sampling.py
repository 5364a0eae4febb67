"""`scaling infer` on a real (tiny) run: kept evaluation weights, one table per checkpoint and setting,
killed and rerun gives identical tables, budget forcing rows, and bad input."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import _register, app
from scaling.config import build_config
from scaling.infer.sampling import Setting, sample_checkpoint, CheckpointInfo
from scaling.infer.sources import resolve
from scaling.rl.loop import train
from scaling.store import SAMPLE_COLUMNS
from scaling.tasks import make_task


def _tiny_run(tmp_path, tiny_tree):
    tiny_tree["task"]["name"] = "addition_think"
    tiny_tree["rollout"]["max_new_tokens"] = 12
    tiny_tree["checkpoint"] = {"keep_eval_weights": True}
    train(build_config(tiny_tree), tmp_path / "run")
    return tmp_path / "run"


class _Killed(Exception):
    pass


def test_kept_weights_infer_tables_and_an_interrupted_infer_writes_identical_tables(tmp_path, tiny_tree):
    run = _tiny_run(tmp_path, tiny_tree)
    assert sorted(p.name for p in (run / "weights").iterdir()) == [f"step_{s:06d}" for s in (0, 2, 4, 6)]
    (source,) = resolve(run)
    steps = [c.step for c in source.checkpoints]
    assert {0, 2, 4, 6} <= set(steps)
    evals = pd.read_parquet(run / "evals.parquet").set_index("step")["flops"]
    assert all(c.train_flops == evals[c.step] for c in source.checkpoints if c.step in evals.index)

    setting = Setting(n=4, prompts=6, temperature=1.0, max_new_tokens=12, batch_rows=8)  # 2 prompts per chunk
    task = make_task(source.config.task, source.config.warmstart_seed)
    ckpt = source.checkpoints[-1]
    model, tok = ckpt.load()
    info = CheckpointInfo(ckpt.step, ckpt.train_flops)
    whole = sample_checkpoint(model, tok, task, task.val_examples(), setting, info, tmp_path / "a")

    def kill_after_first_chunk(done, total):
        if done == 2:
            raise _Killed
    with pytest.raises(_Killed):
        sample_checkpoint(model, tok, task, task.val_examples(), setting, info, tmp_path / "b",
                          on_chunk=kill_after_first_chunk)
    assert len(pd.read_parquet(tmp_path / "b" / whole.name)) == 8
    resumed = sample_checkpoint(model, tok, task, task.val_examples(), setting, info, tmp_path / "b")
    a, b = pd.read_parquet(whole), pd.read_parquet(resumed)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == list(SAMPLE_COLUMNS) and len(a) == 24
    assert sorted(set(zip(a.prompt_id, a["sample"]))) == [(p, s) for p in range(6) for s in range(4)]
    assert (a.completion_tokens > 0).all() and (a.forced_tokens == 0).all() and (a.inference_flops > 0).all()
    assert a.thinking_tokens.notna().all() and (a.step == ckpt.step).all()
    # A different setting in the same folder is refused rather than mixed in.
    with pytest.raises(ValueError, match="different settings"):
        sample_checkpoint(model, tok, task, task.val_examples(), Setting(n=2, prompts=6, temperature=1.0,
                          max_new_tokens=12, batch_rows=8), info, tmp_path / "a")

    # The CLI: every kept checkpoint under a budget and without; forced rows never exceed the budget.
    _register()
    result = CliRunner().invoke(app, ["infer", str(run), "--n", "3", "--prompts", "4", "--checkpoints", "0",
                                      "--checkpoints", "6", "--budget", "none", "--budget", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    forced = pd.read_parquet(run / "infer" / "n3-p4-t1-think0-2" / "step_000006.parquet")
    assert (forced.thinking_tokens <= 2).all() and forced.budget_max.eq(2).all()
    assert (forced.forced_tokens[forced.thinking_tokens == 2] >= 1).all()
    assert (run / "infer" / "n3-p4-t1" / "step_000000.parquet").exists()
    # Bad input: one line, exit 2, nothing new written.
    before = sorted(p for p in (run / "infer").rglob("*"))
    result = CliRunner().invoke(app, ["infer", str(run), "--n", "3", "--checkpoints", "3", "--quiet"])
    assert result.exit_code == 2 and "no checkpoint at step 3" in result.output
    result = CliRunner().invoke(app, ["infer", str(run), "--n", "3", "--budget", "9:2", "--quiet"])
    assert result.exit_code == 2 and "minimum exceeds" in result.output
    assert sorted(p for p in (run / "infer").rglob("*")) == before

    # `scaling report` and `scaling plot` on the run add the inference report and figures to the training fits.
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "report")])
    assert (tmp_path / "report" / "inference.md").exists(), result.output
    assert "Coverage law" in (tmp_path / "report" / "inference.md").read_text()
    result = CliRunner().invoke(app, ["plot", str(run / "infer"), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figs" / "pass_maj_n3-p4-t1.png").exists() and (tmp_path / "figs" / "thinking_budget.png").exists()

    # A saved model (here a kept evaluation policy): its step and FLOPs come with it; --out is required.
    model_dir = run / "weights" / "step_000006"
    args = ["infer", str(model_dir), "--n", "2", "--prompts", "2", "--set", "task.name=addition_think",
            "--set", "task.digits=2", "--set", "task.train_size=400", "--set", "task.val_size=16", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "give --out" in result.output
    result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    saved = pd.read_parquet(tmp_path / "saved" / "n2-p2-t1" / "step_000006.parquet")
    assert (saved.step == 6).all() and saved.train_flops.iloc[0] == evals[6]


@pytest.mark.slow  # three subprocesses that each import torch: ~20 s on an idle machine
def test_sigkill_mid_infer_then_rerun_writes_the_identical_table(tmp_path, tiny_tree):
    import os
    import signal
    import subprocess
    import sys
    import time

    run = _tiny_run(tmp_path, tiny_tree)
    setting = dict(n=32, prompts=16, temperature=1.0, max_new_tokens=12, batch_rows=32)  # 16 chunks of 1 prompt

    def code(folder):
        return ("from pathlib import Path; from scaling.infer.sources import resolve; "
                "from scaling.infer.sampling import Setting, CheckpointInfo, sample_checkpoint; "
                "from scaling.tasks import make_task; "
                f"(s,) = resolve(Path({str(run)!r})); c = s.checkpoints[-1]; m, t = c.load(); "
                "task = make_task(s.config.task, s.config.warmstart_seed); "
                f"sample_checkpoint(m, t, task, task.val_examples(), Setting(**{setting!r}), "
                f"CheckpointInfo(c.step, c.train_flops), Path({str(folder)!r}))")

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code(tmp_path / "straight")], env=env, check=True)
    straight = pd.read_parquet(tmp_path / "straight" / "step_000006.parquet")
    killed = tmp_path / "killed" / "step_000006.parquet"
    proc = subprocess.Popen([sys.executable, "-c", code(tmp_path / "killed")], env=env)
    deadline, rows = time.time() + 120, 0
    while time.time() < deadline and rows < 64:
        time.sleep(0.02)
        rows = len(pd.read_parquet(killed)) if killed.exists() else 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < len(pd.read_parquet(killed)) < len(straight)        # killed part-way, a readable table left
    subprocess.run([sys.executable, "-c", code(tmp_path / "killed")], env=env, check=True)
    pd.testing.assert_frame_equal(straight, pd.read_parquet(killed))
