"""`scaling fit | predict | backtest | plot | report SOURCE`: scaling-curve fits from the command line.

SOURCE is a CSV or Parquet file with compute and pass-rate columns (curves from any trainer), a run
or study results folder, or a study spec (.yaml), read through scaling.study.results.study_evals. Bad input
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
from scaling.fit.backtest import summary_table
from scaling.fit.trend import axis_backtest, axis_predict
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


AXIS_HELP = ("COLUMN=VALUE: predict an untried value of a numeric config axis (e.g. rollout.prompts_per_step=64) "
             "from how A, B and C_mid move with log(value) across the tried values.")


def _axis_arg(text: str) -> tuple[str, float]:
    column, _, value = text.partition("=")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"--axis must be COLUMN=NUMBER, not {text!r}") from None
    if not column.strip() or v <= 0:
        raise ValueError(f"--axis must be COLUMN=NUMBER with a positive number, not {text!r}")
    return column.strip(), v


def _print_axis(results: list[dict], x: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(results, indent=1))
        return
    for r in results:
        where = ", ".join(f"{k}={v}" for k, v in r["group"].items())
        p = r["params"]
        a = f"{p['A']:.3f} [{r['A_interval'][0]:.3f}, {r['A_interval'][1]:.3f}]" if r["identified"] \
            else f"≥ {r['A_interval'][0]:.3f} (not identified)"
        typer.echo(f"{r['axis']}={r['value']:g}{' (' + where + ')' if where else ''} from {r['from_values']}: "
                   f"A {a}, B {p['B']:.3g}, C_mid {p['C_mid']:.4g}")
        for q in r["predictions"]:
            typer.echo(f"  {x}={q['C']:.4g}  R={q['R']:.3f}  mean curve [{q['interval'][0]:.3f}, {q['interval'][1]:.3f}]"
                       f"  one evaluation [{q['one_eval_interval'][0]:.3f}, {q['one_eval_interval'][1]:.3f}]")


def _print_axis_backtest(console, ax, axis: str) -> None:
    ok = ax[ax["error"] == ""] if "error" in ax else ax
    if ok.empty:
        console.print(f"axis backtest ({axis}): nothing scored: {'; '.join(ax['error'].unique()[:2])}", highlight=False)
        return
    console.print(f"axis backtest: {axis}={ok['held_out'].iloc[0]:g} predicted from {ok['from_values'].iloc[0]} for "
                  f"{len(ok)} run(s): median |final error| {ok['final_error'].abs().median():.3f}, covered "
                  f"{ok['final_covered'].mean():.0%}; tail mean |error| {ok['tail_error'].abs().median():.3f}, covered "
                  f"{ok['tail_covered'].mean():.0%}", highlight=False)


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
                    axis: Optional[str] = typer.Option(None, "--axis", help=AXIS_HELP),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Predict the pass rate at the given compute: 95% confidence band of the mean curve, and prediction
        intervals for a new run (seed-to-seed spread) and for a single evaluation."""
        with user_errors():
            bad = next((c for c in at if not math.isfinite(c) or c <= 0), None)
            if bad is not None:
                raise ValueError(f"--at {bad}: compute must be a positive finite number")
            if axis is not None:
                column, value = _axis_arg(axis)
                results, errors = axis_predict(load_source(source), column, value, at, x=x, y=y, r0=_r0(r0))
        if axis is not None:
            _print_axis(results, x, as_json)
            _finish(errors)
            return
        with user_errors():
            fits, errors, _ = _fits(source, x, y, by, r0, None, None)
        rows = []
        for f in fits:
            for c in at:
                m, r, e = (f.predict(c, kind) for kind in ("mean", "run", "eval"))
                rows.append({"group": f.group, x: c, "R": m.value, "interval": [m.lo, m.hi],
                             "new_run_interval": [r.lo, r.hi], "one_eval_interval": [e.lo, e.hi],
                             "identified": f.identified, "extrapolation": c > f.window[1], "note": r.note})
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
        else:
            for r, f in zip(rows, [f for f in fits for _ in at]):
                note = "" if r["identified"] else "  (A not identified: wide, honest interval)"
                iv = lambda k: f"[{r[k][0]:.3f}, {r[k][1]:.3f}]"
                typer.echo(f"{f.label}  {x}={r[x]:.4g}  R={r['R']:.3f}  mean curve {iv('interval')}  "
                           f"new run {iv('new_run_interval')}  one evaluation {iv('one_eval_interval')}{note}")
        _finish(errors)

    @app.command("backtest")
    def backtest_cmd(source: Path = typer.Argument(..., help="CSV/Parquet file, results folder or study spec."),
                     fractions: str = typer.Option("0.25,0.5", "--fractions",
                                                   help="Fit on these fractions of each run's compute (comma-separated)."),
                     x: str = typer.Option("flops", "--x", help=X_HELP), y: str = typer.Option("pass_rate", "--y", help=Y_HELP),
                     by: Optional[List[str]] = typer.Option(None, "--by", help=BY_HELP + " Recipes for leave-one-seed-out."),
                     r0: str = typer.Option("first", "--r0", help=R0_HELP),
                     plot_dir: Optional[Path] = typer.Option(None, "--plot", help="Write backtest.png/.svg into this folder."),
                     axis: Optional[str] = typer.Option(None, "--axis", help="Also backtest the trend along this numeric "
                                                        "config COLUMN: leave out its largest value, predict it from the rest."),
                     as_json: bool = typer.Option(False, "--json", help="Print {summary, rows} as JSON.")) -> None:
        """Fit on the first part of each run's compute, score the final pass rate (last evaluation and the
        mean of the last 10%), per run and leaving one seed out of each recipe; one row per horizon."""
        with user_errors():
            try:
                fr = [float(f) for f in fractions.split(",") if f.strip()]
            except ValueError:
                raise ValueError(f"--fractions must be numbers in (0, 1), not {fractions!r}") from None
            df = load_source(source)
            bt = backtest(df, fractions=fr, x=x, y=y, by=_by(by), r0=_r0(r0))
            table = summary_table(bt)
            ax = axis_backtest(df, axis, x=x, y=y, r0=_r0(r0)) if axis else None
            if table.empty:
                raise ValueError(f"{source}: no run could be backtested ({'; '.join(bt['error'].dropna().unique()[:3])})")
        if plot_dir is not None:
            from scaling import plot

            fig = plot.backtest(bt)
            if fig is not None:
                typer.echo("\n".join(map(str, plot.save(fig, plot_dir, "backtest"))), err=as_json)
        if as_json:
            clean = lambda df: json.loads(df.to_json(orient="records"))  # NaN -> null
            extra = {"axis": clean(ax)} if ax is not None else {}
            typer.echo(json.dumps({"summary": clean(table), "rows": clean(bt), **extra}, indent=1))
            return
        t = Table("mode", "fit on", "horizon", "runs", "failed", "median |final err|", "final covered",
                  "median |tail err|", "tail covered", "A identified")
        for r in table.itertuples(index=False):
            t.add_row("own run" if r.mode == "run" else "leave one seed out", r.fit_on, r.horizon, str(r.runs),
                      str(r.failed), f"{r.median_abs_final_error:.3f}", f"{r.final_coverage:.0%}",
                      f"{r.median_abs_tail_error:.3f}", f"{r.tail_coverage:.0%}", f"{r.identified:.0%}")
        console = Console() if Console().is_terminal else Console(width=160)
        console.print(t)
        console.print("final: the last evaluation, against the 95% interval for one evaluation; tail: the mean of the "
                      "evaluations in the last 10% of compute, against the interval for that mean.", highlight=False)
        if ax is not None:
            _print_axis_backtest(console, ax, axis)

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
