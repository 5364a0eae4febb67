"""`scaling launch SPEC` and `scaling status SPEC`: studies from the command line.

Bad input of any kind ends in one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from scaling.cli.errors import user_errors
from scaling.study.launch import launch as launch_study
from scaling.study.spec import expand, load_spec
from scaling.study.status import LIVE, study_status, summary

POLL_S = 2.0


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value:.3f}"
    if kind == "flops":
        return f"{value:.2e}"
    return str(value)


def status_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("name", "run id", "state", "step", "pass rate", "FLOPs", "job"):
        table.add_column(column, no_wrap=column in ("name", "run id"))
    table.add_column("error", overflow="fold", ratio=1)
    for row in rows:
        error = (row.get("error") or "").strip().splitlines()
        state = row["state"] + (f" ({row['health']})" if row.get("health") not in (None, "ok") else "")
        table.add_row(row["name"], row["run_id"], state, _fmt(row.get("step")), _fmt(row.get("pass_rate"), "rate"),
                      _fmt(row.get("flops"), "flops"), _fmt(row.get("job_id")), "\n".join(error[-3:]))
    return table


def plan_table(rows: list[dict[str, Any]], title: str, submit: set[str]) -> Table:
    table = Table(title=title)
    for column in ("name", "run id", "state", "action"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row["name"], row["run_id"], row["state"], "submit" if row["run_id"] in submit else "skip")
    return table


def summary_line(rows: list[dict[str, Any]]) -> str:
    counts = summary(rows)
    return f"{len(rows)} runs: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def _rows_for(target: str) -> tuple[str, list[dict[str, Any]]]:
    path = Path(target)
    if path.is_dir():  # a study folder (no spec at hand)
        return path.name, study_status(path)
    spec = load_spec(path)
    return spec.name, study_status(spec.study_dir, [(r.run_id, r.name) for r in expand(spec)])


def watch_until_done(target: str, console: Console) -> list[dict[str, Any]]:
    with Live(console=console, refresh_per_second=1) as live:
        while True:
            name, rows = _rows_for(target)
            live.update(status_table(rows, f"{name}: {summary_line(rows)}"))
            if not any(r["state"] in LIVE for r in rows):
                return rows
            time.sleep(POLL_S)


def register(app: typer.Typer) -> None:
    @app.command()
    def launch(
        spec: str = typer.Argument(..., help="Experiment spec (YAML)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the grid and what would be submitted; submit nothing."),
        executor: Optional[str] = typer.Option(None, help="auto | local | slurm | debug (default: the spec's)."),
        only: list[str] = typer.Option([], "--only", help="AXIS=VALUE; repeat to narrow further."),
        max_parallel: Optional[int] = typer.Option(None, "--max-parallel", help="Runs at once (local cap / Slurm array parallelism)."),
        wait: bool = typer.Option(False, "--wait", help="Show live progress until every run has finished."),
        force: bool = typer.Option(False, "--force", help="Also relaunch pending and running runs (their jobs are cancelled)."),
    ) -> None:
        """Submit every run of SPEC that is not done (failed and preempted runs resume from checkpoints)."""
        console = Console()
        with user_errors():
            result = launch_study(spec, executor=executor, only=only, max_parallel=max_parallel,
                                  force=force, dry_run=dry_run)
        action = set(result.submitted)
        if dry_run:
            console.print(plan_table(result.rows, f"{result.spec.name} (dry run, executor {result.executor})", action))
            console.print(f"{summary_line(result.rows)}; would submit {len(result.submitted)}")
            return
        skipped = len(result.rows) - len(result.submitted)
        kept = [r for r in result.rows if r["run_id"] not in action]
        console.print(f"{result.spec.name}: submitted {len(result.submitted)} runs to {result.executor}"
                      + (f", skipped {skipped} ({summary_line(kept)})" if skipped else ""))
        if result.held_back:
            reason = (result.held_back[0].get("error") or "").splitlines()[0]
            typer.echo(f"error: {len(result.held_back)} runs not resubmitted: their scheduler state is unknown "
                       f"({reason}); launch again once the scheduler answers", err=True)
            raise typer.Exit(1)
        if wait:
            rows = watch_until_done(spec, console)
            console.print("\n" + summary_line(rows))
            if any(r["state"] != "done" for r in rows):
                raise typer.Exit(1)

    @app.command()
    def status(
        spec: str = typer.Argument(..., help="Experiment spec (YAML) or a study folder."),
        as_json: bool = typer.Option(False, "--json", help="Print rows as JSON (one object: rows + summary)."),
    ) -> None:
        """State of every run: done, running, pending, failed (with the last error lines), ..."""
        with user_errors():
            name, rows = _rows_for(spec)
        if as_json:
            sys.stdout.write(json.dumps({"study": name, "summary": summary(rows), "rows": rows}, default=str) + "\n")
            return
        console = Console()
        console.print(status_table(rows, name))
        console.print(summary_line(rows))
        for row in rows:
            if row.get("warning"):
                console.print(f"[yellow]warning[/] {row['name']}: {row['warning']}", highlight=False)
