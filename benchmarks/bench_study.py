"""Study bookkeeping at 1,000 runs: expand + dry-run (target < 2 s) and status (target < 3 s).

    OMP_NUM_THREADS=1 python benchmarks/bench_study.py

Status is measured on synthetic results: every run folder gets a config, 21 evaluation rows and
200 step rows; 60% are done, 10% failed (with a log to tail), the rest were started by a local
runner that no longer exists (the slowest path: a state file and a /proc lookup per run).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from scaling.cli.study import register
from scaling.config import save_run_config
from scaling.store import EVAL_COLUMNS, STEP_COLUMNS, RunFiles, write_rows_atomic
from scaling.study import local
from scaling.study.launch import launch
from scaling.study.manifest import write_manifest
from scaling.study.spec import expand, load_spec
from scaling.study.status import study_status, summary

SPEC = {
    "name": "bench",
    "base": {"train": {"steps": 200}, "eval": {"every": 10}},
    "axes": {"loss.type": ["grpo", "dapo", "gspo", "cispo"], "rollout.prompts_per_step": [4, 8, 16, 32, 64],
             "optim.lr": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]},
    "seeds": list(range(10)),
    "resources": {"executor": "local"},
}


def timed(label: str, fn, target: float | None = None):
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    verdict = "" if target is None else (" (target < %.0f s: %s)" % (target, "ok" if seconds < target else "MISSED"))
    print(f"{label:<44} {seconds:7.3f} s{verdict}")
    return out


def fake_results(study: Path, runs) -> None:
    evals = [{"step": s, "pass_rate": s / 400, "flops": 1e9 * s, "correct_counts": [1] * 16} for s in range(0, 201, 10)]
    steps = [{"step": s, "flops": 1e9 * s, "loss": 0.1} for s in range(1, 201)]
    records = {}
    for index, run in enumerate(runs):
        files = RunFiles(run.run_dir(study))
        files.dir.mkdir(parents=True)
        save_run_config(run.config, files.config)
        write_rows_atomic(files.evals, evals, EVAL_COLUMNS)
        write_rows_atomic(files.metrics, steps, STEP_COLUMNS)
        records[run.run_id] = {"name": run.name, "executor": "local", "job_id": "local-999999999"}
        if index % 10 < 6:
            files.mark(files.done, {"status": "done"})
        elif index % 10 == 6:
            files.mark(files.failed, {"reason": "FloatingPointError: nan loss"})
            (study / "logs").mkdir(exist_ok=True)
            (study / "logs" / f"{run.run_id}.log").write_text("step 1\n" * 200 + "Traceback ...\nnan loss\n")
        else:
            local.write_state(study, run.run_id, state="running", runner_pid=999999999, pid=999999998)
    write_manifest(study, {"runs": records})


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "bench.yaml"
        spec_file.write_text(yaml.safe_dump({**SPEC, "output": str(Path(tmp) / "results")}))
        spec = timed("load + validate spec", lambda: load_spec(spec_file))
        runs = timed("expand 1,000 runs", lambda: expand(spec))
        assert len(runs) == 1000
        timed("launch(dry_run=True), Python", lambda: launch(spec_file, dry_run=True), 2)
        app = typer.Typer()
        register(app)
        cli = CliRunner(env={"COLUMNS": "200"})
        out = timed("`launch --dry-run` CLI incl. table", lambda: cli.invoke(app, ["launch", str(spec_file), "--dry-run"]), 2)
        assert out.exit_code == 0, out.output

        study = spec.study_dir
        timed("(set-up: synthetic results for 1,000 runs)", lambda: fake_results(study, runs))
        ids = [(r.run_id, r.name) for r in runs]
        rows = timed("study_status, 1,000 runs", lambda: study_status(study, ids), 3)
        print(f"{'':<44} {json.dumps(summary(rows))}")
        out = timed("`status --json` CLI", lambda: cli.invoke(app, ["status", str(spec_file), "--json"]), 3)
        assert out.exit_code == 0 and len(json.loads(out.stdout)["rows"]) == 1000
        out = timed("`status` CLI incl. table", lambda: cli.invoke(app, ["status", str(spec_file)]), 3)
        assert out.exit_code == 0
        from scaling.study.results import study_evals

        frame = timed("load_evals, 1,000 runs x 21 rows", lambda: study_evals(spec))
        print(f"{'':<44} {frame.shape[0]} rows x {frame.shape[1]} columns")


if __name__ == "__main__":
    with redirect_stdout(sys.stdout if "--quiet" not in sys.argv else io.StringIO()):
        main()
