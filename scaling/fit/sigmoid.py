"""The ScaleRL sigmoid and its global least-squares fit.

    R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B),   0 <= R0 <= A <= 1,  B > 0,  C_mid > 0.

For fixed (B, C_mid) the model is linear in (R0, A): R = R0 (1 - s) + A s with s the logistic
shape. So a grid over (B, log C_mid), with (R0, A) solved in closed form under the constraints in
every cell, finds the global optimum without any starting point; lmfit then polishes the best cell.
Multi-start local fitters (and ScaleRL's grid over A with curve_fit for B) can stop in a local
minimum or at a bound; this cannot, up to the grid spacing that the local refinement removes.
"""

from __future__ import annotations

from dataclasses import dataclass

import lmfit
import numpy as np
from scipy.special import expit

B_RANGE = (0.1, 20.0)
CMID_BELOW, CMID_ABOVE = 100.0, 1e3  # C_mid searched from min(C)/100 to max(C)*1000
MAX_CELLS_X_POINTS = 2_000_000  # chunk the grid so a big pooled curve stays in cache-sized blocks


def shape(x: np.ndarray, B: np.ndarray, logc: np.ndarray) -> np.ndarray:
    """s = 1 / (1 + (C_mid/C)^B) for every cell (rows) and point (columns); s(0) = 0."""
    x = np.asarray(x, float)
    lx = np.log(np.where(x > 0, x, 1.0))
    z = np.asarray(B, float)[:, None] * (np.asarray(logc, float)[:, None] - lx[None, :])
    s = expit(-z)
    s[:, x <= 0] = 0.0
    return s


def sigmoid_curve(C: np.ndarray, A: float, B: float, C_mid: float, R0: float) -> np.ndarray:
    s = shape(np.atleast_1d(C), np.array([B]), np.array([np.log(C_mid)]))[0]
    return R0 + (A - R0) * s


@dataclass
class Stats:
    """Weighted sufficient statistics of the linear sub-problem, one entry per grid cell."""

    uu: np.ndarray
    uv: np.ndarray
    vv: np.ndarray
    yu: np.ndarray
    yv: np.ndarray
    yy: float

    def q(self, r0: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Weighted sum of squared residuals at (R0, A)."""
        return (self.yy - 2 * (r0 * self.yu + a * self.yv) + r0 * r0 * self.uu
                + 2 * r0 * a * self.uv + a * a * self.vv)


def stats(s: np.ndarray, y: np.ndarray, w: np.ndarray, s2: np.ndarray | None = None) -> Stats:
    """Sums over points of w * {u u, u v, v v, y u, y v} with v = s, u = 1 - s (u = R0's regressor)."""
    s2 = s * s if s2 is None else s2
    wy = w * y
    sw, vv, yv = s @ w, s2 @ w, s @ wy
    return Stats(uu=w.sum() - 2 * sw + vv, uv=sw - vv, vv=vv, yu=wy.sum() - yv, yv=yv,
                 yy=float(wy @ y))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def solve(st: Stats, r0: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constrained least-squares (R0, A) and SSR in every cell.

    With R0 free the feasible set is the triangle 0 <= R0 <= A <= 1; a convex quadratic's minimum
    over it is the interior optimum if feasible, else the best of the three edge optima.
    """
    if r0 is not None:
        a = np.clip(_ratio(st.yv - r0 * st.uv, st.vv), r0, 1.0)
        r = np.full_like(a, r0)
        return r, a, st.q(r, a)
    det = st.uu * st.vv - st.uv ** 2
    ok = det > 1e-12 * (st.uu * st.vv + 1e-300)
    r_in = _ratio(st.vv * st.yu - st.uv * st.yv, np.where(ok, det, 0.0))
    a_in = _ratio(st.uu * st.yv - st.uv * st.yu, np.where(ok, det, 0.0))
    tot = st.uu + 2 * st.uv + st.vv
    cands = [
        (r_in, a_in, ok & (r_in >= 0) & (r_in <= a_in) & (a_in <= 1)),
        (np.zeros_like(det), np.clip(_ratio(st.yv, st.vv), 0, 1), None),             # R0 = 0
        (np.clip(_ratio(st.yu - st.uv, st.uu), 0, 1), np.ones_like(det), None),       # A = 1
        (np.clip(_ratio(st.yu + st.yv, tot), 0, 1),) * 2 + (None,),                   # R0 = A (flat)
    ]
    best_r, best_a, best_q = None, None, None
    for r, a, valid in cands:
        q = st.q(r, a) if valid is None else np.where(valid, st.q(r, a), np.inf)
        if best_q is None:
            best_r, best_a, best_q = r, a, q
        else:
            take = q < best_q
            best_r, best_a, best_q = np.where(take, r, best_r), np.where(take, a, best_a), np.minimum(q, best_q)
    return best_r, best_a, best_q


def search_axes(x: np.ndarray, n_b: int = 36, n_c: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """The coarse grid: log-spaced B in B_RANGE, log C_mid around and far beyond the data."""
    pos = x[x > 0]
    logc = np.linspace(np.log(pos.min() / CMID_BELOW), np.log(pos.max() * CMID_ABOVE), n_c)
    return np.geomspace(*B_RANGE, n_b), logc


def grid_scores(x, y, w, B: np.ndarray, logc: np.ndarray, r0: float | None) -> tuple[np.ndarray, ...]:
    """(R0, A, SSR) for each cell (B[i], logc[i]), in chunks to bound memory."""
    step = max(1, MAX_CELLS_X_POINTS // max(1, len(x)))
    out = [solve(stats(shape(x, B[i:i + step], logc[i:i + step]), y, w), r0)
           for i in range(0, len(B), step)]
    return tuple(np.concatenate(parts) for parts in zip(*out))


def mesh(b_axis: np.ndarray, c_axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bb, cc = np.meshgrid(b_axis, c_axis, indexing="ij")
    return bb.ravel(), cc.ravel()


def coarse_cells(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Flattened coarse grid (log B, log C_mid) and its two spacings."""
    b_axis, c_axis = search_axes(x)
    lb, lc = mesh(np.log(b_axis), c_axis)
    return lb, lc, float(np.diff(np.log(b_axis))[0]), float(np.diff(c_axis)[0])


def grid_search(x: np.ndarray, cells, zoom: int = 15) -> dict:
    """The one grid-and-zoom search: best coarse cell, then best cell of a finer grid spanning one
    coarse cell either side of it.

    cells(log_B, log_C_mid) -> dict of per-cell arrays, one of them "ssr" (the others, such as the
    closed-form R0 and A, are returned for the winning cell). Used by the free fit, by fits with a
    fixed A (`compare.shared_a`) and by every per-run fit.
    """
    lb, lc, db, dc = coarse_cells(x)
    i = int(np.argmin(cells(lb, lc)["ssr"]))
    B2, L2 = mesh(np.linspace(lb[i] - db, lb[i] + db, zoom), np.linspace(lc[i] - dc, lc[i] + dc, zoom))
    out = cells(B2, L2)
    j = int(np.argmin(out["ssr"]))
    return {"B": float(np.exp(B2[j])), "C_mid": float(np.exp(L2[j])), **{k: float(v[j]) for k, v in out.items()}}


def grid_best(x, y, w, r0: float | None) -> dict:
    """Global least-squares cell with (R0, A) in closed form."""
    def cells(lb, lc):
        r, a, q = grid_scores(x, y, w, np.exp(lb), lc, r0)
        return {"R0": r, "A": a, "ssr": q}
    return grid_search(x, cells)


def _params(start: dict, r0: float | None, logc_bounds: tuple[float, float]) -> lmfit.Parameters:
    p = lmfit.Parameters()
    p.add("B", value=min(max(start["B"], B_RANGE[0]), B_RANGE[1]), min=B_RANGE[0] / 10, max=B_RANGE[1] * 5)
    p.add("logc", value=float(np.clip(np.log(start["C_mid"]), *logc_bounds)), min=logc_bounds[0], max=logc_bounds[1])
    if r0 is None:
        # A = R0 + frac (1 - R0) keeps 0 <= R0 <= A <= 1 with plain box bounds.
        r = float(np.clip(start["R0"], 0, 1 - 1e-9))
        p.add("R0", value=r, min=0.0, max=1.0)
        p.add("frac", value=float(np.clip((start["A"] - r) / (1 - r), 0, 1)), min=0.0, max=1.0)
        p.add("A", expr="R0 + frac * (1 - R0)")
    else:
        p.add("R0", value=r0, vary=False)
        p.add("A", value=float(np.clip(start["A"], r0, 1)), min=r0, max=1.0)
    return p


def refine(x, y, w, start: dict, r0: float | None, scale_covar: bool) -> dict:
    """Polish a start with lmfit (trust-region least squares, which respects bounds natively).

    scale_covar=False when the noise is known: lmfit's default rescales the covariance by the
    reduced chi-square, which throws away a known noise level.
    """
    sw = np.sqrt(w)
    pos = x[x > 0]
    bounds = (np.log(pos.min() / CMID_BELOW) - 3, np.log(pos.max() * CMID_ABOVE) + 3)

    def residual(p):
        v = p.valuesdict()
        return (y - sigmoid_curve(x, v["A"], v["B"], np.exp(v["logc"]), v["R0"])) * sw

    # lmfit's least_squares always inverts J'J for parameter standard errors (its calc_covar is ignored there), which
    # nothing here reads: intervals are profile likelihood (scaling.fit.intervals). On a flat curve or at a bound J'J
    # is singular, its inverse has negative diagonal entries and lmfit takes their square root ("invalid value
    # encountered in sqrt"). Only that bookkeeping is silenced: a NaN residual still raises (nan_policy="raise").
    with np.errstate(invalid="ignore", divide="ignore"):
        out = lmfit.minimize(residual, _params(start, r0, bounds), method="least_squares",
                             scale_covar=scale_covar)
    v = out.params.valuesdict()
    return {"A": float(v["A"]), "B": float(v["B"]), "C_mid": float(np.exp(v["logc"])),
            "R0": float(v["R0"]), "ssr": float(np.sum(residual(out.params) ** 2))}


def fit_point(x, y, w, r0: float | None, scale_covar: bool = False, start: dict | None = None) -> dict:
    """Global optimum: grid search, lmfit from the best cell (and from `start` if given); lowest SSR wins."""
    best = grid_best(x, y, w, r0)
    tries = [best, refine(x, y, w, best, r0, scale_covar)]
    if start is not None:
        tries.append(refine(x, y, w, {"R0": r0 if r0 is not None else 0.0, **start}, r0, scale_covar))
    return min(tries, key=lambda t: t["ssr"])
