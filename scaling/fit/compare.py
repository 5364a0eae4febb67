"""Compare recipes the ScaleRL way: by the asymptote A first, then by the efficiency B.

Two recipes are tied on A when their A intervals overlap or come within `margin` of each other
(ScaleRL used a bare |dA| <= 0.02 from three seeds; with intervals this becomes: the gap between
them is below the margin). Tied recipes are refitted with one shared A, the value that minimises
their summed SSR, and then ranked by B at that A: same ceiling, who gets there faster.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd

from scaling.fit import sigmoid
from scaling.fit.result import FitResult


def _window(fit: FitResult) -> tuple[np.ndarray, ...]:
    m = np.asarray(fit.data["in_window"], bool)
    return tuple(np.asarray(fit.data[k], float)[m] for k in ("x", "y", "w"))


def _fixed_a(fit: FitResult, a: float) -> dict:
    """Best (B, C_mid, R0) with A fixed: grid + zoom, R0 in closed form (0 <= R0 <= A)."""
    x, y, w = _window(fit)
    r0 = fit.settings["r0"]

    def cells(lb, lc):
        st = sigmoid.stats(sigmoid.shape(x, np.exp(lb), lc), y, w)
        r = np.full_like(st.uu, r0) if r0 is not None else np.clip(
            (st.yu - a * st.uv) / np.maximum(st.uu, 1e-300), 0, a)
        return {"R0": r, "ssr": st.q(r, np.full_like(r, a))}

    return {"A": a, **sigmoid.grid_search(x, cells)}


def shared_a(fits: Sequence[FitResult], n: int = 41) -> tuple[float, list[dict]]:
    """The A minimising the tied fits' summed SSR, and each fit's parameters at it."""
    lo = max(max(f.settings["r0"] or 0.0 for f in fits), min(f.intervals["A"][0] for f in fits))
    hi = min(1.0, max(f.intervals["A"][1] for f in fits))
    grid = np.linspace(lo, hi, n)
    tot = [sum(_fixed_a(f, a)["ssr"] for f in fits) for a in grid]
    k = int(np.argmin(tot))
    fine = np.linspace(grid[max(k - 1, 0)], grid[min(k + 1, n - 1)], 9)
    tot2 = [sum(_fixed_a(f, a)["ssr"] for f in fits) for a in fine]
    a = float(fine[int(np.argmin(tot2))])
    return a, [_fixed_a(f, a) for f in fits]


def _tie_groups(order: list[FitResult], margin: float) -> list[int]:
    """Chain fits (sorted by A, descending) whose A intervals are within `margin` of each other."""
    gid, out, low = 0, [0], order[0].intervals["A"][0]
    for f in order[1:]:
        if low - f.intervals["A"][1] >= margin:
            gid += 1
            low = f.intervals["A"][0]
        else:
            low = min(low, f.intervals["A"][0])
        out.append(gid)
    return out


def compare(fits: Sequence[FitResult], margin: float = 0.02) -> pd.DataFrame:
    """Ranking table: A (with interval), tie group, shared-A refit and B there, final rank.

    Only identified asymptotes are ranked. An unidentified A is a lower bound: those recipes follow,
    by their lower bound, with no rank and no tie group (an estimate at the edge of what the data
    allow says nothing about which recipe ends higher).
    """
    known = sorted((f for f in fits if f.identified), key=lambda f: -f.params["A"])
    bounds = sorted((f for f in fits if not f.identified), key=lambda f: -f.intervals["A"][0])
    tie = _tie_groups(known, margin) if known else []
    row = lambda f, g: {"recipe": f.label, "A": f.params["A"], "A_lo": f.intervals["A"][0],  # noqa: E731
                        "A_hi": f.intervals["A"][1], "A_text": f.a_text(), "B": f.params["B"],
                        "C_mid": f.params["C_mid"], "identified": f.identified, "tie_group": g,
                        "shared_A": np.nan, "B_at_shared_A": np.nan}
    rows = [row(f, g) for f, g in zip(known, tie)]
    members = defaultdict(list)
    for i, g in enumerate(tie):
        members[g].append(i)
    for idx in members.values():
        if len(idx) > 1:
            a, refits = shared_a([known[i] for i in idx])
            for i, r in zip(idx, refits):
                rows[i].update(shared_A=a, B_at_shared_A=r["B"])
    df = pd.DataFrame(rows)
    if not df.empty:
        key = df["B_at_shared_A"].fillna(df["B"])
        df = df.assign(_k=key).sort_values(["tie_group", "_k"], ascending=[True, False]).drop(columns="_k")
        df["rank"] = [str(i) for i in range(1, len(df) + 1)]
    tail = pd.DataFrame([{**row(f, np.nan), "rank": "— (A not identified)"} for f in bounds])
    out = pd.concat([d for d in (df, tail) if not d.empty], ignore_index=True) if len(df) + len(tail) else df
    return out.reset_index(drop=True)


def marginal_effects(fits: Sequence[FitResult]) -> pd.DataFrame:
    """For each axis of the grid (group key), mean A and B per level and the level's A minus the mean.

    Averages over the other axes, as a main effect in a factorial design; unidentified fits count
    with their A lower bound and are tallied so the reader can discount them.
    """
    rows = []
    grand = np.mean([f.params["A"] for f in fits]) if fits else np.nan
    axes = sorted({k for f in fits for k in f.group})
    for axis in axes:
        levels = defaultdict(list)
        for f in fits:
            if axis in f.group:
                levels[f.group[axis]].append(f)
        for level, fs in sorted(levels.items(), key=lambda kv: str(kv[0])):
            a = np.array([f.params["A"] if f.identified else f.intervals["A"][0] for f in fs])
            rows.append({"axis": axis, "level": level, "n_fits": len(fs), "mean_A": a.mean(),
                         "effect_A": a.mean() - grand, "mean_B": np.mean([f.params["B"] for f in fs]),
                         "unidentified": sum(not f.identified for f in fs)})
    return pd.DataFrame(rows)
