"""Figures for scaling fits (matplotlib, no pyplot state: safe in servers and tests; PNG + SVG).

    curves(fits)      pass rate vs compute (log x): points, fit in the window (solid), extrapolation
                      (dashed), confidence band of the mean curve (shaded), window end (dotted), one colour per curve
    axes_panels(fits) one panel per ablation axis, curves coloured by that axis' level
    params(fits)      A and B with intervals, dot-and-whisker; unidentified A drawn as a lower bound
    efficiency(fits)  ScaleRL's plot: log F(R) vs log C with F(R) = C_mid^B / ((A-R0)/(R-R0) - 1) = C^B
    backtest(bt)      predicted vs observed final pass rate with intervals, one panel per horizon
Legends sit outside the axes so they never cover data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from scaling.fit.result import FitResult

X_LABELS = {"flops": "Training compute (FLOP)", "device_hours": "Training compute (device-hours)",
            "gpu_hours": "Training compute (GPU-hours)", "wall_seconds": "Training wall-clock (s)",
            "step": "RL steps", "samples_seen": "Completions sampled", "generated_tokens": "Generated tokens"}
Y_LABELS = {"pass_rate": "Pass rate (mean@k, held-out prompts)", "greedy_accuracy": "Greedy accuracy (held-out)"}


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def _legend(ax, title: str | None = None) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8, title=title,
                  title_fontsize=8)


def _label(fit: FitResult) -> str:
    return f"{fit.label}: A {fit.a_text(2)}, B {fit.params['B']:.2f}"


def draw_curve(ax, fit: FitResult, colour, label: str | None, extrapolate: float = 10.0) -> None:
    """One fit: points, fitted curve, dashed extrapolation, shaded band, dotted window end."""
    x, y = np.asarray(fit.data["x"]), np.asarray(fit.data["y"])
    inside = np.asarray(fit.data["in_window"], bool)
    pos = x > 0
    ax.scatter(x[pos & inside], y[pos & inside], s=12, color=colour, zorder=3)
    ax.scatter(x[pos & ~inside], y[pos & ~inside], s=12, facecolors="none", edgecolors=colour, zorder=3)
    lo, end = max(fit.window[0], x[pos].min()), fit.window[1]
    far = max(x.max(), end * extrapolate)
    grid = np.geomspace(x[pos].min(), far, 200)
    pred = fit.predict(grid)
    ax.fill_between(grid, pred.lo, pred.hi, color=colour, alpha=0.15, linewidth=0)
    fitted = grid <= end
    ax.plot(grid[fitted & (grid >= lo)], pred.value[fitted & (grid >= lo)], color=colour, lw=1.8, label=label)
    ax.plot(grid[~fitted], pred.value[~fitted], color=colour, lw=1.5, ls="--")
    ax.axvline(end, color=colour, lw=0.8, ls=":")


def _setup(ax, fits: Sequence[FitResult]) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(X_LABELS.get(fits[0].x, fits[0].x))
    ax.set_ylabel(Y_LABELS.get(fits[0].y, fits[0].y))
    ax.set_ylim(0, 1)
    ax.grid(True, which="major", alpha=0.3)


def curves(fits: Sequence[FitResult], title: str = "Pass rate vs compute") -> Figure:
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for fit, colour in zip(fits, _colours(len(fits))):
        draw_curve(ax, fit, colour, _label(fit))
    _setup(ax, fits)
    # Left-aligned on two lines: a centred title wider than the axes (long legends narrow them) was clipped.
    ax.set_title(f"{title}\nsolid: fit window; dashed: extrapolation; band: {fits[0].level:.0%} confidence band of the mean curve",
                 fontsize=9, loc="left")
    _legend(ax)
    return fig


def axes_panels(fits: Sequence[FitResult]) -> Figure | None:
    """One panel per group axis; colour = that axis' level (other axes share the colour)."""
    names = sorted({k for f in fits for k in f.group})
    if not names:
        return None
    fig = Figure(figsize=(9, 3.6 * len(names)), layout="constrained")
    for i, name in enumerate(names):
        ax = fig.add_subplot(len(names), 1, i + 1)
        levels = sorted({str(f.group.get(name)) for f in fits})
        colour = dict(zip(levels, _colours(len(levels))))
        seen = set()
        for f in fits:
            lev = str(f.group.get(name))
            draw_curve(ax, f, colour[lev], None if lev in seen else lev)
            seen.add(lev)
        _setup(ax, fits)
        ax.set_title(f"axis: {name}", fontsize=9)
        _legend(ax, title=name)
    return fig


def params(fits: Sequence[FitResult]) -> Figure:
    """A and B with their profile intervals; an unidentified A is an arrow from its lower bound."""
    fig = Figure(figsize=(9, 0.5 * len(fits) + 1.6), layout="constrained")
    ax_a, ax_b = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, sharey=None)
    ypos = np.arange(len(fits))[::-1]
    for yy, f in zip(ypos, fits):
        lo, hi = f.intervals["A"]
        if f.identified:
            ax_a.errorbar(f.params["A"], yy, xerr=[[f.params["A"] - lo], [hi - f.params["A"]]], fmt="o",
                          color="C0", capsize=3)
        else:
            ax_a.annotate("", xy=(1.0, yy), xytext=(lo, yy), arrowprops={"arrowstyle": "->", "color": "C3"})
            ax_a.plot(lo, yy, marker="|", color="C3", ms=12)
        blo, bhi = f.intervals["B"]
        bhi_draw = min(bhi, 10 * f.params["B"])
        ax_b.errorbar(f.params["B"], yy, xerr=[[f.params["B"] - blo], [bhi_draw - f.params["B"]]], fmt="o",
                      color="C0" if np.isfinite(bhi) else "C3", capsize=3)
    for ax, name in ((ax_a, "Asymptote A (pass rate)"), (ax_b, "Efficiency exponent B")):
        # Curve names once, on the left: repeated beside B, long names pushed that panel off the canvas.
        ax.set_yticks(ypos, [f.label for f in fits] if ax is ax_a else [], fontsize=8)
        ax.set_xlabel(name)
        ax.grid(True, axis="x", alpha=0.3)
    ax_a.set_xlim(0, 1.02)
    ax_b.set_xscale("log")
    ax_b.xaxis.set_major_formatter(ScalarFormatter())
    ax_b.xaxis.set_minor_formatter(NullFormatter())
    ax_a.set_title("A: dot = estimate, whisker = interval; red arrow = lower bound only", fontsize=8)
    ax_b.set_title("B: red = interval open above", fontsize=8)
    return fig


def efficiency(fits: Sequence[FitResult]) -> Figure:
    """log F(R) vs log C: on a sigmoid the points fall on a line of slope B through the origin."""
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.add_subplot()
    plotted = False
    for f, colour in zip(fits, _colours(len(fits))):
        p = f.params
        x, y = np.asarray(f.data["x"]), np.asarray(f.data["y"])
        ok = np.asarray(f.data["in_window"], bool) & (x > 0) & (y > p["R0"]) & (y < p["A"])
        # numpy powers: a flat curve fits a huge C_mid, and C_mid**B overflows a Python float (OverflowError).
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            F = np.float64(p["C_mid"]) ** p["B"] / ((p["A"] - p["R0"]) / (y[ok] - p["R0"]) - 1)
            grid = np.geomspace(max(f.window[0], x[x > 0].min()), f.window[1], 50)
            line = grid ** np.float64(p["B"])
        shown, drawn = np.isfinite(F) & (F > 0), np.isfinite(line) & (line > 0)
        ax.scatter(x[ok][shown], F[shown], s=12, color=colour)
        ax.plot(grid[drawn], line[drawn], color=colour, label=f"{f.label}: slope B = {p['B']:.2f}")
        plotted = plotted or shown.any() or drawn.any()
    if plotted:  # log axes over nothing positive fail when the figure is drawn
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "nothing to draw: C_mid^B overflows, or no evaluation lies between R0 and A",
                transform=ax.transAxes, ha="center", fontsize=9)
    ax.set_xlabel(X_LABELS.get(fits[0].x, fits[0].x) + ", log scale")
    ax.set_ylabel("F(R) = C_mid^B / ((A - R0)/(R - R0) - 1)")
    ax.set_title("Efficiency plot (ScaleRL): points on a line of slope B when the sigmoid holds", fontsize=9, loc="left")
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return fig


def train_vs_heldout(gaps) -> Figure:
    """RFT's overfitting watch: per run, pass rate on its training prompts (dashed) and held-out (solid)
    against epochs over the training prompts; a widening gap is memorisation. `gaps`: scaling.watch.rft_gap."""
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = "epochs" if "epochs" in gaps and gaps["epochs"].notna().all() else "step"
    runs = list(dict.fromkeys(gaps["run_id"])) if "run_id" in gaps else [None]
    for run, colour in zip(runs, _colours(len(runs))):
        rows = gaps if run is None else gaps[gaps["run_id"] == run]
        name = str(rows["run_name"].iloc[0]) if "run_name" in rows else str(run)
        ax.plot(rows[x], rows["pass_rate"], color=colour, lw=1.8, marker="o", ms=3, label=f"{name}: held-out")
        ax.plot(rows[x], rows["train_pass_rate"], color=colour, lw=1.5, ls="--", marker="o", ms=3,
                label=f"{name}: training prompts")
    ax.set_xlabel("Epochs over the training prompts" if x == "epochs" else "RL steps")
    ax.set_ylabel("Pass rate (mean@k)")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.set_title("Training prompts (dashed) against held-out prompts (solid): a widening gap is overfitting",
                 fontsize=9, loc="left")
    _legend(ax)
    return fig


def save(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{ext}" for ext in ("png", "svg")]
    for p in paths:
        fig.savefig(p, dpi=150)
    return paths


def plot_all(fits: Sequence[FitResult], out_dir: str | Path) -> dict[str, list[Path]]:
    """Every figure for a set of fits; returns name -> [png, svg]."""
    figs = {"curves": curves(fits), "params": params(fits), "efficiency": efficiency(fits)}
    panels = axes_panels(fits)
    if panels is not None and len({k for f in fits for k in f.group}) > 1:
        figs["axes"] = panels
    return {name: save(fig, out_dir, name) for name, fig in figs.items()}


def backtest(bt) -> Figure | None:
    """Predicted vs observed final pass rate, one panel per horizon, with the predictions' intervals.

    Points on the diagonal are exact; a whisker that crosses it is a covered prediction. Circles:
    each run extrapolated from its own first part; squares: leave one seed out (the recipe's other
    seeds predicting this one as a new run).
    """
    ok = bt[bt["error"].fillna("") == ""] if "error" in bt else bt
    if ok.empty or "fraction" not in ok:
        return None
    fracs = sorted(ok["fraction"].unique())
    fig = Figure(figsize=(9, 4.8), layout="constrained")  # the width every report figure has
    for i, frac in enumerate(fracs):
        ax = fig.add_subplot(1, len(fracs), i + 1)
        for mode, marker, colour, shift in (("run", "o", "C0", -0.004), ("loso", "s", "C1", 0.004)):
            g = ok[(ok["fraction"] == frac) & (ok["mode"] == mode)]
            if g.empty:
                continue
            yerr = [g["final_pred"] - g["final_lo"], g["final_hi"] - g["final_pred"]]
            cover = g["final_covered"].mean()
            ax.errorbar(g["final_y"] + shift, g["final_pred"], yerr=yerr, fmt=marker, ms=4, color=colour, capsize=2,
                        lw=0.8, label=f"{'own run' if mode == 'run' else 'leave one seed out'}: "
                                      f"median |err| {g['final_error'].abs().median():.3f}, covered {cover:.0%}")
        ax.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("observed final pass rate")
        ax.set_ylabel("predicted (interval for one evaluation)")
        ax.set_title(f"fit on the first {frac:.0%} of compute: {1 / frac:.3g}x extrapolation", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7, frameon=False)
    return fig
