"""`scaling quickstart`: the whole framework on a laptop — a grid of real RL runs, one table,
fitted curves, a prediction at 2x the compute reached next to the backtest at that same horizon,
figures and a report."""

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


HORIZON = 2  # the summary's prediction is at 2x the compute reached: the backtest's "first 50%" horizon


def _summary_lines(fits, bt) -> list[str]:
    """Best recipe among identified asymptotes only; the prediction at the horizon the backtest scored,
    next to the backtest's error and coverage at that same horizon."""
    from scaling.fit.backtest import summary

    known = [f for f in fits if f.identified]
    bounds = ", ".join(f"{f.label} A {f.a_text()}" for f in fits if not f.identified)
    if known:
        best = max(known, key=lambda f: f.params["A"])
        lines = [f"best recipe by A (identified asymptotes only): {best.label}  A = {best.a_text()}"]
        if bounds:
            lines.append(f"not identified (lower bounds, not ranked): {bounds}")
    else:
        best = max(fits, key=lambda f: f.intervals["A"][0])
        lines = [f"no recipe's asymptote is identified by these runs, so none is called best; "
                 f"lower bounds: {bounds}"]
    end = max(f.window[1] for f in fits)
    p = best.predict(HORIZON * end, "eval")
    lines.append(f"predicted pass rate of {best.label} at {HORIZON}x the compute reached ({HORIZON * end:.3g} {best.x}): "
                 f"{p.value:.3f}, 95% interval for one evaluation [{p.lo:.3f}, {p.hi:.3f}]"
                 + ("" if best.identified else " (A not identified: read as a lower-bound trend)"))
    for mode, words in (("loso", "a new seed predicted from the recipe's other seeds"),
                        ("run", "each run from its own first half")):
        s = summary(bt, mode, 1 / HORIZON)
        if s.get("runs"):
            lines.append(f"backtest at the same {HORIZON}x horizon ({words}, fit on the first 50%): median |final "
                         f"error| {s['median_abs_final_error']:.3f}, 95% intervals cover {s['final_coverage']:.0%} "
                         f"of {s['runs']} runs")
            break
    else:
        lines.append(f"backtest: no run could be fitted on 1/{HORIZON} of its compute")
    return lines


def quickstart_command(
    spec: Path = typer.Option(DEFAULT_SPEC, "--spec", help="Study spec to run (default: experiments/quickstart.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where the report and figures go (default: the study folder)."),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", help="Runs at once (default: cores / threads per run)."),
) -> None:
    """Run the quickstart study on this machine, then fit, plot and report it."""
    from rich.console import Console

    from scaling.cli.study import watch_until_done
    from scaling.fit import backtest, fit_groups
    from scaling.report import write_report
    from scaling.study.launch import launch
    from scaling.study.results import study_evals
    from scaling.study.spec import load_spec

    console = Console()
    with user_errors():
        if not spec.exists():
            raise FileNotFoundError(f"{spec}: no such spec (pass --spec)")
        study = load_spec(spec)
        result = launch(study, executor="local", max_parallel=max_parallel)
        console.print(f"[bold]{study.name}[/]: {len(result.rows)} runs, {len(result.submitted)} to run "
                      f"(the rest are done); warm start first, then the RL runs")
    rows = watch_until_done(str(spec), console)
    failed = [r for r in rows if r["state"] != "done"]
    if failed:
        console.print(f"[red]{len(failed)} runs did not finish[/]: see `scaling status {spec}`")
        raise typer.Exit(1)
    with user_errors():
        table = study_evals(study.study_dir)
        fits, errors = fit_groups(table, by=_grouping(table, study))
        bt = backtest(table)
        report = write_report(fits, out or study.study_dir, bt, "md", title=f"{study.name}: RL scaling fits", table=table)
    for error in errors:
        console.print(f"[yellow]not fitted[/]: {error}")
    console.print(f"\nreport: {report}\nfigures: {report.parent / 'figures'}")
    if fits:
        for line in _summary_lines(fits, bt):
            console.print(line)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_command)
