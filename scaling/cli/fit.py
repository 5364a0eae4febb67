"""`scaling fit | predict | plot | report SOURCE`: scaling-curve fits from the command line.

SOURCE is a CSV or Parquet file with compute and pass-rate columns (curves from any trainer), a run
or study results folder, or a study spec (.yaml), read through scaling.store.load_evals. Bad input
ends in one line on stderr and exit code 2; a group that cannot be fitted is reported the same way
after the others are printed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from scaling.cli.errors import user_errors
from scaling.fit import backtest, fit_groups, load_source
from scaling.fit.result import FitResult

X_HELP = "Compute column: flops, device_hours, or any COLUMN."
Y_HELP = "Score column: pass_rate or any COLUMN in [0, 1]."
BY_HELP = "Group curves by COLUMN (repeatable or comma-separated). Default: the config axes that vary across runs."
R0_HELP = "R0: 'first' (anchored by each run's first evaluation), 'fit', or a number."


def _by(by: Optional[List[str]]) -> Optional[list[str]]:
    return None if not by else [c.strip() for item in by for c in item.split(",") if c.strip()]


def _r0(r0: str) -> Any:
    if r0 in ("first", "fit"):
        return None if r0 == "first" else "fit"
    try:
        return float(r0)
    except ValueError:
        raise ValueError(f"--r0 must be 'first', 'fit' or a number, not {r0!r}") from None


def _fits(source: Path, x: str, y: str, by, r0: str, fit_from, fit_to) -> tuple[list[FitResult], list[str], Any]:
    df = load_source(source)
    fits, errors = fit_groups(df, by=_by(by), x=x, y=y, r0=_r0(r0), fit_from=fit_from, fit_to=fit_to)
    return fits, errors, df


def _finish(errors: list[str]) -> None:
    for e in errors:
        typer.echo(f"error: {e}", err=True)
    if errors:
        raise typer.Exit(2)


def _iv(pair) -> str:
    lo, hi = pair
    return f"[{lo:.3g}, {'∞' if hi == float('inf') else f'{hi:.3g}'}]"


def _table(fits: list[FitResult]) -> Table:
    t = Table("curve", "A", "B", "C_mid", "R0", "window", "points", "identified")
    for f in fits:
        p = f.params
        t.add_row(f.label, f.a_text(), f"{p['B']:.3g} {_iv(f.intervals['B'])}",
                  f"{p['C_mid']:.4g} {_iv(f.intervals['C_mid'])}", f"{p['R0']:.3f}",
                  f"{f.window[0]:.3g}–{f.window[1]:.3g}", str(f.n_points), "yes" if f.identified else "NO")
    return t


def register(app: typer.Typer) -> None:
    """Add fit, predict, plot and report to `app`."""

    @app.command("fit")
    def fit_cmd(source: Path = typer.Argument(..., help="CSV/Parquet file, results folder or study spec."),
                x: str = typer.Option("flops", "--x", help=X_HELP), y: str = typer.Option("pass_rate", "--y", help=Y_HELP),
                by: Optional[List[str]] = typer.Option(None, "--by", help=BY_HELP),
                r0: str = typer.Option("first", "--r0", help=R0_HELP),
                fit_from: Optional[float] = typer.Option(None, "--fit-from", help="Window start (compute units)."),
                fit_to: Optional[float] = typer.Option(None, "--fit-to", help="Window end (compute units)."),
                as_json: bool = typer.Option(False, "--json", help="Print one JSON object per curve.")) -> None:
        """Fit the ScaleRL sigmoid to each curve, with 95% profile intervals and an identifiability flag."""
        with user_errors():
            fits, errors, _ = _fits(source, x, y, by, r0, fit_from, fit_to)
        if as_json:
            typer.echo(json.dumps([f.summary() for f in fits], indent=1))
        else:
            console = Console()
            if not console.is_terminal:  # pipes and files get whole rows, not a squeezed table
                console = Console(width=160)
            if fits:
                console.print(_table(fits))
            for f in fits:
                for m in f.messages:
                    console.print(f"[yellow]{f.label}[/yellow]: {m}", highlight=False)
        _finish(errors)

    @app.command("predict")
    def predict_cmd(source: Path = typer.Argument(..., help="CSV/Parquet file, results folder or study spec."),
                    at: List[float] = typer.Option(..., "--at", help="Compute to predict at (repeatable)."),
                    x: str = typer.Option("flops", "--x", help=X_HELP), y: str = typer.Option("pass_rate", "--y", help=Y_HELP),
                    by: Optional[List[str]] = typer.Option(None, "--by", help=BY_HELP),
                    r0: str = typer.Option("first", "--r0", help=R0_HELP),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Predict the pass rate at the given compute, with its 95% interval."""
        with user_errors():
            bad = next((c for c in at if not math.isfinite(c) or c <= 0), None)
            if bad is not None:
                raise ValueError(f"--at {bad}: compute must be a positive finite number")
            fits, errors, _ = _fits(source, x, y, by, r0, None, None)
        rows = []
        for f in fits:
            for c in at:
                p = f.predict(c)
                rows.append({"group": f.group, x: c, "R": p.value, "interval": [p.lo, p.hi], "identified": f.identified,
                             "extrapolation": c > f.window[1]})
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
        else:
            for r, f in zip(rows, [f for f in fits for _ in at]):
                note = "" if r["identified"] else "  (A not identified: wide, honest interval)"
                typer.echo(f"{f.label}  {x}={r[x]:.4g}  R={r['R']:.3f}  [{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]{note}")
        _finish(errors)

    @app.command("plot")
    def plot_cmd(source: Path = typer.Argument(..., help="CSV/Parquet file, results folder or study spec."),
                 out: Path = typer.Option(Path("figures"), "--out", help="Output folder (PNG and SVG)."),
                 x: str = typer.Option("flops", "--x", help=X_HELP), y: str = typer.Option("pass_rate", "--y", help=Y_HELP),
                 by: Optional[List[str]] = typer.Option(None, "--by", help=BY_HELP),
                 r0: str = typer.Option("first", "--r0", help=R0_HELP)) -> None:
        """Curves with bands, A/B whiskers and the efficiency plot, as PNG and SVG."""
        from scaling import plot
        from scaling.cli.infer import inference_outputs, samples_only

        with user_errors():
            for path in inference_outputs(source, out, "plot"):  # pass@k, maj@k, budget, trade-off figures
                typer.echo(str(path))
            if samples_only(source):
                return
            fits, errors, _ = _fits(source, x, y, by, r0, None, None)
        if fits:
            for paths in plot.plot_all(fits, out).values():
                typer.echo("\n".join(map(str, paths)))
        _finish(errors)

    @app.command("report")
    def report_cmd(source: Path = typer.Argument(..., help="CSV/Parquet file, results folder or study spec."),
                   out: Path = typer.Option(Path("report"), "--out", help="Output folder."),
                   fmt: str = typer.Option("md", "--format", help="md or html."),
                   x: str = typer.Option("flops", "--x", help=X_HELP), y: str = typer.Option("pass_rate", "--y", help=Y_HELP),
                   by: Optional[List[str]] = typer.Option(None, "--by", help=BY_HELP),
                   r0: str = typer.Option("first", "--r0", help=R0_HELP)) -> None:
        """Fits, comparison, backtest and figures in one Markdown or HTML report."""
        from scaling.cli.infer import inference_outputs, samples_only
        from scaling.report import write_report

        with user_errors():
            if fmt not in ("md", "html"):
                raise ValueError(f"--format must be md or html, not {fmt!r}")
            for path in inference_outputs(source, out, "report", fmt):  # inference.md beside report.md
                typer.echo(str(path))
            if samples_only(source):
                return
            fits, errors, df = _fits(source, x, y, by, r0, None, None)
            bt = backtest(df, x=x, y=y, r0=_r0(r0))
        typer.echo(str(write_report(fits, out, bt, fmt, table=df)))
        _finish(errors)
