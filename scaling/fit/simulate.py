"""Simulated studies for checking the fitter's intervals against a known truth.

Each run follows the ScaleRL sigmoid with its own asymptote A + u_seed (u ~ N(0, seed_sd): the
seed-to-seed spread ScaleRL saw, +-0.015 over three seeds), plus an AR(1) wander of the policy
around its trend (sd `ar_sd`, lag-one correlation `rho` between successive evaluations: real runs
oscillate and come back) plus independent measurement noise (sd `noise_sd`, the binomial error of
one evaluation). Evaluations are evenly spaced in compute, as a study schedules them in steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.fit.sigmoid import sigmoid_curve

TRUTH = {"A": 0.6, "B": 1.5, "C_mid": 1000.0, "R0": 0.1}  # the window (C <= 4000) ends at 4x C_mid


def ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    """Stationary AR(1) series with marginal sd `sd`."""
    e = np.empty(n)
    e[0] = rng.normal(0, sd)
    innov = sd * np.sqrt(1 - rho * rho)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + rng.normal(0, innov)
    return e


def simulate_runs(rng: np.random.Generator, n_runs: int, truth: dict = TRUTH, c_max: float = 4000.0,
                  n_evals: int = 41, rho: float = 0.5, ar_sd: float = 0.015, noise_sd: float = 0.01,
                  seed_sd: float = 0.015) -> pd.DataFrame:
    """A table like store.load_evals gives: run_id, flops, pass_rate, sigma (the measurement sd)."""
    c = np.linspace(0, c_max, n_evals)
    frames = []
    for r in range(n_runs):
        t = dict(truth, A=truth["A"] + (rng.normal(0, seed_sd) if seed_sd > 0 else 0.0))
        wander = ar1(rng, n_evals, rho, ar_sd)
        wander[0] = 0.0  # the first evaluation is the base model, before any training noise
        y = sigmoid_curve(c, **t) + wander + rng.normal(0, noise_sd, n_evals)
        frames.append(pd.DataFrame({"run_id": f"seed{r}", "flops": c, "pass_rate": np.clip(y, 0, 1),
                                    "sigma": noise_sd}))
    return pd.concat(frames, ignore_index=True)


def coverage(n_sims: int, n_runs: int, rho: float, horizons=(2, 4), seed: int = 0, **kw) -> dict:
    """Share of simulated studies whose 95% intervals cover the true A and the true mean R at each
    horizon (a multiple of the fit window's end: every simulated point is fitted, the rest predicted).

    Keys "A", "R@2x", ...: over all studies; the same with "|id" appended: over the studies whose A was
    identified (NaN if none); "unidentified": the share flagged; "factor": the median widening factor."""
    from scaling.fit import fit_curve

    rng = np.random.default_rng(seed)
    truth = kw.pop("truth", TRUTH)
    c_max = kw.get("c_max", 4000.0)
    keys = ["A", *(f"R@{h}x" for h in horizons)]
    hit = np.zeros((n_sims, len(keys)), bool)
    ident = np.zeros(n_sims, bool)
    factor = np.zeros(n_sims)
    for i in range(n_sims):
        fit = fit_curve(simulate_runs(rng, n_runs, truth=truth, rho=rho, **kw), sigma="sigma")
        lo, hi = fit.intervals["A"]
        hit[i, 0] = lo <= truth["A"] <= hi
        for j, h in enumerate(horizons, 1):
            p = fit.predict(h * c_max)
            hit[i, j] = p.lo <= float(sigmoid_curve(h * c_max, **truth)[0]) <= p.hi
        ident[i] = fit.identified
        factor[i] = fit.runs["long_run_factor"]
    out = {k: float(hit[:, j].mean()) for j, k in enumerate(keys)}
    out.update({f"{k}|id": float(hit[ident, j].mean()) if ident.any() else float("nan") for j, k in enumerate(keys)})
    return {**out, "unidentified": float(1 - ident.mean()), "factor": float(np.median(factor))}
