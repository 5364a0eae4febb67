"""From stored samples to curves: pass@k and maj@k for k = 1..n against inference FLOPs per problem,
the fitted laws per checkpoint, and accuracy against thinking tokens for a budget sweep (no torch).

Inference FLOPs per problem at k samples = k x the mean forward FLOPs of one sample at that checkpoint
(prompt + completion, scaling.compute's formula, stored per sample by `scaling infer`): the compute a
verifier (pass@k) or a vote (maj@k) over k samples costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.infer.coverage import fit_coverage, plateau
from scaling.infer.estimators import maj_at_k, pass_at_k_curve

KEYS = ["run", "setting", "step"]


def _complete(group: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows of the prompts that have all n samples (a table still being written has a partial last chunk)."""
    n = int(group["sample"].max()) + 1
    sizes = group.groupby("prompt_id")["sample"].transform("size")
    return group[sizes == n].sort_values(["prompt_id", "sample"]), n


def problem_curves(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-problem pass@k and maj@k curves, shape (problems, n), and maj@k's Monte Carlo variance (0 if exact)."""
    rows, n = _complete(group)
    passes, majs, var = [], [], []
    for pid, prompt in rows.groupby("prompt_id", sort=True):
        correct = prompt["correct"].to_numpy(float)
        passes.append(pass_at_k_curve(n, int((correct >= 0.5).sum())))
        answers = [None if a is None or (isinstance(a, float) and np.isnan(a)) else a for a in prompt["answer"]]
        curve, se = maj_at_k(answers, correct, seed=int(pid))
        majs.append(curve)
        var.append(se ** 2)
    return np.array(passes), np.array(majs), np.array(var)


def curves(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, setting, step, k): pass_at_k, maj_at_k (+ standard error), inference FLOPs per problem."""
    out = []
    for key, group in samples.groupby(KEYS, sort=True):
        passes, majs, var = problem_curves(group)
        if len(passes) == 0:
            continue
        n, problems = passes.shape[1], len(passes)
        per_sample = float(group["inference_flops"].mean())
        ks = np.arange(1, n + 1)
        frame = pd.DataFrame({"k": ks, "pass_at_k": passes.mean(0), "maj_at_k": majs.mean(0),
                              "maj_se": np.sqrt(var.sum(0)) / problems,
                              "pass_se": passes.std(0, ddof=1) / np.sqrt(problems) if problems > 1 else np.nan,
                              "inference_flops": ks * per_sample})
        frame = frame.assign(**dict(zip(KEYS, key)), train_flops=float(group["train_flops"].iloc[0]), n=n,
                             problems=problems, mean_completion_tokens=float(group["completion_tokens"].mean()))
        out.append(frame)
    columns = KEYS + ["train_flops", "k", "pass_at_k", "pass_se", "maj_at_k", "maj_se", "inference_flops", "n",
                      "problems", "mean_completion_tokens"]
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def laws(samples: pd.DataFrame, *, boots: int = 300, tolerance: float = 0.01) -> pd.DataFrame:
    """Per (run, setting, step): coverage law exp(a k^b) with intervals, and maj@k's plateau and saturation k."""
    out = []
    for key, group in samples.groupby(KEYS, sort=True):
        passes, majs, _ = problem_curves(group)
        row = {**dict(zip(KEYS, key)), "train_flops": float(group["train_flops"].iloc[0]), "n": passes.shape[1],
               "problems": len(passes), "fit_error": ""}
        try:
            row.update(fit_coverage(passes, boots=boots).row())
        except ValueError as err:
            row["fit_error"] = str(err)
        row.update(plateau(majs, tolerance=tolerance, boots=boots).row())
        row["maj_at_1"] = float(majs[:, 0].mean())
        out.append(row)
    return pd.DataFrame(out)


def budget_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Accuracy (mean@n) against mean thinking tokens per answer, per (run, step, setting), for the checkpoints
    sampled under at least one thinking budget: every forced setting plus the unforced one with the most
    samples (the free-thinking point). Samples of tasks that do not think are left out."""
    think = samples[samples["thinking_tokens"].notna()]
    forced = think["budget_min"].notna()
    swept = think.loc[forced, ["run", "step"]].drop_duplicates()
    think = think.merge(swept, on=["run", "step"])
    free = think[think["budget_min"].isna()]
    if not free.empty:
        best = free.groupby(["run", "step", "setting"]).size().rename("rows").reset_index()
        best = best.sort_values("rows").groupby(["run", "step"]).tail(1)
        think = pd.concat([think[think["budget_min"].notna()], free.merge(best[["run", "step", "setting"]])])
    if think.empty:
        return pd.DataFrame(columns=KEYS + ["budget_min", "budget_max", "accuracy", "accuracy_se", "thinking_tokens",
                                           "completion_tokens", "forced_tokens", "train_flops"])
    grouped = think.groupby(KEYS, sort=True)
    table = grouped.agg(budget_min=("budget_min", "first"), budget_max=("budget_max", "first"),
                        accuracy=("correct", "mean"), thinking_tokens=("thinking_tokens", "mean"),
                        completion_tokens=("completion_tokens", "mean"), forced_tokens=("forced_tokens", "mean"),
                        train_flops=("train_flops", "first")).reset_index()
    # Standard error over problems (samples of one problem are not independent draws of the accuracy).
    per_problem = think.groupby(KEYS + ["prompt_id"])["correct"].mean().groupby(level=KEYS)
    table["accuracy_se"] = (per_problem.std(ddof=1) / np.sqrt(per_problem.size())).to_numpy()
    return table.sort_values(["run", "step", "thinking_tokens"]).reset_index(drop=True)
