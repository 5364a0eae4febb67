"""Training compute against inference compute (no torch).

Every checkpoint of a run (training FLOPs) sampled k times per problem (inference FLOPs per problem) has
an accuracy: pass@k with a verifier, maj@k without one. For a target accuracy the iso-accuracy frontier
lists, per checkpoint, the fewest samples that reach it and keeps the Pareto-optimal pairs (less
training needs more sampling); serving Q problems costs training + Q x inference, so the cheapest
combination shifts towards training as Q grows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = {"pass_at_k": "pass@k (verifier)", "maj_at_k": "maj@k (majority vote)"}


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")


def frontier(curves: pd.DataFrame, target: float, metric: str = "pass_at_k") -> pd.DataFrame:
    """Per checkpoint the smallest k with metric >= target; in order of training FLOPs, a checkpoint joins the
    frontier only when it needs fewer samples than every cheaper-to-train one (the Pareto-optimal pairs; the
    few-percent differences in inference FLOPs at equal k come from completion lengths and are not counted as
    a gain). Empty when nothing reaches the target."""
    _check(metric)
    hit = curves[curves[metric] >= target].sort_values("k").groupby(["run", "setting", "step"], sort=False).head(1)
    hit = hit.sort_values(["train_flops", "inference_flops"])
    keep, best = [], np.inf
    for _, row in hit.iterrows():
        if row["k"] < best:
            keep.append(row)
            best = row["k"]
    cols = ["run", "setting", "step", "train_flops", "k", "inference_flops", metric]
    return pd.DataFrame(keep)[cols].assign(target=target, metric=metric).reset_index(drop=True) if keep else \
        pd.DataFrame(columns=cols + ["target", "metric"])


def cheapest(curves: pd.DataFrame, target: float, problems: list[float], metric: str = "pass_at_k") -> pd.DataFrame:
    """For each number of problems served, the (checkpoint, k) reaching the target at the least total compute."""
    _check(metric)
    ok = curves[curves[metric] >= target].reset_index(drop=True)
    rows = []
    for q in problems:
        if ok.empty:
            rows.append({"problems_served": q, "target": target, "metric": metric, "reachable": False})
            continue
        total = ok["train_flops"].fillna(0.0) + q * ok["inference_flops"]
        best = ok.loc[total.idxmin()]
        rows.append({"problems_served": q, "target": target, "metric": metric, "reachable": True,
                     "step": int(best["step"]), "train_flops": best["train_flops"], "k": int(best["k"]),
                     "inference_flops": best["inference_flops"], "accuracy": best[metric],
                     "total_flops": float(total.min()), "training_share": float(best["train_flops"] / total.min())})
    return pd.DataFrame(rows)


def surface(curves: pd.DataFrame, metric: str = "pass_at_k") -> pd.DataFrame:
    """The accuracy surface: one row per checkpoint (training FLOPs), one column per k."""
    _check(metric)
    return curves.pivot_table(index=["step", "train_flops"], columns="k", values=metric).sort_index()
