"""Profile-likelihood intervals and the prediction band, read off the grid.

The profile-likelihood interval of any function g(theta) at level 1 - alpha is the range of g over
the likelihood set {theta : SSR(theta) <= SSR_min + delta}, with delta the chi-square(1) quantile
times the noise scale (known noise) or the F(1, dof) quantile times the estimated scale. In each
grid cell (B, C_mid) the set is an ellipse in (R0, A) cut by the constraint triangle
0 <= R0 <= A <= 1, and a linear function's range over it has a closed form: the ellipse's own
extremes if they are feasible, else the ends of the ellipse's chords along the triangle's edges.
A and R(C) at any C are linear in (R0, A), so one pass over the cells gives their intervals. B and
C_mid are grid axes: their intervals are where the profile (min over the other axis) crosses.

Intervals that reach a constraint (A = 1) or the edge of the search range are open there: that is
what the data say, and the identifiability flag reports it in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from scaling.fit import sigmoid
from scaling.fit.sigmoid import Stats

FINE = 48  # cells per axis of the grid that resolves the likelihood set
_EDGES = (((0.0, 0.0), (0.0, 1.0)), ((0.0, 1.0), (1.0, 0.0)), ((0.0, 0.0), (1.0, 1.0)))  # (P, D) of R0=0, A=1, R0=A


def threshold_delta(level: float, scale: float, dof: int | None) -> float:
    """SSR rise that bounds the set: chi2(1) for a known noise level, F(1, dof) for an estimated one."""
    q = sps.chi2.ppf(level, 1) if dof is None else sps.f.ppf(level, 1, max(dof, 1))
    return float(q * scale)


@dataclass
class LikelihoodSet:
    """Grid cells whose constrained SSR is within the threshold, with their linear statistics."""

    logb: np.ndarray
    logc: np.ndarray
    st: Stats
    r0: float | None
    thr: float
    intervals: dict  # "B", "C_mid" -> [lo, hi] (inf / 0 where open)
    resolved: bool = True  # False: no grid cell but the optimum is in the set (set thinner than the grid)

    def linear_range(self, c_r: np.ndarray, c_a: np.ndarray) -> tuple[float | np.ndarray, ...]:
        """Range of c_r * R0 + c_a * A over the set; c_* are (cells,) or (cells, K)."""
        lo, hi = (_range_fixed if self.r0 is not None else _range_free)(self, c_r, c_a)
        return np.min(lo, axis=0), np.max(hi, axis=0)

    def band(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise profile interval for the mean pass rate R(C)."""
        if not self.resolved:
            c = np.atleast_1d(C)
            return np.zeros(c.shape), np.ones(c.shape)
        s = sigmoid.shape(np.atleast_1d(C), np.exp(self.logb), self.logc)
        return self.linear_range(1.0 - s, s)


def _col(a) -> np.ndarray:
    a = np.asarray(a, float)
    return a[:, None] if a.ndim == 1 else a


def _range_fixed(ls: LikelihoodSet, c_r, c_a):
    st, r0 = ls.st, ls.r0
    a2, a1 = st.vv, -2 * (st.yv - r0 * st.uv)
    a0 = st.yy - 2 * r0 * st.yu + r0 * r0 * st.uu - ls.thr
    disc = np.sqrt(np.maximum(a1 * a1 - 4 * a2 * a0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.clip((-a1 - disc) / (2 * a2), r0, 1.0)
        hi = np.clip((-a1 + disc) / (2 * a2), r0, 1.0)
    ok = (a1 * a1 - 4 * a2 * a0 >= 0) & (a2 > 0) & (lo <= hi)
    c_r, c_a = np.broadcast_arrays(_col(c_r), _col(c_a))
    v1, v2 = c_r * r0 + c_a * _col(lo), c_r * r0 + c_a * _col(hi)
    okc = _col(ok)
    return np.where(okc, np.minimum(v1, v2), np.inf), np.where(okc, np.maximum(v1, v2), -np.inf)


def _edge_points(st: Stats, thr: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Ends of the chord of each triangle edge inside the ellipse: (R0, A, valid) per end."""
    pts = []
    for (pr, pa), (dr, da) in _EDGES:
        a = dr * dr * st.uu + 2 * dr * da * st.uv + da * da * st.vv
        b = -2 * (dr * st.yu + da * st.yv) + 2 * (pr * dr * st.uu + (pr * da + pa * dr) * st.uv + pa * da * st.vv)
        c = st.q(np.full_like(a, pr), np.full_like(a, pa)) - thr
        disc = b * b - 4 * a * c
        root = np.sqrt(np.maximum(disc, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = np.clip((-b - root) / (2 * a), 0, 1), np.clip((-b + root) / (2 * a), 0, 1)
        ok = (a > 0) & (disc >= 0) & (t1 <= t2)
        pts += [(pr + t * dr, pa + t * da, ok) for t in (t1, t2)]
    return pts


def _range_free(ls: LikelihoodSet, c_r, c_a):
    st, thr = ls.st, ls.thr
    c_r, c_a = np.broadcast_arrays(_col(c_r), _col(c_a))
    lo, hi = np.full(c_r.shape, np.inf), np.full(c_r.shape, -np.inf)
    for r, a, ok in _edge_points(st, thr):
        v = np.where(_col(ok), c_r * _col(r) + c_a * _col(a), np.nan)
        lo, hi = np.fmin(lo, v), np.fmax(hi, v)
    # Interior extremes of the ellipse: beta_hat +- sqrt(rad) H^-1 c / sqrt(c' H^-1 c).
    cs = Stats(*(_col(getattr(st, f)) for f in ("uu", "uv", "vv", "yu", "yv")), yy=st.yy)
    uu, uv, vv = cs.uu, cs.uv, cs.vv
    det = uu * vv - uv * uv
    good = det > 1e-12 * uu * vv
    det = np.where(good, det, 1.0)
    rh, ah = (vv * cs.yu - uv * cs.yv) / det, (uu * cs.yv - uv * cs.yu) / det
    rad = thr - cs.q(rh, ah)
    hr, ha = (vv * c_r - uv * c_a) / det, (uu * c_a - uv * c_r) / det  # H^-1 c
    norm = np.sqrt(np.maximum(c_r * hr + c_a * ha, 1e-300))
    for sign in (-1.0, 1.0):
        step = sign * np.sqrt(np.maximum(rad, 0.0)) / norm
        r, a = rh + step * hr, ah + step * ha
        ok = good & (rad >= 0) & (r >= -1e-12) & (r <= a + 1e-12) & (a <= 1 + 1e-12)
        v = np.where(ok, c_r * r + c_a * a, np.nan)
        lo, hi = np.fmin(lo, v), np.fmax(hi, v)
    return lo, hi


def _crossing(axis: np.ndarray, prof: np.ndarray, thr: float, open_lo: bool, open_hi: bool) -> list[float]:
    """Ends of {axis : prof <= thr}, linearly interpolated between grid points; +-inf when open."""
    inside = np.flatnonzero(prof <= thr)
    if inside.size == 0:  # the set is thinner than the grid: only the optimum itself is in it
        return [np.nan, np.nan]
    i, j = inside[0], inside[-1]
    lo = -np.inf if (i == 0 and open_lo) else (
        axis[i] if i == 0 else axis[i - 1] + (axis[i] - axis[i - 1]) * (prof[i - 1] - thr) / (prof[i - 1] - prof[i]))
    hi = np.inf if (j == len(axis) - 1 and open_hi) else (
        axis[j] if j == len(axis) - 1 else axis[j] + (axis[j + 1] - axis[j]) * (thr - prof[j]) / (prof[j + 1] - prof[j]))
    return [float(lo), float(hi)]


def likelihood_set(x, y, w, r0: float | None, best: dict, delta: float) -> LikelihoodSet:
    """Resolve the set on a fine grid spanning the coarse cells near it (plus the optimum itself)."""
    thr = best["ssr"] + delta
    b_axis, c_axis = sigmoid.search_axes(x)
    lb_axis = np.log(b_axis)
    B, L = sigmoid.mesh(lb_axis, c_axis)
    q = sigmoid.grid_scores(x, y, w, np.exp(B), L, r0)[2].reshape(len(lb_axis), len(c_axis))
    near = np.argwhere(q <= thr + delta)
    bi = [int(np.searchsorted(lb_axis, np.log(best["B"]))), int(np.searchsorted(c_axis, np.log(best["C_mid"])))]
    near = np.vstack([near, np.clip([bi, [bi[0] - 1, bi[1] - 1]], 0, None)]) if near.size else np.array([bi, [bi[0] - 1, bi[1] - 1]])
    i0, j0 = np.clip(near.min(0) - 1, 0, None)
    i1, j1 = np.minimum(near.max(0) + 1, [len(lb_axis) - 1, len(c_axis) - 1])
    fb, fc = np.linspace(lb_axis[i0], lb_axis[i1], FINE), np.linspace(c_axis[j0], c_axis[j1], FINE)
    B2, L2 = sigmoid.mesh(fb, fc)
    B2, L2 = np.append(B2, np.log(best["B"])), np.append(L2, np.log(best["C_mid"]))
    st = sigmoid.stats(sigmoid.shape(x, np.exp(B2), L2), y, w)
    q2 = sigmoid.solve(st, r0)[2]
    q2[-1] = min(q2[-1], best["ssr"])
    grid_q = q2[:-1].reshape(FINE, FINE)
    ib = _crossing(fb, grid_q.min(1), thr, i0 == 0, i1 == len(lb_axis) - 1)
    ic = _crossing(fc, grid_q.min(0), thr, j0 == 0, j1 == len(c_axis) - 1)
    keep = q2 <= thr
    sub = Stats(*(getattr(st, f)[keep] for f in ("uu", "uv", "vv", "yu", "yv")), yy=st.yy)
    intervals = {"B": [float(np.exp(v)) for v in ib], "C_mid": [float(np.exp(v)) for v in ic]}
    for name, val in (("B", best["B"]), ("C_mid", best["C_mid"])):
        intervals[name] = [float(np.fmin(intervals[name][0], val)), float(np.fmax(intervals[name][1], val))]
    return LikelihoodSet(B2[keep], L2[keep], sub, r0, thr, intervals, resolved=bool(keep[:-1].any()))


def param_intervals(ls: LikelihoodSet, best: dict) -> dict[str, list[float]]:
    """Profile intervals for A, B, C_mid (and R0 when fitted), each containing the estimate.

    An unresolved set gets the whole feasible range: the grid cannot say how far it extends.
    """
    if not ls.resolved:
        low = 0.0 if ls.r0 is None else ls.r0
        return {"A": [low, 1.0], "B": [0.0, np.inf], "C_mid": [0.0, np.inf],
                "R0": [0.0, 1.0] if ls.r0 is None else [ls.r0, ls.r0]}
    n = len(ls.logb)
    out = dict(ls.intervals)
    lo, hi = (v[0] for v in ls.linear_range(np.zeros(n), np.ones(n)))
    out["A"] = [float(min(lo, best["A"])), float(max(hi, best["A"]))]
    if ls.r0 is None:
        lo, hi = (v[0] for v in ls.linear_range(np.ones(n), np.zeros(n)))
        out["R0"] = [float(min(lo, best["R0"])), float(max(hi, best["R0"]))]
    else:
        out["R0"] = [ls.r0, ls.r0]
    return out
