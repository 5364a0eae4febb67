"""A Markdown or HTML report of a set of fits: tables, backtest, comparison and figures.

Every table shows A with its interval, or "≥ lower bound" when the asymptote is not identified,
and the backtest (the framework's own measure of how far its extrapolations can be trusted)
appears in every report.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import pandas as pd

from scaling import plot
from scaling.fit.backtest import summary as bt_summary
from scaling.fit.compare import compare, marginal_effects
from scaling.fit.result import FitResult


def _iv(pair, digits: int = 3) -> str:
    lo, hi = pair
    return f"[{lo:.{digits}g}, {hi:.{digits}g}]" if hi != float("inf") else f"[{lo:.{digits}g}, ∞)"


def fits_table(fits: Sequence[FitResult]) -> pd.DataFrame:
    return pd.DataFrame([{
        "curve": f.label, "A": f.a_text(), "B": f"{f.params['B']:.3g} {_iv(f.intervals['B'])}",
        "C_mid": f"{f.params['C_mid']:.4g} {_iv(f.intervals['C_mid'])}", "R0": f"{f.params['R0']:.3f}",
        "runs (fitted alone)": f"{len(f.runs.get('ids', []))}/{f.n_runs}",
        "window": f"{f.window[0]:.3g}–{f.window[1]:.3g}", "points": f.n_points, "runs": f.n_runs,
        "χ²/dof": f"{f.residuals['chi2_red']:.2f}",
        "AIC sigmoid − power law": f"{f.alternatives['sigmoid']['aic'] - f.alternatives['power_law']['aic']:.1f}",
        "identified": "yes" if f.identified else "NO"} for f in fits])


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_none_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "\\|")


def sections(fits: Sequence[FitResult], bt: pd.DataFrame | None, figures: dict) -> list[tuple[str, object]]:
    """(heading, body) pairs; bodies are strings, DataFrames or figure paths."""
    out: list[tuple[str, object]] = [("Fits", fits_table(fits))]
    notes = [f"- **{f.label}**: " + " ".join(f.messages) for f in fits if f.messages]
    quiet = "All fits identified; no warnings." if fits else "No curve could be fitted (see the backtest errors below)."
    out.append(("Warnings", "\n".join(notes) if notes else quiet))
    out.append(("Comparison (by A; ties within 0.02 refit with a shared A and ranked by B)",
                compare(fits).drop(columns=["A", "A_lo", "A_hi"], errors="ignore")))
    if any(f.group for f in fits):
        out.append(("Marginal effect of each axis", marginal_effects(fits)))
    if bt is not None:
        s = bt_summary(bt)
        text = (f"Each run fitted on the first half of its compute, scored on the rest: median |error| at the "
                f"final point {s.get('median_abs_final_error', float('nan')):.4f}, final-point coverage "
                f"{s.get('final_coverage', float('nan')):.0%}, held-out point coverage "
                f"{s.get('point_coverage', float('nan')):.0%} over {s['runs']} run(s) ({s['failed']} failed).")
        cols = [c for c in ("run", "fit_to", "final_y", "final_pred", "final_error", "final_covered", "coverage",
                            "A_text", "error") if c in bt.columns]
        out += [("Backtest", text), ("Backtest per run", bt[cols])]
    for name, paths in figures.items():
        out.append((f"Figure: {name}", paths[0]))
    return out


def render_md(parts, title: str, base: Path) -> str:
    text = [f"# {title}\n"]
    for head, body in parts:
        text.append(f"## {head}\n")
        if isinstance(body, pd.DataFrame):
            text.append(_md_table(body))
        elif isinstance(body, Path):
            text.append(f"![{head}]({body.relative_to(base)})\n")
        else:
            text.append(f"{body}\n")
    return "\n".join(text)


def render_html(parts, title: str, base: Path) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for head, part in parts:
        body.append(f"<h2>{html.escape(head)}</h2>")
        if isinstance(part, pd.DataFrame):
            body.append(part.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
        elif isinstance(part, Path):
            body.append(f'<img src="{html.escape(str(part.relative_to(base)))}" style="max-width:100%">')
        else:
            body.append("<p>" + html.escape(str(part)).replace("\n", "<br>") + "</p>")
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}" \
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{style}</style></head><body>{''.join(body)}</body></html>"


def write_report(fits: Sequence[FitResult], out_dir: str | Path, bt: pd.DataFrame | None = None,
                 fmt: str = "md", title: str = "Scaling fits") -> Path:
    """Write figures under out_dir/figures and the report as out_dir/report.{md,html}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = plot.plot_all(fits, out / "figures") if fits else {}
    parts = sections(fits, bt, figures)
    path = out / f"report.{'html' if fmt == 'html' else 'md'}"
    path.write_text((render_html if fmt == "html" else render_md)(parts, title, out), encoding="utf-8")
    return path
