"""Build a batch-size CPU study's results folder — table, fits, backtests, figures and report — from its runs.

    python analysis/cpu_scaling.py                    # experiments/cpu_scaling.yaml's finished runs -> results/cpu_scaling
    python analysis/cpu_scaling.py experiments/cpu_scaling_large.yaml   # another study's runs -> results/<its name>
    python analysis/cpu_scaling.py results/cpu_scaling_large   # only from the committed table in that folder
    python analysis/cpu_scaling.py --table results/cpu_scaling/evals.parquet   # the same for the default study

The studies: the tiny default with cosine lr decay at several prompts per step with equal compute, several seeds
each (experiments/cpu_scaling.yaml: 8/16/32 prompts, 6 seeds; experiments/cpu_scaling_large.yaml: 32/48/64, 4
seeds). The report scores a study against issue 12's targets:
- stability, per run: chi2/dof of its evaluations around its own smooth trend (the ScaleRL sigmoid fitted to that
  run alone, binomial noise from the per-prompt counts; ~1 is measurement noise, <= 4 is a scatter at most twice
  the noise) and the largest drop between consecutive evaluations after the first 20% of its compute (<= 0.1);
- the backtest (the same table as `scaling backtest results/<study>/evals.parquet`): fitted on the first 25%
  and 50% of compute, the final pass rate predicted per run and leaving one seed out (target at 50%: median
  |error| <= 0.02, 95% intervals covering >= 90% of runs);
- the axis backtest: the largest prompts_per_step left out and predicted from the trend of A, B and C_mid over
  the smaller ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scaling import plot
from scaling.fit import backtest, fit_curve, fit_groups
from scaling.fit.backtest import summary_table
from scaling.fit.errors import FitError
from scaling.fit.trend import axis_backtest, trend_predict
from scaling.report import write_report
from scaling.study.results import study_evals
from scaling.study.spec import SpecError, load_spec

AXIS = "rollout.prompts_per_step"
KEEP = ["run_id", "run_name", "state", "seed", AXIS, "train.steps", "eval.every", "optim.warmup_steps", "step",
        "prompts_seen", "samples_seen", "generated_tokens", "trained_tokens", "flops", "wall_seconds",
        "device_hours", "pass_rate", "greedy_accuracy", "eval_prompts", "eval_k", "correct_counts",
        "mean_response_tokens", "health"]
DEFAULT_SPEC = "experiments/cpu_scaling.yaml"
TARGETS = {"chi2/dof": 4.0, "drop": 0.1, "error": 0.02, "coverage": 0.9}


def stability(table: pd.DataFrame) -> pd.DataFrame:
    """Per run: chi2/dof around its own sigmoid, largest drop after 20% of compute, peak, final, health."""
    rows = []
    for run, g in table.groupby("run_id", sort=False):
        g = g.sort_values("flops")
        try:
            chi2 = fit_curve(g).residuals["chi2_red"]  # the fitter's own window: first 10% of evaluations left out
        except FitError:
            chi2 = float("nan")
        late = g[g["flops"] >= 0.2 * g["flops"].max()]["pass_rate"].to_numpy()
        rows.append({"run": g["run_name"].iloc[0], "run_id": run, "evals": len(g), "chi2/dof": chi2,
                     "max drop after 20%": float(np.max(-np.diff(late), initial=0.0)),
                     "peak": float(g["pass_rate"].max()), "final": float(g["pass_rate"].iloc[-1]),
                     "health": str(g["health"].iloc[-1]) if "health" in g else ""})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    cell = lambda v: f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in frame.itertuples(index=False)])


def axis_figure(table: pd.DataFrame, ax_bt: pd.DataFrame) -> Figure | None:
    """The held-out batch size's curves against the curve the trend over the smaller ones predicts."""
    vals = pd.to_numeric(table[AXIS])
    top = float(vals.max())
    fits, _ = fit_groups(table[vals != top], by=[AXIS])
    held = table[vals == top]
    grid = np.linspace(held["flops"].max() * 0.02, held["flops"].max(), 60)
    try:
        p = trend_predict(fits, AXIS, top, grid)
    except FitError:
        return None
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for i, (v, g) in enumerate(table.groupby(AXIS)):
        for j, (_, run) in enumerate(g.groupby("run_id")):
            run = run.sort_values("flops")
            ax.plot(run["flops"], run["pass_rate"], "o-" if float(v) == top else ".-", ms=3, lw=0.7, color=f"C{i}",
                    alpha=0.9 if float(v) == top else 0.35, label=f"{AXIS}={v}" if j == 0 else None)
    lo = [q["interval"][0] for q in p["predictions"]]
    hi = [q["interval"][1] for q in p["predictions"]]
    ax.plot(grid, [q["R"] for q in p["predictions"]], color="k", lw=1.5,
            label=f"{AXIS}={top:g} predicted from {p['from_values']}")
    ax.fill_between(grid, lo, hi, color="k", alpha=0.15, label="95% confidence band of the predicted mean curve")
    if not ax_bt.empty and "final_lo" in ax_bt:
        ok = ax_bt[ax_bt["error"].fillna("") == ""]
        ax.errorbar([held["flops"].max()] * len(ok), ok["final_pred"],
                    yerr=[ok["final_pred"] - ok["final_lo"], ok["final_hi"] - ok["final_pred"]], fmt="none",
                    color="k", capsize=4, label="interval for one final evaluation")
    ax.set_xlabel("compute (FLOPs)")
    ax.set_ylabel("pass rate (held-out)")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Axis backtest: {AXIS}={top:g} left out, predicted from the smaller values", fontsize=9)
    return fig


def notes(stab: pd.DataFrame, table_bt: pd.DataFrame, ax_bt: pd.DataFrame) -> str:
    """The study against issue 12's targets, in sentences."""
    at = lambda mode, f: table_bt[(table_bt["mode"] == mode) & (table_bt["fit_on"] == f"first {f:.0%}")]
    lines = [f"Stability: chi2/dof around each run's own trend {stab['chi2/dof'].min():.2f}–"
             f"{stab['chi2/dof'].max():.2f} (median {stab['chi2/dof'].median():.2f}; target <= "
             f"{TARGETS['chi2/dof']:g}, a scatter at most twice the measurement noise), met by "
             f"{int((stab['chi2/dof'] <= TARGETS['chi2/dof']).sum())}/{len(stab)} runs; largest drop between "
             f"consecutive evaluations after 20% of compute {stab['max drop after 20%'].max():.3f} (target <= "
             f"{TARGETS['drop']:g}), met by {int((stab['max drop after 20%'] <= TARGETS['drop']).sum())}/{len(stab)}"
             f" runs; health: {', '.join(f'{k} {v}' for k, v in stab['health'].value_counts().items())}."]
    for mode, name in (("run", "own run"), ("loso", "leave one seed out")):
        for f in (0.5, 0.25):
            r = at(mode, f)
            if r.empty:
                continue
            r = r.iloc[0]
            met = (r.median_abs_final_error <= TARGETS["error"] and r.final_coverage >= TARGETS["coverage"])
            lines.append(f"Backtest, {name}, fitted on the first {f:.0%}: median |final error| "
                         f"{r.median_abs_final_error:.3f}, coverage {r.final_coverage:.0%} ({r.runs} runs, "
                         f"{r.failed} not fitted); tail mean {r.median_abs_tail_error:.3f}, {r.tail_coverage:.0%}"
                         + (f" — target {'met' if met else 'missed'}" if f == 0.5 else "") + ".")
    ok = ax_bt[ax_bt["error"].fillna("") == ""] if not ax_bt.empty else ax_bt
    if len(ok):
        lines.append(f"Axis backtest: {AXIS}={ok['held_out'].iloc[0]:g} predicted from {ok['from_values'].iloc[0]}: "
                     f"median |final error| {ok['final_error'].abs().median():.3f}, covered "
                     f"{ok['final_covered'].mean():.0%} of {len(ok)} runs; tail {ok['tail_error'].abs().median():.3f}, "
                     f"{ok['tail_covered'].mean():.0%}.")
    elif not ax_bt.empty:
        lines.append(f"Axis backtest: nothing scored ({ax_bt['error'].iloc[0]}).")
    return "\n".join(f"- {line}" for line in lines)


def per_recipe(runs_bt: pd.DataFrame, stab: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The backtest summary of each recipe alone, with its runs' stability: which batch sizes meet the target."""
    value = table.groupby("run_id")[AXIS].first()
    rows = []
    for group, g in runs_bt.groupby("group", sort=False):
        s = stab[stab["run_id"].isin(g["run"])]
        for r in summary_table(g).itertuples(index=False):
            rows.append({"recipe": group, "mode": r.mode, "fit_on": r.fit_on, "runs": r.runs,
                         "median_abs_final_error": r.median_abs_final_error, "final_coverage": r.final_coverage,
                         "median_abs_tail_error": r.median_abs_tail_error, "tail_coverage": r.tail_coverage,
                         "chi2/dof": f"{s['chi2/dof'].min():.1f}–{s['chi2/dof'].max():.1f}",
                         "max drop after 20%": float(s["max drop after 20%"].max())})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {f"{AXIS}={v:g}": i for i, v in enumerate(sorted(pd.to_numeric(value).unique()))}
    return out.sort_values(["recipe", "mode", "fit_on"], key=lambda c: c.map(order) if c.name == "recipe" else c,
                           kind="stable").reset_index(drop=True)


def _title(table: pd.DataFrame) -> str:
    per_run = table.groupby("run_id").first()
    sizes = sorted(per_run[AXIS].astype(int).unique())
    steps = "/".join(str(per_run[per_run[AXIS] == v]["train.steps"].max()) for v in sizes) if "train.steps" in per_run else "?"
    seeds = per_run["seed"].nunique()
    return (f"CPU scaling study: cosine lr, prompts per step {'/'.join(map(str, sizes))} at equal compute "
            f"({steps} steps), {seeds} seeds")


def _sources(args: argparse.Namespace) -> tuple[str, Path | None, Path]:
    """(spec, committed table or None, output folder) from the study argument: a spec reads its runs; a results
    folder rebuilds from the evals.parquet committed there."""
    study = Path(args.study or args.spec or DEFAULT_SPEC)
    table = args.table
    if study.is_dir():
        table = table or study / "evals.parquet"
        if not table.is_file():
            raise SystemExit(f"{study}: no evals.parquet (pass a study spec, or a results folder with its table)")
        return str(study), table, args.out or study
    if not study.is_file():
        raise SystemExit(f"{study}: no such study spec or results folder")
    try:
        name = load_spec(study).name
    except SpecError as err:
        raise SystemExit(str(err)) from None
    return str(study), table, args.out or Path("results") / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", help=f"The study: its spec (reads its finished runs) or its results "
                        f"folder (rebuilds from the evals.parquet there). Default: {DEFAULT_SPEC}.")
    parser.add_argument("--spec", help="The same as STUDY, as a spec (kept for older commands).")
    parser.add_argument("--table", type=Path, help="Rebuild from a committed combined table instead of the runs.")
    parser.add_argument("--out", type=Path, help="Results folder (default: results/<the spec's name>, or the "
                        "results folder given as STUDY).")
    parser.add_argument("--title", help="Report title (default: says the batch sizes, steps and seeds).")
    args = parser.parse_args()
    spec, table_path, args.out = _sources(args)
    if table_path:
        table = pd.read_parquet(table_path)
    else:
        table = study_evals(spec)
        table = table[[c for c in KEEP if c in table.columns]]
    if table.empty:
        raise SystemExit(f"{table_path or spec}: no evaluation rows")
    args.out.mkdir(parents=True, exist_ok=True)
    title = args.title or _title(table)
    if not table_path:
        table.to_parquet(args.out / "evals.parquet", index=False)
    fits, errors = fit_groups(table, by=[AXIS])
    runs_bt = backtest(table, by=[AXIS])
    runs_bt.to_csv(args.out / "backtest.csv", index=False)
    ax_bt = axis_backtest(table, AXIS)
    ax_bt.to_csv(args.out / "axis_backtest.csv", index=False)
    stab = stability(table)
    stab.to_csv(args.out / "stability.csv", index=False)
    report = write_report(fits, args.out, runs_bt, "md", title=title, table=table)
    fig = axis_figure(table, ax_bt)
    extra = ["## Against issue 12's targets\n", notes(stab, summary_table(runs_bt), ax_bt) + "\n",
             "## Backtest per recipe\n", markdown(per_recipe(runs_bt, stab, table)) + "\n",
             "## Stability per run\n", markdown(stab.drop(columns=["run_id"])) + "\n",
             "## Axis backtest (largest batch size left out)\n",
             markdown(ax_bt.drop(columns=["axis", "from_values"], errors="ignore")) + "\n"]
    if fig is not None:
        plot.save(fig, args.out / "figures", "axis_backtest")
        extra.append("## Figure: axis backtest\n\n![Figure: axis backtest](figures/axis_backtest.png)\n")
    report.write_text(report.read_text(encoding="utf-8") + "\n" + "\n".join(extra), encoding="utf-8")
    for error in errors:
        print("not fitted:", error)
    print(f"report: {report}")
    print(markdown(stab.drop(columns=["run_id"])))
    print(summary_table(runs_bt).round(3).to_string(index=False))
    print(notes(stab, summary_table(runs_bt), ax_bt))


if __name__ == "__main__":
    main()
