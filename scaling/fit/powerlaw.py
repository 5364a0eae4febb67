"""The power-law alternative R = A - D C^-B, scored against the sigmoid by AIC and BIC.

ScaleRL found it unstable (A = 1.0 on 1.5k-50k GPU-h, 0.74 on 5k-50k); we report it beside the
sigmoid so a reader can see whether the data prefer a saturating curve. For fixed B the model is
linear in (A, D), so the same grid-plus-closed-form search applies: a fine grid over B with
0 <= A <= 1 and D >= 0 solved exactly, then a bounded scalar refinement of B.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

B_GRID = np.geomspace(1e-3, 5.0, 200)


def _solve(x, y, w, b: float) -> tuple[float, float, float]:
    """Constrained (A, D, SSR) for one exponent: candidates interior, D = 0, A = 1, A = 0."""
    g = x ** -b
    sw, sg, sgg, sy, sgy = w.sum(), w @ g, w @ (g * g), w @ y, w @ (g * y)
    yy = w @ (y * y)

    def ssr(a, d):
        return yy - 2 * a * sy + 2 * d * sgy + a * a * sw - 2 * a * d * sg + d * d * sgg

    det = sw * sgg - sg * sg
    cands = [(float(np.clip(sy / sw, 0, 1)), 0.0)]
    if det > 0:
        a, d = (sgg * sy - sg * sgy) / det, (sg * sy - sw * sgy) / det
        if 0 <= a <= 1 and d >= 0:
            cands.append((a, d))
    for a in (0.0, 1.0):
        cands.append((a, max(0.0, (a * sg - sgy) / sgg)))
    a, d = min(cands, key=lambda c: ssr(*c))
    return a, d, float(ssr(a, d))


def fit_power_law(x, y, w) -> dict:
    """Global least-squares power law on positive compute."""
    keep = x > 0
    x, y, w = x[keep], y[keep], w[keep]
    q = [_solve(x, y, w, b)[2] for b in B_GRID]
    i = int(np.argmin(q))
    lo, hi = B_GRID[max(i - 1, 0)], B_GRID[min(i + 1, len(B_GRID) - 1)]
    res = minimize_scalar(lambda lb: _solve(x, y, w, np.exp(lb))[2], bounds=(np.log(lo), np.log(hi)),
                          method="bounded")
    b = float(np.exp(res.x)) if res.fun <= q[i] else float(B_GRID[i])
    a, d, ssr = _solve(x, y, w, b)
    return {"A": float(a), "B": b, "D": float(d), "ssr": ssr, "n": int(keep.sum())}


def information(ssr: float, n: int, k: int, scale: float | None) -> dict:
    """AIC and BIC. Known noise: chi-square + penalty; unknown: n log(SSR/n) + penalty."""
    fit = ssr / scale if scale is not None else n * np.log(max(ssr, 1e-300) / n)
    return {"aic": float(fit + 2 * k), "bic": float(fit + k * np.log(n))}
