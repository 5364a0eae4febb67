"""`scaling quickstart`: the whole framework on a laptop — a grid of real RL runs, one table,
fitted curves, a prediction at 10x compute, a backtest, figures and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from scaling.cli.errors import user_errors

# The spec ships beside the package in a source checkout (the README's install is editable).
DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "experiments" / "quickstart.yaml"


def _grouping(table, study) -> list[str] | None:
    """The spec's axes; for variants, scaling.fit's default: the varying config columns less the derived ones
    (a variant that sets batch size, steps and eval interval together is one recipe, labelled by batch size)."""
    return list(study.axes) if study.axes else None


def _summary_lines(fits, backtest_summary: dict) -> list[str]:
    best = max(fits, key=lambda f: f.params["A"])
    end = max(f.window[1] for f in fits)
    prediction = best.predict(10 * end)
    lo, hi = prediction.interval
    lines = [f"best recipe by A: {best.label}  A = {best.a_text()}"
             + ("" if best.identified else "  (not identified: a lower bound)"),
             f"predicted pass rate at 10x compute ({10 * end:.3g} {best.x}): {float(prediction.value):.3f} "
             f"[{float(lo):.3f}, {float(hi):.3f}]"]
    if backtest_summary.get("runs"):
        lines.append(f"backtest (fit on the first 50% of each run's compute): median |final error| "
                     f"{backtest_summary['median_abs_final_error']:.3f}, 95% intervals cover "
                     f"{backtest_summary['final_coverage']:.0%} of {backtest_summary['runs']} runs")
    else:
        lines.append("backtest: no run could be fitted on half its compute")
    return lines


def quickstart_command(
    spec: Path = typer.Option(DEFAULT_SPEC, "--spec", help="Study spec to run (default: experiments/quickstart.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where the report and figures go (default: the study folder)."),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", help="Runs at once (default: cores / threads per run)."),
) -> None:
    """Run the quickstart study on this machine, then fit, plot and report it."""
    from rich.console import Console

    from scaling.cli.study import _wait
    from scaling.fit import backtest, fit_groups
    from scaling.fit.backtest import summary
    from scaling.report import write_report
    from scaling.store import load_evals
    from scaling.study.launch import launch
    from scaling.study.spec import load_spec

    console = Console()
    with user_errors():
        if not spec.exists():
            raise FileNotFoundError(f"{spec}: no such spec (pass --spec)")
        study = load_spec(spec)
        result = launch(study, executor="local", max_parallel=max_parallel)
        console.print(f"[bold]{study.name}[/]: {len(result.rows)} runs, {len(result.submitted)} to run "
                      f"(the rest are done); warm start first, then the RL runs")
    rows = _wait(str(spec), console)
    failed = [r for r in rows if r["state"] != "done"]
    if failed:
        console.print(f"[red]{len(failed)} runs did not finish[/]: see `scaling status {spec}`")
        raise typer.Exit(1)
    with user_errors():
        table = load_evals(study.study_dir)
        fits, errors = fit_groups(table, by=_grouping(table, study))
        bt = backtest(table)
        report = write_report(fits, out or study.study_dir, bt, "md", title=f"{study.name}: RL scaling fits", table=table)
    for error in errors:
        console.print(f"[yellow]not fitted[/]: {error}")
    console.print(f"\nreport: {report}\nfigures: {report.parent / 'figures'}")
    if fits:
        for line in _summary_lines(fits, summary(bt)):
            console.print(line)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_command)
