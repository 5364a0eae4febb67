"""Within-run wander: how much a run's slow swings around its trend widen the fitted intervals.

A run's evaluations sit around its trend with two kinds of deviation: the measurement noise of each
evaluation (independent, its variance known from the counts: the fit weights 1/w) and the policy's
own wander, which carries over from one evaluation to the next. The wander is modelled as a
stationary AR(1) in the evaluation index (variance s2, lag-one correlation rho), on top of the
noise: the residual covariance of a run is

    V = m diag(1 / w) + s2 K(rho),   K_ij = rho^|i - j|,

with m = 1 when the noise is known (measured counts, given sigmas, binomial) and estimated when it
is not. The first evaluation (C = 0, the base model) has no wander. A lag-one correlation of the
residuals read as a pure AR(1) mixes the two parts (measurement noise dilutes it: at rho 0.9 with
wander sd 0.015 and noise sd 0.01 it reads 0.62, and (1 + r)/(1 - r) gives 4.3 for a true long-run
factor of 13.5), and residuals of a fitted curve understate it further: the curve absorbs the
slowest part of the wander. So (s2, rho) are estimated by restricted maximum likelihood (REML) on
the residuals, which accounts for the fitted parameters by projecting out the curve's Jacobian
(Patterson and Thompson 1971; Harville 1977), and the widening is the sandwich variance of the
weighted least-squares fit under V, relative to the variance the profile likelihood assumes, for A
and the curve at 2, 4 and 10 times the window's end (the largest of these ratios).

From one run of ~40 evaluations (s2, rho) are poorly determined, so two cautions follow. The
variance it implies is treated as estimated, with Satterthwaite's degrees of freedom from the
likelihood's curvature (at least NU_MIN), and the threshold's quantile follows them. And since a
slow wander that the fitted curve absorbs costs the likelihood almost nothing, pure noise can put
the optimum at a large, nearly constant wander: the widening is weighted against "no wander" by the
two models' Akaike weights. What no estimate from one run can do is see a swing the curve has
absorbed completely: on simulated runs (benchmarks/README.md, bench_coverage.py) a quarter of the runs
at rho 0.9 (a tenth at 0.8) leave residuals that favour no wander (weight < 0.5), and only about half
of those cover the truth, while the runs whose wander shows cover 93-94%. Several seeds see the
swing; pooled fits use them.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize
from scipy import stats as sps

RHO_MAX = 0.98  # a wander that never decorrelates within a run is a different curve, not noise
HORIZONS = (2.0, 4.0, 10.0)
NU_MIN = 3.0  # the fewest degrees of freedom a variance estimate is given


def jacobian(x: np.ndarray, A: float, B: float, C_mid: float, R0: float, free_r0: bool = True) -> np.ndarray:
    """d R / d (A, log B, log C_mid[, R0]) at each x (R(0) = R0: only the R0 column is non-zero there)."""
    x = np.asarray(x, float)
    pos = x > 0
    z = np.where(pos, B * (np.log(np.where(pos, x, 1.0)) - np.log(C_mid)), 0.0)
    s = np.where(pos, 1.0 / (1.0 + np.exp(-z)), 0.0)
    ds = (A - R0) * s * (1 - s)
    cols = [s, ds * z, -ds * B] + ([1.0 - s] if free_r0 else [])
    return np.column_stack(cols)


def _lags(run: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|i - j| between the positive-compute points of one run (their order within the run), and where it applies."""
    idx = np.zeros(len(run))
    for r in np.unique(run):
        m = (run == r) & pos
        idx[m] = np.arange(m.sum())
    same = (run[:, None] == run[None, :]) & pos[:, None] & pos[None, :]
    return np.abs(idx[:, None] - idx[None, :]), same


def _restricted(e: np.ndarray, X: np.ndarray, V: np.ndarray, known: bool) -> float:
    """-2 log restricted likelihood of standardised residuals e with covariance m V (design X); m = 1 when the
    noise is known, else profiled out."""
    n, p = X.shape
    try:
        c = linalg.cho_factor(V, lower=True, check_finite=False)
        vx = linalg.cho_solve(c, X, check_finite=False)
        ve = linalg.cho_solve(c, e, check_finite=False)
        cx = linalg.cho_factor(X.T @ vx, lower=True, check_finite=False)
    except (linalg.LinAlgError, ValueError):
        return 1e12
    xve = X.T @ ve
    quad = float(e @ ve - xve @ linalg.cho_solve(cx, xve, check_finite=False))
    logdet = 2 * np.sum(np.log(np.diag(c[0]))) + 2 * np.sum(np.log(np.diag(cx[0])))
    if known:
        return float(logdet + quad)
    return float(logdet + (n - p) * np.log(max(quad / max(n - p, 1), 1e-12)))


def _noise_multiplier(e, X, V) -> float:
    """The profiled m of an unknown noise level: e' P e / (n - p) under V."""
    vi = np.linalg.inv(V)
    xv = X.T @ vi
    P = vi - xv.T @ np.linalg.solve(xv @ X, xv)
    return float(max(e @ P @ e / max(len(e) - X.shape[1], 1), 1e-12))


def _cov(theta: np.ndarray, lag: np.ndarray, same: np.ndarray) -> np.ndarray:
    """V (noise multiplier 1) in standardised units for theta = (atanh rho, log s2)."""
    return np.eye(len(lag)) + np.exp(theta[1]) * np.where(same, np.tanh(theta[0]) ** lag, 0.0)


BOUNDS = [(np.arctanh(-0.5), np.arctanh(RHO_MAX)), (np.log(1e-3), np.log(1e3))]


def _reml(e, X, lag, same, known) -> tuple[np.ndarray, np.ndarray, float]:
    """theta = (atanh rho, log s2) maximising the restricted likelihood, and its covariance (twice the
    inverse Hessian of -2 log L, curvature floored where the likelihood is flat), and how much better it fits
    than no wander (the drop in -2 log L)."""
    lo, hi = np.array([b[0] for b in BOUNDS]), np.array([b[1] for b in BOUNDS])
    f = lambda t: _restricted(e, X, _cov(np.clip(t, lo, hi), lag, same), known)  # noqa: E731
    # A coarse grid first (the restricted likelihood can have two modes: a fast wander and a slow one the curve
    # half absorbs), then Nelder-Mead from its best cell; no gradient-based optimiser, whose numerical gradients
    # at the bounds misbehave on so flat a surface.
    grid = [np.array([a, b]) for a in np.linspace(lo[0], hi[0], 10) for b in np.linspace(lo[1], hi[1], 10)]
    start = min(grid, key=f)
    res = optimize.minimize(f, start, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-4})
    x = np.clip(res.x, lo, hi)
    gain = f(np.array([0.0, lo[1]])) - f(x)  # against (almost) no wander
    return x, 2 * _inverse_hessian(f, x), float(gain)


def _inverse_hessian(f, x: np.ndarray, h: float = 0.05, floor: float = 0.1) -> np.ndarray:
    """Inverse of the finite-difference Hessian (moved inside the bounds), eigenvalues floored at `floor`: a flat
    direction (no wander at all, or one the curve absorbs) gets a large variance, not an infinite one."""
    k = len(x)
    x = np.array([min(max(v, lo + h), hi - h) for v, (lo, hi) in zip(x, BOUNDS)])
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
    vals, vecs = np.linalg.eigh(H)
    return (vecs / np.maximum(vals, floor)) @ vecs.T


def widening(x: np.ndarray, resid: np.ndarray, w: np.ndarray, run: np.ndarray, fits: list[tuple[np.ndarray, dict]],
             pooled: dict, free_r0: bool, known: bool, scale: float, level: float, dof: int) -> dict:
    """The variance factor for the profile threshold (>= 1) and the wander model behind it.

    resid: residuals about each run's own curve (or the pooled curve with one run); fits: (mask, params) of the
    curves those residuals are about, whose Jacobians REML projects out; pooled: the pooled fit's parameters, whose
    sandwich variance under the estimated V is compared with scale * (J' W J)^-1, the variance the profile assumes.
    """
    pos = x > 0
    sw = np.sqrt(w)
    e = resid * sw
    cols = []
    for mask, p in fits:
        j = np.zeros((len(x), 3 + free_r0))
        j[mask] = jacobian(x[mask], p["A"], p["B"], p["C_mid"], p["R0"], free_r0)
        cols.append(j)
    X = np.hstack(cols) * sw[:, None]
    lag, same = _lags(run, pos)
    u, sv, _ = np.linalg.svd(X, full_matrices=False)
    X = u[:, sv > 1e-9 * sv[0]]  # an unidentified shape leaves the Jacobian rank-deficient: project its range
    theta, cov, gain = _reml(e, X, lag, same, known)
    m = 1.0 if known else _noise_multiplier(e, X, _cov(theta, lag, same))
    J = jacobian(x, pooled["A"], pooled["B"], pooled["C_mid"], pooled["R0"], free_r0) * sw[:, None]
    G = _functionals(x, pooled, free_r0)
    log_var = lambda t: np.log(_sandwich(J, _cov(t, lag, same), G))  # noqa: E731
    lv = log_var(theta) + np.log(m)
    steps = np.eye(len(theta)) * 0.01
    grad = np.array([(log_var(theta + d) - log_var(theta - d)) / 0.02 for d in steps]).T
    # Satterthwaite: a variance estimated with relative variance v has ~2 / v degrees of freedom (the noise
    # multiplier's own n - p when it is estimated too); the threshold's quantile follows.
    rel = np.einsum("gi,ij,gj->g", grad, cov, grad) + (0.0 if known else 2.0 / max(dof, 1))
    nu = np.clip(2.0 / np.maximum(rel, 1e-9), NU_MIN, dof)
    q = sps.f.ppf(level, 1, nu) / sps.f.ppf(level, 1, dof)
    ratio = np.exp(lv) / (scale * _sandwich(J, None, G))
    i = int(np.argmax(ratio * q))
    # A slow wander the fitted curve absorbs costs the likelihood almost nothing, so pure noise can put the optimum
    # at a large, nearly constant wander: weigh the two models by their evidence (Akaike weights, 2 parameters).
    weight = 1.0 / (1.0 + np.exp((2 * len(theta) - gain) / 2))
    factor = (1 - weight) + weight * max(1.0, ratio[i] * q[i])
    return {"factor": float(max(1.0, factor)), "rho": float(np.tanh(theta[0])), "weight": float(weight),
            "wander_var": float(np.exp(theta[1]) * m), "dof": float(nu[i]), "variance_ratio": float(ratio[i])}


def _functionals(x, p: dict, free_r0: bool) -> np.ndarray:
    """Gradients of A and of R at HORIZONS times the window's end with respect to the parameters."""
    end = float(x.max())
    rows = [np.eye(3 + free_r0)[0]]
    rows += list(jacobian(np.array([h * end for h in HORIZONS]), p["A"], p["B"], p["C_mid"], p["R0"], free_r0))
    return np.array(rows)


def _sandwich(J: np.ndarray, V: np.ndarray | None, G: np.ndarray) -> np.ndarray:
    """g' (J'J)^-1 J' V J (J'J)^-1 g for each row g of G (V = None: the identity, the variance the profile assumes)."""
    inv = np.linalg.pinv(J.T @ J, rcond=1e-10)
    sand = inv if V is None else inv @ (J.T @ V @ J) @ inv
    return np.maximum(np.einsum("gi,ij,gj->g", G, sand, G), 1e-300)
