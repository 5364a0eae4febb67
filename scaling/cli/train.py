"""`scaling train`: one run in the foreground, resumable with the same --out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from scaling.cli.errors import user_errors


def train_command(
    config: Optional[Path] = typer.Argument(None, help="Run config YAML; omitted: the embedded CPU default."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: --set loss.type=cispo (repeatable)."),
    out: Path = typer.Option(Path("runs/default"), "--out", help="Run folder; run again with the same --out to resume."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train one RL run (warm start cached), writing evals.parquet and metrics.parquet to --out."""
    from scaling.config import load_run_config
    from scaling.rl.loop import TrainingFailed, train

    with user_errors(TrainingFailed):
        cfg = load_run_config(config, set_)
        summary = train(cfg, out, progress=not quiet)
    typer.echo(f"{summary['status']}: step {summary.get('step')}, pass rate {summary.get('pass_rate', float('nan')):.3f} "
               f"-> {out / 'evals.parquet'}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
