"""Figures of inference-time scaling (matplotlib Figure objects, no pyplot state; saved as PNG + SVG).

    sampling_curves(curves, laws)  pass@k (solid) and maj@k (dashed) per checkpoint, against k and against
                                   inference FLOPs per problem; the fitted coverage law exp(a k^b) dotted
    budget_curve(budget)           accuracy against mean thinking tokens per answer for a budget sweep
    tradeoff_map(curves, targets)  every (checkpoint, k) at (training FLOPs, inference FLOPs per problem)
                                   coloured by accuracy, with the iso-accuracy frontiers
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from matplotlib.figure import Figure

from scaling.infer.coverage import law
from scaling.infer.tradeoff import METRICS, frontier
from scaling.plot import _colours, _legend


def _label(run: str, step: int, several_runs: bool) -> str:
    return f"{run} step {step}" if several_runs else f"step {step}"


def sampling_curves(curves: pd.DataFrame, laws: pd.DataFrame | None = None, title: str = "") -> Figure:
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    by_k, by_flops = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, sharey=None)
    groups = list(curves.groupby(["run", "step"], sort=True))
    several = curves["run"].nunique() > 1
    fitted = {} if laws is None else {(r.run, r.step): r for r in laws.itertuples() if not r.fit_error}
    for ((run, step), g), colour in zip(groups, _colours(len(groups))):
        label = _label(run, step, several)
        fit = fitted.get((run, step))
        for ax, x in ((by_k, g["k"]), (by_flops, g["inference_flops"])):
            legend = ax is by_flops  # the legend sits right of the second panel
            ax.plot(x, g["pass_at_k"], color=colour, lw=1.6, label=f"{label}: pass@k" if legend else None)
            ax.plot(x, g["maj_at_k"], color=colour, lw=1.3, ls="--", label=f"{label}: maj@k" if legend else None)
            if fit is not None:
                ax.plot(x, law(g["k"], fit.a, fit.b), color=colour, lw=1.0, ls=":",
                        label=f"exp({fit.a:.2f} k^{fit.b:.2f})" if legend else None)
    by_k.set_xlabel("samples per problem k")
    by_flops.set_xlabel("inference FLOPs per problem (k samples)")
    for ax in (by_k, by_flops):
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.3)
    by_k.set_ylabel("accuracy over held-out problems")
    by_k.set_title((title + ": " if title else "") + "solid pass@k (verifier), dashed maj@k (vote), dotted coverage law",
                   fontsize=8)
    by_flops.set_title("the same against inference compute", fontsize=8)
    _legend(by_flops)
    return fig


def budget_curve(budget: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(9, 4.4), layout="constrained")
    ax = fig.add_subplot()
    groups = list(budget.groupby(["run", "step"], sort=True))
    several = budget["run"].nunique() > 1
    for ((run, step), g), colour in zip(groups, _colours(len(groups))):
        g = g.sort_values("thinking_tokens")
        ax.errorbar(g["thinking_tokens"], g["accuracy"], yerr=1.96 * g["accuracy_se"].fillna(0), color=colour,
                    marker="o", ms=4, capsize=2, label=_label(run, step, several))
        for row in g.itertuples():
            text = "free" if pd.isna(row.budget_min) else (
                f"{int(row.budget_min)}:{'' if pd.isna(row.budget_max) else int(row.budget_max)}")
            ax.annotate(text, (row.thinking_tokens, row.accuracy), textcoords="offset points", xytext=(3, 4),
                        fontsize=6, color=colour)
    ax.set_xlabel("mean thinking tokens per answer (model-written, forced tokens excluded)")
    ax.set_ylabel("accuracy (mean over samples)")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title("s1 budget forcing: thinking budget MIN:MAX ('Wait' below MIN, end forced at MAX); bars 95%",
                 fontsize=8)
    _legend(ax)
    return fig


def tradeoff_map(curves: pd.DataFrame, targets: Sequence[float]) -> Figure:
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    for i, metric in enumerate(METRICS):
        ax = fig.add_subplot(1, 2, i + 1)
        points = ax.scatter(curves["train_flops"], curves["inference_flops"], c=curves[metric], cmap="viridis",
                            vmin=0, vmax=1, s=10)
        for target, colour in zip(targets, _colours(len(targets) + 3)[3:]):
            front = frontier(curves, target, metric)
            if not front.empty:
                # dashed: checkpoints between these were not sampled, the line only joins the measured points
                ax.plot(front["train_flops"], front["inference_flops"], color=colour, marker="o", ms=5, lw=1, ls="--",
                        label=f"{METRICS[metric].split()[0]} ≥ {target:g}")
        ax.set_yscale("log")
        ax.set_xlabel("training FLOPs of the checkpoint")
        ax.set_ylabel("inference FLOPs per problem")
        ax.set_title(f"{METRICS[metric]}: colour = accuracy; lines = iso-accuracy frontiers", fontsize=8)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right", frameon=False)
    fig.colorbar(points, ax=fig.axes, shrink=0.8, label="accuracy")
    return fig
