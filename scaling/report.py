"""A Markdown or HTML report of a set of fits: tables, backtest, comparison and figures.

Every table shows A with its interval, or "≥ lower bound" when the asymptote is not identified,
and the backtest (the framework's own measure of how far its extrapolations can be trusted)
appears in every report. With the evaluation table at hand the report also shows verifier coverage
and, for runs that scored their training prompts (RFT), training-set against held-out pass rate.

The report is written once, as Markdown; the HTML version is that Markdown rendered by markdown-it-py
(CommonMark with tables; rich already depends on it), so both say the same and neither shows raw syntax.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import pandas as pd

from scaling import plot
from scaling.fit.backtest import summary_table
from scaling.fit.compare import compare, marginal_effects
from scaling.fit.result import FitResult
from scaling.watch import (ZERO_REWARD_STEPS, ZERO_REWARD_THRESHOLD, gap_warnings, rft_gap,
                           run_coverage_warnings)


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


def _method_line(f: FitResult) -> str:
    shared = f.settings.get("prompt_set_sd")
    extra = (f"; the fixed evaluation set's prompt-difficulty sd {shared:.3f} is common to every point (not in the "
             f"weights: it moves the whole curve, as a different prompt set would)") if shared else ""
    return f"- **{f.label}**: {f.interval_method}{extra}"


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_none_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else _md_escape(str(v)).replace("|", "\\|")


def _md_escape(text: str) -> str:
    """Characters that would turn a label or message into Markdown syntax."""
    for ch in ("\\", "*", "`", "[", "]", "<", ">"):
        text = text.replace(ch, "\\" + ch)
    return text


def _bullets(items: dict[str, list[str]]) -> str:
    """A Markdown list: one item per label, its messages as sentences beneath it."""
    lines = []
    for label, messages in items.items():
        lines.append(f"- **{_md_escape(label)}**")
        lines += [f"    - {_md_escape(_sentence(m))}" for m in messages]
    return "\n".join(lines)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?", ")")) else ".")


def coverage_section(table: pd.DataFrame) -> list[tuple[str, object]]:
    """Verifier coverage per run (last evaluation), and the runs where the verifier starved training."""
    if "train_solved_frac" not in table.columns or table["train_solved_frac"].isna().all():
        return []
    last = table.sort_values("step").groupby("run_id", sort=True).tail(1)
    name = last["run_name"] if "run_name" in last else last["run_id"]
    frame = pd.DataFrame({"run": name.astype(str), "step": last["step"],
                          "training groups all zero (mean since previous eval)": last["train_zero_reward_frac"],
                          "training prompts ever solved": last["train_solved_frac"],
                          "held-out prompts none of k": last["zero_reward_frac"],
                          "held-out prompts all of k": last["full_reward_frac"]})
    warnings = run_coverage_warnings(table)
    text = (_bullets({run: [w] for run, w in warnings.items()}) if warnings else
            f"No run had more than {ZERO_REWARD_THRESHOLD:.0%} of its groups at zero reward for "
            f"{ZERO_REWARD_STEPS} consecutive steps.")
    return [("Verifier coverage", text), ("Verifier coverage per run (last evaluation)", frame)]


def rft_section(table: pd.DataFrame, out_dir: Path) -> list[tuple[str, object]]:
    """Training-set against held-out pass rate (the RFT overfitting watch), with a figure and gap warnings."""
    gaps = rft_gap(table)
    if gaps.empty:
        return []
    paths = plot.save(plot.train_vs_heldout(gaps), out_dir / "figures", "rft")
    warnings = gap_warnings(gaps)
    text = (_bullets({run: [w] for run, w in warnings.items()}) if warnings else
            "No run's training-set pass rate pulled away from its held-out pass rate.")
    return [("Training prompts against held-out prompts (RFT overfitting watch)", text),
            ("Figure: training-set vs held-out pass rate", paths[0])]


def sections(fits: Sequence[FitResult], bt: pd.DataFrame | None, figures: dict) -> list[tuple[str, object]]:
    """(heading, body) pairs; bodies are strings, DataFrames or figure paths."""
    out: list[tuple[str, object]] = [("Fits", fits_table(fits))]
    notes = {f.label: list(f.messages) for f in fits if f.messages}
    quiet = "All fits identified; no warnings." if fits else "No curve could be fitted (see the backtest errors below)."
    out.append(("Warnings", _bullets(notes) if notes else quiet))
    if fits:
        out.append(("How the intervals were computed", "\n".join(_method_line(f) for f in fits)))
    out.append(("Comparison (by A; ties within 0.02 refit with a shared A and ranked by B)",
                compare(fits).drop(columns=["A", "A_lo", "A_hi"], errors="ignore")))
    if any(f.group for f in fits):
        out.append(("Marginal effect of each axis", marginal_effects(fits)))
    if bt is not None:
        out += backtest_sections(bt)
    for name, paths in figures.items():
        out.append((f"Figure: {name}", paths[0]))
    return out


BT_TEXT = ("Each run fitted on the first 25% and 50% of its compute (4x and 2x extrapolation) and scored on its "
           "final pass rate: the last evaluation against the 95% interval for one evaluation, and the mean of "
           "the evaluations in the last 10% of compute against the interval for that mean. Own run: the run's "
           "own first part extrapolated. Leave one seed out: the recipe's other seeds, cut at the same compute, "
           "predicting this seed as a new run (its own points are not used).")


def backtest_sections(bt: pd.DataFrame) -> list[tuple[str, object]]:
    table = summary_table(bt)
    left = bt[bt["error"].fillna("").str.startswith("collapsed")] if "error" in bt else bt.iloc[0:0]
    text = BT_TEXT + (f" Left out as collapsed: {', '.join(left['run'])}." if len(left) else "")
    cols = [c for c in ("mode", "run", "fraction", "final_y", "final_pred", "final_lo", "final_hi", "final_covered",
                        "tail_y", "tail_pred", "tail_covered", "A_text", "error") if c in bt.columns]
    return [("Backtest", text), ("Backtest by horizon", table.round(4)), ("Backtest per run", bt[cols])]


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


# Figures are 9 in x 150 dpi = 1350 px wide: the column is wide enough to show them at full size.
STYLE = ("body{font-family:sans-serif;max-width:1400px;margin:auto;padding:0 16px;line-height:1.4}"
         "table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
         "text-align:left;vertical-align:top}img{max-width:100%;height:auto}li{margin:2px 0}")


def render_html(parts, title: str, base: Path) -> str:
    """The Markdown report rendered by a CommonMark renderer (markdown-it-py, with tables)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(render_md(parts, title, base))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}</body></html>\n")


def write_report(fits: Sequence[FitResult], out_dir: str | Path, bt: pd.DataFrame | None = None,
                 fmt: str = "md", title: str = "Scaling fits", table: pd.DataFrame | None = None) -> Path:
    """Write figures under out_dir/figures and the report as out_dir/report.{md,html}; `table` (the evaluation
    rows the fits came from) adds verifier coverage and the RFT watch when its runs logged them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = plot.plot_all(fits, out / "figures") if fits else {}
    fig = plot.backtest(bt) if bt is not None and not bt.empty else None
    if fig is not None:
        figures["backtest"] = plot.save(fig, out / "figures", "backtest")
    parts = sections(fits, bt, figures)
    if table is not None and "run_id" in table.columns:
        first_figure = next((i for i, (_, body) in enumerate(parts) if isinstance(body, Path)), len(parts))
        parts[first_figure:first_figure] = coverage_section(table) + rft_section(table, out)
    path = out / f"report.{'html' if fmt == 'html' else 'md'}"
    path.write_text((render_html if fmt == "html" else render_md)(parts, title, out), encoding="utf-8")
    return path
