"""Run health from the step metrics: ok, collapsed, diverging or nan.

ScaleRL (Khatri et al. 2025) names the warning signs of an unstable RL run (entropy collapse,
gradient-norm spikes, a rising truncation rate) and shows that such runs do not follow a
predictable curve; a run whose reward has collapsed to zero has no learning signal left (every
group zero-variance, so every advantage and the gradient are zero) and never recovers. Fits should
flag or leave out such runs, so every step row and evaluation row carries a `health` label,
computed from the step rows up to it (the label of a row never depends on later rows):

- nan: a step that made an update logged a non-finite reward, loss or entropy in the last WINDOW steps.
- collapsed: the reward (mean over the last WINDOW steps), or the last evaluation's pass rate, is at
  most COLLAPSED_REWARD after a WINDOW-step mean (or an earlier evaluation) reached PEAK_REWARD, and
  the run has no learning signal left: at least NO_SIGNAL_FRAC of the recent groups were zero-variance,
  or the recent gradient norms are all at most ZERO_GRAD (or no update was made).
- diverging, any of, over the last WINDOW steps against the run's opening WINDOW steps (needs
  2 x WINDOW steps):
  * gradient-norm spikes: at least SPIKES steps whose norm exceeds SPIKE_FACTOR x the median norm of
    all the earlier steps;
  * entropy collapse: the mean entropy fell below ENTROPY_FLOOR x the opening mean while the reward
    sits more than REWARD_SLACK below its best WINDOW-step mean (a run that converged on solved prompts
    also loses entropy, but keeps its reward);
  * truncation spike: the mean truncation rate rose by at least TRUNCATION_RISE over the opening mean.
- ok otherwise. Precedence: nan, collapsed, diverging, ok.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

WINDOW = 20
COLLAPSED_REWARD = 0.02
PEAK_REWARD = 0.1
NO_SIGNAL_FRAC = 0.9
ZERO_GRAD = 1e-8
SPIKE_FACTOR = 5.0
SPIKES = 3
ENTROPY_FLOOR = 0.1
REWARD_SLACK = 0.1
TRUNCATION_RISE = 0.2

LABELS = ("ok", "collapsed", "diverging", "nan")


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([float("nan") if r.get(key) is None else float(r[key]) for r in rows], dtype=float)


def _rolling_best(values: np.ndarray) -> float:
    """Best mean over WINDOW consecutive steps (over all of them when fewer)."""
    if len(values) < WINDOW:
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    means = np.convolve(np.nan_to_num(values), np.ones(WINDOW) / WINDOW, mode="valid")
    return float(means.max())


def _nan(rows: list[dict[str, Any]]) -> bool:
    for row in rows[-WINDOW:]:
        updated = row.get("filtered_frac") is None or row["filtered_frac"] < 1.0
        values = [row.get(k) for k in ("reward_mean", "loss", "entropy")]
        if updated and any(v is not None and not math.isfinite(v) for v in values):
            return True
    return False


def _collapsed(rows: list[dict[str, Any]], pass_rates: list[float]) -> bool:
    reward = _column(rows, "reward_mean")
    recent = reward[-WINDOW:]
    reward_low = bool(len(reward) >= WINDOW and np.nanmean(recent) <= COLLAPSED_REWARD
                      and _rolling_best(reward) >= PEAK_REWARD)
    evals_low = bool(len(pass_rates) >= 2 and pass_rates[-1] <= COLLAPSED_REWARD and max(pass_rates[:-1]) >= PEAK_REWARD)
    if not (reward_low or evals_low) or not rows:
        return False
    zero_var = _column(rows, "zero_variance_frac")[-WINDOW:]
    grads = _column(rows, "grad_norm")[-WINDOW:]
    grads = grads[np.isfinite(grads)]
    no_signal = bool(np.nanmean(zero_var) >= NO_SIGNAL_FRAC) if np.isfinite(zero_var).any() else False
    return no_signal or bool((grads <= ZERO_GRAD).all())


def _diverging(rows: list[dict[str, Any]]) -> bool:
    if len(rows) < 2 * WINDOW:
        return False
    grads = _column(rows, "grad_norm")
    earlier = grads[:-WINDOW][np.isfinite(grads[:-WINDOW])]
    recent = grads[-WINDOW:]
    if len(earlier) and np.median(earlier) > 0:
        if int((recent > SPIKE_FACTOR * np.median(earlier)).sum()) >= SPIKES:
            return True
    entropy = _column(rows, "entropy")
    reward = _column(rows, "reward_mean")
    opening, now = np.nanmean(entropy[:WINDOW]), np.nanmean(entropy[-WINDOW:])
    if np.isfinite(opening) and np.isfinite(now) and now < ENTROPY_FLOOR * opening:
        if np.nanmean(reward[-WINDOW:]) < _rolling_best(reward) - REWARD_SLACK:
            return True
    truncated = _column(rows, "truncated_frac")
    rise = np.nanmean(truncated[-WINDOW:]) - np.nanmean(truncated[:WINDOW])
    return bool(np.isfinite(rise) and rise >= TRUNCATION_RISE)


def classify(rows: list[dict[str, Any]], pass_rates: Iterable[float] = ()) -> str:
    """The health label after the step rows `rows` (oldest first), optionally with the evaluation pass
    rates so far (oldest first). See the module docstring for the rules and thresholds."""
    rows = list(rows)
    if _nan(rows):
        return "nan"
    if _collapsed(rows, [p for p in pass_rates if p is not None and math.isfinite(p)]):
        return "collapsed"
    if _diverging(rows):
        return "diverging"
    return "ok"
