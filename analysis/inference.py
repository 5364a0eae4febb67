"""Build results/inference/ — samples, curves, fitted laws, budget sweep, trade-off, figures and report — from
the inference example (experiments/inference.yaml).

    scaling launch experiments/inference.yaml --wait     # the RL run, keeping weights at every evaluation
    python analysis/inference.py                          # sample from its checkpoints, then the report
    python analysis/inference.py --table results/inference/samples.parquet   # only the report, from the table

Sampling is `scaling infer` (resumable: run it again after an interruption and it continues): 32 samples per
held-out prompt from every kept checkpoint at the run's temperature, and a sweep of s1 thinking budgets
(8 samples per prompt) on the base model and the final checkpoint. Prints the numbers the README quotes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scaling.infer.run import infer
from scaling.infer.settings import settings_for
from scaling.infer.sources import resolve
from scaling.infer.tables import load_samples
from scaling.report_infer import write_inference_report

# MAX, or MIN: (extend with "Wait"); natural thinking is 5 tokens, and the free point comes from the 32-sample setting
BUDGETS = ["0", "1", "2", "3", "4", "8:", "12:"]
TARGETS = (0.5, 0.8, 0.9)
PROBLEMS = (1e2, 1e4, 1e6)


def sample(spec: str, n: int, prompts: int, budget_n: int) -> Path:
    sources = resolve(Path(spec))
    config = sources[0].config
    plain = settings_for(config, n=n, prompts=prompts, temperature=None, budgets=[], max_new_tokens=None,
                         wait="Wait", seed=0)
    infer(sources, plain, ["all"], progress=True)
    budgets = settings_for(config, n=budget_n, prompts=prompts, temperature=None, budgets=BUDGETS,
                           max_new_tokens=None, wait="Wait", seed=0)
    steps = [str(c.step) for c in sources[0].checkpoints if c.step in (0, max(x.step for x in sources[0].checkpoints))]
    infer(sources, budgets, steps, progress=True)
    return sources[0].out


def headline(tables: dict) -> None:
    for r in tables["laws"].itertuples():
        law = (f"a = {r.a:.3f} [{r.a_lo:.3f}, {r.a_hi:.3f}], b = {r.b:.3f} [{r.b_lo:.3f}, {r.b_hi:.3f}]"
               if not r.fit_error else r.fit_error)
        print(f"step {r.step:4d} ({r.train_flops:.3g} FLOP): pass@1 {r.coverage_at_1:.3f} pass@{r.n} "
              f"{r.coverage_at_n:.3f}; coverage law {law}; maj@1 {r.maj_at_1:.3f} -> maj@{r.n} {r.plateau:.3f} "
              f"({'saturated from' if r.saturated else 'not saturated; within 0.01 only from'} k = {r.k_saturated}; "
              f"peak {r.peak:.3f} at k = {r.peak_k})")
    budget = tables["budget"]
    if not budget.empty:
        for r in budget.sort_values(["step", "thinking_tokens"]).itertuples():
            print(f"budget step {r.step}: {r.setting:28s} thinking {r.thinking_tokens:5.2f} tokens, "
                  f"forced {r.forced_tokens:4.2f}, accuracy {r.accuracy:.3f} ± {1.96 * r.accuracy_se:.3f}")
    for r in tables["frontier"].itertuples():
        print(f"frontier {r.metric} >= {r.target}: step {r.step} ({r.train_flops:.3g} FLOP) with k = {r.k} "
              f"({r.inference_flops:.3g} FLOP per problem)")
    for r in tables["cheapest"].itertuples():
        if r.reachable:
            print(f"cheapest {r.metric} >= {r.target} for {r.problems_served:.0e} problems: step {int(r.step)}, k = {int(r.k)}, "
                  f"total {r.total_flops:.3g} FLOP ({r.training_share:.0%} training)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/inference.yaml")
    parser.add_argument("--table", type=Path, help="Rebuild the report from a committed samples table.")
    parser.add_argument("--out", type=Path, default=Path("results/inference"))
    parser.add_argument("--n", type=int, default=32, help="Samples per prompt for pass@k / maj@k.")
    parser.add_argument("--budget-n", type=int, default=8, help="Samples per prompt for each thinking budget.")
    parser.add_argument("--prompts", type=int, default=200)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table:
        samples = pd.read_parquet(args.table)
    else:
        folder = sample(args.spec, args.n, args.prompts, args.budget_n)
        samples = load_samples(folder)
        samples.to_parquet(args.out / "samples.parquet", index=False)
    report, tables = write_inference_report(samples, args.out, title="Inference-time scaling: addition_think, one RL run",
                                            targets=TARGETS, problems=PROBLEMS)
    print(f"report: {report}")
    headline(tables)


if __name__ == "__main__":
    main()
