"""Does cosine decay or a lower learning rate stop the tiny default's late oscillation and collapse?

    python analysis/default_recipe.py run  [--steps 900] [--jobs 2]   # train the recipes (threads: 1 each)
    python analysis/default_recipe.py table       # score them (from the committed results/default_recipe/*.csv)
    python analysis/default_recipe.py reference   # the same scores for the committed results/cpu_backtest runs

Each recipe is the embedded default at the quickstart's collapsing setting (8 prompts per step, issue 12:
prompts_8 seed 0 fell from 0.60 to 0.00) with one change. A run is scored by
- chi2/dof of its evaluations around its own smooth trend (the ScaleRL sigmoid fitted to that run
  alone, all points, binomial noise from the per-prompt counts): ~1 is measurement noise;
- the largest drop between consecutive evaluations after the first 20% of its compute;
- the final pass rate and the run's health label (scaling.rl.health).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path("results/default_recipe")
BASE = ["threads=1", "rollout.prompts_per_step=8", "eval.prompts=400"]
RECIPES = {
    "constant_3e-4": [],
    "cosine_3e-4": ["optim.schedule=cosine"],
    "constant_1e-4": ["optim.lr=1e-4"],
}


def run(steps: int, every: int, seeds: list[int], jobs: int, recipes: list[str]) -> None:
    todo = []
    for name in recipes:
        overrides = RECIPES[name]
        for seed in seeds:
            folder = OUT / "runs" / f"{name}_s{seed}"
            sets = BASE + overrides + [f"seed={seed}", f"train.steps={steps}", f"eval.every={every}"]
            todo.append([str(Path(sys.executable).with_name("scaling")), "train", "--out", str(folder)]
                        + [a for s in sets for a in ("--set", s)])
    with ThreadPoolExecutor(jobs) as pool:
        codes = list(pool.map(lambda cmd: subprocess.run(cmd, capture_output=True).returncode, todo))
    print(f"{codes.count(0)}/{len(codes)} runs done")


def score(evals: pd.DataFrame) -> dict:
    from scaling.fit import fit_curve

    evals = evals.sort_values("flops")
    fit = fit_curve(evals.assign(run_id="one"))  # the fitter's own window: the first 10% of evaluations left out
    late = evals[evals["flops"] >= 0.2 * evals["flops"].max()]["pass_rate"].to_numpy()
    drops = -np.diff(late)
    return {"evals": len(evals), "chi2/dof": fit.residuals["chi2_red"], "max drop after 20%": float(drops.max()),
            "peak": float(evals["pass_rate"].max()), "final": float(evals["pass_rate"].iloc[-1]),
            "health": evals["health"].iloc[-1] if "health" in evals else None}


def markdown(frame: pd.DataFrame) -> str:
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)])


def backtest_reference() -> pd.DataFrame:
    """The same scores for the committed 1,200-step backtest runs (constant lr 3e-4, 16 prompts per step)."""
    evals = pd.read_parquet("results/cpu_backtest/evals.parquet")
    rows = [{"loss": g["loss.type"].iloc[0], "pipeline_k": int(g["train.pipeline_k"].iloc[0]),
             "seed": int(g["seed"].iloc[0]), **score(g)} for _, g in evals.groupby("run_id")]
    frame = pd.DataFrame(rows).sort_values(["loss", "seed"])
    print(markdown(frame))
    return frame


def table() -> pd.DataFrame:
    """Scores from the committed per-run CSVs (written here from results/default_recipe/runs when present)."""
    from scaling.store import read_evals

    for folder in sorted((OUT / "runs").glob("*")):
        evals = read_evals(folder)
        if len(evals) >= 5:
            counts = evals["correct_counts"].map(lambda c: " ".join(map(str, c)))
            evals.assign(correct_counts=counts).to_csv(OUT / f"{folder.name}.csv", index=False)
    rows = []
    for path in sorted(OUT.glob("*.csv")):
        recipe, seed = path.stem.rsplit("_s", 1)
        rows.append({"recipe": recipe, "seed": int(seed), **score(pd.read_csv(path))})
    frame = pd.DataFrame(rows)
    print(markdown(frame))
    return frame


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["run", "table", "reference"])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--every", type=int, default=75)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args = parser.parse_args()
    {"run": lambda: run(args.steps, args.every, args.seeds, args.jobs, args.recipes), "table": table,
     "reference": backtest_reference}[args.what]()
