"""The inference-time scaling report: tables (CSV and Markdown), figures, and the headline numbers.

From `scaling infer` samples: the coverage law exp(a k^b) per checkpoint with its interval (Brown et
al. 2024), maj@k's plateau and the k where voting saturates (Wang et al. 2023), accuracy against
thinking tokens for a budget sweep (s1, Muennighoff et al. 2025), and the trade-off between training
and inference compute: iso-accuracy frontiers and the cheapest combination per number of problems served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from scaling import plot, plot_infer
from scaling.infer.curves import budget_table, curves, laws
from scaling.infer.tradeoff import cheapest, frontier
from scaling.report import render_html, render_md

TARGETS = (0.5, 0.8, 0.9)
PROBLEMS = (1, 1e3, 1e6)


def _plain(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples drawn without budget forcing, one setting per run: the one covering the most checkpoints, then
    the most samples (the pass@k / maj@k curves, the laws and the trade-off use these)."""
    free = samples[samples["budget_min"].isna()]
    if free.empty:
        return free
    size = free.groupby(["run", "setting"]).agg(steps=("step", "nunique"), rows=("step", "size")).reset_index()
    best = size.sort_values(["steps", "rows"]).groupby("run").tail(1)
    return free.merge(best[["run", "setting"]], on=["run", "setting"])


def _fmt(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    out = df[[c for c in cols if c in df.columns]].copy()
    for c in out.columns:
        if c.endswith("flops"):
            out[c] = out[c].map(lambda v: f"{v:.3g}")
    return out


def analyse(samples: pd.DataFrame, *, targets: Sequence[float] = TARGETS, problems: Sequence[float] = PROBLEMS,
            boots: int = 300) -> dict[str, pd.DataFrame]:
    """Every table of the report, from the samples."""
    plain = _plain(samples)
    table = curves(plain)
    fits = laws(plain, boots=boots) if not plain.empty else pd.DataFrame()
    fronts = [frontier(table, t, m) for t in targets for m in ("pass_at_k", "maj_at_k")]
    best = [cheapest(table, t, list(problems), m) for t in targets for m in ("pass_at_k", "maj_at_k")]
    return {"curves": table, "laws": fits, "budget": budget_table(samples),
            "frontier": pd.concat(fronts, ignore_index=True) if fronts else pd.DataFrame(),
            "cheapest": pd.concat(best, ignore_index=True) if best else pd.DataFrame()}


def _laws_text(fits: pd.DataFrame) -> str:
    lines = []
    for r in fits.itertuples():
        law_text = (f"coverage c(k) = exp(a k^b), a = {r.a:.3f} [{r.a_lo:.3f}, {r.a_hi:.3f}], b = {r.b:.3f} "
                    f"[{r.b_lo:.3f}, {r.b_hi:.3f}]" if not r.fit_error else f"coverage law not fitted ({r.fit_error})")
        vote = (f"maj@k saturates at {r.plateau:.3f} [{r.plateau_lo:.3f}, {r.plateau_hi:.3f}] (within {r.tolerance:g}) "
                f"from k = {r.k_saturated}" if r.saturated else
                f"maj@k has not saturated by k = {r.n}: maj@{r.n} = {r.plateau:.3f} [{r.plateau_lo:.3f}, "
                f"{r.plateau_hi:.3f}] is a lower bound of its plateau")
        lines.append(f"- **{r.run} step {r.step}** ({r.problems} problems x {r.n} samples): {law_text}; {vote}; "
                     f"maj@1 {r.maj_at_1:.3f}, peak {r.peak:.3f} at k = {r.peak_k}.")
    return "\n".join(lines) if lines else "_no samples without budget forcing_"


def figures(tables: dict[str, pd.DataFrame], out: Path, targets: Sequence[float] = TARGETS) -> dict[str, list[Path]]:
    made = {}
    table = tables["curves"]
    for setting, group in table.groupby("setting"):
        fits = tables["laws"][tables["laws"]["setting"] == setting] if not tables["laws"].empty else None
        made[f"pass_maj_{setting}"] = plot.save(plot_infer.sampling_curves(group, fits, setting), out,
                                                f"pass_maj_{setting}")
    if not tables["budget"].empty:
        made["thinking_budget"] = plot.save(plot_infer.budget_curve(tables["budget"]), out, "thinking_budget")
    if not table.empty and table["train_flops"].notna().any():
        made["tradeoff"] = plot.save(plot_infer.tradeoff_map(table, targets), out, "tradeoff")
    return made


def write_inference_report(samples: pd.DataFrame, out_dir: str | Path, *, fmt: str = "md",
                           title: str = "Inference-time scaling", targets: Sequence[float] = TARGETS,
                           problems: Sequence[float] = PROBLEMS, boots: int = 300) -> tuple[Path, dict]:
    """Tables as CSV, figures under out/figures and out/inference.{md,html}; returns the path and the tables."""
    if samples.empty:
        raise ValueError("no `scaling infer` samples found (run `scaling infer SOURCE --n N` first)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = analyse(samples, targets=targets, problems=problems, boots=boots)
    for name, df in tables.items():
        df.to_csv(out / f"inference_{name}.csv", index=False)
    made = figures(tables, out / "figures", targets)
    frontier_cols = ["metric", "target", "step", "train_flops", "k", "inference_flops", "pass_at_k", "maj_at_k"]
    cheap_cols = ["metric", "target", "problems_served", "reachable", "step", "k", "train_flops", "inference_flops",
                  "total_flops", "training_share", "accuracy"]
    budget_cols = ["run", "step", "setting", "budget_min", "budget_max", "thinking_tokens", "forced_tokens",
                   "accuracy", "accuracy_se"]
    parts: list[tuple[str, object]] = [
        ("Coverage law and majority voting", _laws_text(tables["laws"])),
        ("Accuracy against the thinking budget", _fmt(tables["budget"], budget_cols) if not tables["budget"].empty
         else "_no thinking-task samples_"),
        ("Iso-accuracy frontier (fewest samples per checkpoint; Pareto-optimal pairs)", _fmt(tables["frontier"], frontier_cols)),
        ("Cheapest combination by problems served (total = training + problems x inference)",
         _fmt(tables["cheapest"], cheap_cols)),
    ]
    parts += [(f"Figure: {name}", paths[0]) for name, paths in made.items()]
    path = out / f"inference.{'html' if fmt == 'html' else 'md'}"
    path.write_text((render_html if fmt == "html" else render_md)(parts, title, out), encoding="utf-8")
    return path, tables
