"""`FitResult`: everything a fit found, as plain data that survives a JSON round-trip.

The result keeps its window's points and weights, so `predict` can rebuild the likelihood set
(deterministically, in a few milliseconds) after being loaded from JSON, and plots and `compare`
need nothing but results.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PARAMS = ("A", "B", "C_mid", "R0")


KINDS = ("mean", "run", "eval")


@dataclass
class Prediction:
    """Fitted pass rate at compute C and an interval of one of three kinds:

    mean: confidence band for the mean curve (where the recipe's average run goes);
    run:  prediction interval for a new run (adds the seed-to-seed spread; needs 2+ runs, else the
          mean band, with `note` saying so);
    eval: prediction interval for a single future evaluation of a new run (adds the scatter of
          single evaluations about their run's own trend: measurement noise plus policy wander).
    """

    C: Any
    value: Any
    lo: Any
    hi: Any
    kind: str = "mean"
    note: str = ""

    @property
    def interval(self) -> tuple[Any, Any]:
        return self.lo, self.hi


@dataclass
class FitResult:
    params: dict[str, float]
    intervals: dict[str, list[float]]
    level: float
    window: list[float]
    n_points: int
    n_runs: int
    residuals: dict[str, float]
    noise: str
    identified: bool
    flags: list[str]
    messages: list[str]
    x: str = "flops"
    y: str = "pass_rate"
    group: dict[str, Any] = field(default_factory=dict)
    r0_mode: str = "anchored"
    runs: dict[str, Any] = field(default_factory=dict)
    interval_method: str = ""
    alternatives: dict[str, dict[str, float]] = field(default_factory=dict)
    data: dict[str, list] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    # ---- reading -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in PARAMS:  # r.A, r.B, r.C_mid, r.R0
            return self.__dict__["params"][name]
        raise AttributeError(name)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.group.items()) or "all"

    def a_text(self, digits: int = 3) -> str:
        """A with its interval, or '>= lower bound' when the asymptote is not identified."""
        lo, hi = self.intervals["A"]
        if not self.identified:
            return f"≥ {lo:.{digits}f}"
        return f"{self.params['A']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    def predict(self, C: Any, kind: str = "mean", n_mean: int = 1) -> Prediction:
        """Fitted R(C) with a `kind` interval (see Prediction) at `level`; C scalar or array.

        n_mean > 1 with kind="eval": the interval for the mean of that many successive evaluations
        (their scatter averages down, but only as far as the autocorrelation allows).
        """
        from scipy import stats as sps

        from scaling.fit.intervals import likelihood_set
        from scaling.fit.sigmoid import sigmoid_curve
        from scaling.fit.spread import run_curves, t_half

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        c = np.atleast_1d(np.asarray(C, float))
        if "_set" not in self.__dict__:
            s = self.settings
            xw, yw, ww = (np.asarray(self.data[k], float)[np.asarray(self.data["in_window"], bool)]
                          for k in ("x", "y", "w"))
            best = {**self.params, "ssr": s["ssr"]}
            self.__dict__["_set"] = likelihood_set(xw, yw, ww, s["r0"], best, s["delta"])
        p = self.params
        value = sigmoid_curve(c, p["A"], p["B"], p["C_mid"], p["R0"])
        lo, hi = self.__dict__["_set"].band(c)
        per_run = run_curves(self.runs["params"], c) if self.runs.get("params") else np.empty((0, len(c)))
        note = ""
        if len(per_run) >= 2:
            h = np.array([t_half(col, self.level) for col in per_run.T])
            lo, hi = np.minimum(lo, value - h), np.maximum(hi, value + h)
            if kind != "mean":
                h = np.array([t_half(col, self.level, new=True) for col in per_run.T])
                lo, hi = np.minimum(lo, value - h), np.maximum(hi, value + h)
        elif kind != "mean":
            note = "one run: the seed-to-seed spread is unknown and not in this interval"
        lo, hi = np.minimum(lo, value), np.maximum(hi, value)
        if kind == "eval":
            z = sps.norm.ppf(0.5 + self.level / 2)
            sd = self.runs.get("within_sd", 0.0) * np.sqrt(min(1.0, self.runs.get("long_run_factor", 1.0) / n_mean))
            lo, hi = value - np.hypot(value - lo, z * sd), value + np.hypot(hi - value, z * sd)
        lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        if np.ndim(C) == 0:
            return Prediction(float(C), float(value[0]), float(lo[0]), float(hi[0]), kind, note)
        return Prediction(c, value, lo, hi, kind, note)

    # ---- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items()}
        return _finite(d)

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FitResult":
        d = dict(d)
        d["intervals"] = {k: _open(v) for k, v in d["intervals"].items()}
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "FitResult":
        return cls.from_dict(json.loads(text))

    def summary(self) -> dict[str, Any]:
        """The flat record the CLI's --json prints (one per curve)."""
        out = {"group": self.group, **self.params, "A_interval": self.intervals["A"],
               "B_interval": self.intervals["B"], "C_mid_interval": self.intervals["C_mid"],
               "identified": self.identified, "level": self.level, "window": self.window,
               "n_points": self.n_points, "n_runs": self.n_runs, "flags": self.flags,
               "messages": self.messages, "x": self.x, "y": self.y, "interval_method": self.interval_method,
               "runs": {k: v for k, v in self.runs.items() if k != "params"}}
        return _finite(out)


def _finite(obj: Any) -> Any:
    """Replace +-inf/NaN (open interval ends) by None: strict JSON, readable by jq."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _open(pair: list) -> list[float]:
    """[lo, hi] with None read back as an open end."""
    lo, hi = pair
    return [-math.inf if lo is None else lo, math.inf if hi is None else hi]
