"""Build results/cpu_study/ — the combined table, fits, backtest, figures and report — from the CPU study.

    python analysis/cpu_study.py                    # from the finished study (runs/cpu_study, after
                                                    #   `scaling launch experiments/cpu_study.yaml --wait`)
    python analysis/cpu_study.py --table results/cpu_study/evals.parquet   # only from the committed table
    python analysis/cpu_study.py --spec experiments/cpu_backtest.yaml --out results/cpu_backtest \
        --title "CPU backtest: 1,200-step runs"                          # the longer backtest study

Prints the backtest numbers the README quotes (the same table as `scaling backtest results/cpu_study`): fits on
the first 25% and 50% of compute predict the final pass rate (last evaluation, and the mean of the last 10%), each
run from its own first part and each seed from its recipe's other seeds; median absolute error and how often the
95% interval covers the measured value, per horizon.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scaling.fit import backtest, fit_groups
from scaling.fit.backtest import summary_table
from scaling.report import write_report
from scaling.study.results import study_evals

AXES = ["loss.type", "train.pipeline_k"]
KEEP = ["run_id", "run_name", "state", "seed", *AXES, "step", "prompts_seen", "samples_seen", "generated_tokens",
        "trained_tokens", "flops", "wall_seconds", "device_hours", "pass_rate", "greedy_accuracy", "eval_prompts",
        "eval_k", "correct_counts", "mean_response_tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/cpu_study.yaml")
    parser.add_argument("--table", type=Path, help="Rebuild from a committed combined table instead of the runs.")
    parser.add_argument("--out", type=Path, default=Path("results/cpu_study"))
    parser.add_argument("--title", default="CPU study: policy loss x off-policy lag (PipelineRL-k), 3 seeds")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table:
        table = pd.read_parquet(args.table)
    else:
        table = study_evals(args.spec)[KEEP]
        table.to_parquet(args.out / "evals.parquet", index=False)
    fits, errors = fit_groups(table, by=AXES)
    runs_bt = backtest(table, by=AXES)
    runs_bt.to_csv(args.out / "backtest.csv", index=False)
    report = write_report(fits, args.out, runs_bt, "md", title=args.title)
    for error in errors:
        print("not fitted:", error)
    print(f"report: {report}")
    print(summary_table(runs_bt).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
