"""Bootstrap over whole runs (seeds).

Successive evaluations of one run share its training noise, so the points are autocorrelated and
the profile intervals (which treat points as independent) describe measurement noise only. The
run-level bootstrap resamples seeds with replacement and refits, so it also carries the
seed-to-seed variation that ScaleRL estimated from three seeds (A within +-0.015).

A resample is the original points with integer multiplicities, so the coarse grid's logistic
shapes are computed once and each refit is a few matrix-vector products plus a small zoom.
"""

from __future__ import annotations

import numpy as np

from scaling.fit import sigmoid

NAMES = ("A", "B", "C_mid", "R0")


def bootstrap_runs(x, y, w, run, r0: float | None, n_boot: int = 200, seed: int = 0,
                   level: float = 0.95) -> dict | None:
    """Percentile intervals of A, B, C_mid, R0 over run resamples; None with fewer than 2 runs."""
    runs, idx = np.unique(run, return_inverse=True)
    if len(runs) < 2 or n_boot <= 0:
        return None
    lb, lc, db, dc = sigmoid.coarse_cells(x)
    s = sigmoid.shape(x, np.exp(lb), lc)
    s2 = s * s
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(NAMES)))
    for b in range(n_boot):
        mult = np.bincount(rng.integers(0, len(runs), len(runs)), minlength=len(runs))[idx]
        wb = w * mult
        keep = wb > 0
        q = sigmoid.solve(sigmoid.stats(s, y, wb, s2), r0)[2]
        i = int(np.argmin(q))
        best = sigmoid.zoom_best(x[keep], y[keep], wb[keep], r0, lb[i], lc[i], db, dc, zoom=9)
        draws[b] = [best[n] for n in NAMES]
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(draws, [tail, 100 - tail], axis=0)
    out = {n: [float(lo[j]), float(hi[j])] for j, n in enumerate(NAMES)}
    out.update(n_runs=int(len(runs)), n_boot=int(n_boot))
    return out
