"""The identifiability flag, and the words that go with it.

When the fit window ends before the midpoint, the data only show the rising half of the sigmoid:
a low asymptote with an early midpoint and a high one with a late midpoint fit equally well. Any
single A is then a guess (the anchors' example: best fit A = 0.19 for a true 0.6, with a Wald
error bar that puts the truth 22 sigma away). We flag the fit when
  * the window ends before the upper end of the C_mid interval (the midpoint may lie beyond the
    data; with a point estimate alone, an early spurious C_mid would hide the problem), or
  * the A interval is wider than `a_width` (default 0.2: ten times ScaleRL's +-0.02 margin, well
    above the ~0.09 a 31-point window past the midpoint gives at 1% noise), or
  * A sits at its upper bound of 1, or its interval reaches 1 (or down to R0): an interval that
    runs into a constraint is open there, whatever its width, or
  * the B or C_mid interval runs off the search range (B unbounded means the data cannot tell a
    step from a sigmoid: noise can fake an early plateau, as in ~1% of the anchors' C <= 100 fits).
A flagged fit reports A as a lower bound: the low end of its profile interval.
"""

from __future__ import annotations

A_WIDTH = 0.2


def identifiability(params: dict, intervals: dict, window_end: float, a_width: float = A_WIDTH,
                    x_name: str = "C", level: float = 0.95) -> tuple[bool, list[str], list[str]]:
    """(identified, flags, messages)."""
    flags, msgs = [], []
    a_lo, a_hi = intervals["A"]
    c_hi = intervals["C_mid"][1]
    if window_end < c_hi:
        flags.append("window_before_cmid")
        reach = "is unbounded above" if c_hi == float("inf") else f"reaches {c_hi:.4g}"
        msgs.append(f"the fit window ends at {x_name}={window_end:.4g} but the C_mid interval {reach}: "
                    f"the data may not have passed the midpoint")
    if a_hi - a_lo > a_width:
        flags.append("a_interval_wide")
        msgs.append(f"the A interval [{a_lo:.3f}, {a_hi:.3f}] is wider than {a_width:g}")
    if params["A"] >= 1 - 1e-6:
        flags.append("a_at_bound")
        msgs.append("the best fit puts A at its upper bound 1")
    elif a_hi >= 1 - 1e-6 or a_lo <= params["R0"] + 1e-6:
        flags.append("a_interval_open")
        end = "the upper bound 1" if a_hi >= 1 - 1e-6 else "R0 (no rise at all)"
        msgs.append(f"the A interval [{a_lo:.3f}, {a_hi:.3f}] reaches {end}: it is open there")
    open_shape = [n for n in ("B", "C_mid") if intervals[n][1] == float("inf") or intervals[n][0] <= 0]
    if open_shape:
        flags.append("shape_open")
        msgs.append(f"the {' and '.join(open_shape)} interval is unbounded: the shape of the rise is not pinned down")
    identified = not flags
    if not identified:
        msgs.insert(0, f"A is not identified by these data; read it as a lower bound: A ≥ {a_lo:.3f} "
                       f"(any asymptote up to {a_hi:.3f} fits as well at the {level:.0%} level).")
    return identified, flags, msgs
