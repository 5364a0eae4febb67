"""`scaling export RUN_OR_STUDY --out FILE`: logged trajectories as a deduplicated SFT dataset (see scaling.export)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from scaling.cli.errors import user_errors


def export_command(
    source: Path = typer.Argument(..., help="A run folder, a study folder or a study spec (.yaml)."),
    out: Path = typer.Option(..., "--out", help="The dataset file to write (.jsonl or .parquet)."),
    min_reward: float = typer.Option(1.0, "--min-reward", help="Keep completions with at least this reward."),
    fmt: Optional[str] = typer.Option(None, "--format", help="jsonl or parquet (default: from --out's suffix, else jsonl)."),
    chat: bool = typer.Option(False, "--chat", help="Chat `messages` (user prompt, assistant completion) instead of prompt/completion."),
    system: Optional[str] = typer.Option(None, "--system", help="With --chat: a system message first."),
) -> None:
    """Export logged trajectories (log.trajectories) as a deduplicated SFT dataset for distillation."""
    from scaling.export import export

    with user_errors():
        count = export(source, out, min_reward, fmt, chat, system)
    typer.echo(f"{count} records -> {out}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
