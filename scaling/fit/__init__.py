"""Scaling-curve fits: the ScaleRL sigmoid with honest uncertainty (knows nothing of torch).

    fit_curve(data, x="flops", y="pass_rate", r0=None | "fit" | float, fit_from=None, ...) -> FitResult
    fit_groups(data, by=[...], ...)  -> list[FitResult]   one curve per group (seeds pooled)
    backtest(data, fraction=0.5)     -> DataFrame         fit each run's first half, score the rest
    compare(fits, margin=0.02)       -> DataFrame         rank by A, break ties on B with a shared A

Bad input raises FitError (a ValueError) with a one-line message.
"""

from scaling.fit.errors import FitError
from scaling.fit.fitter import fit_curve
from scaling.fit.result import FitResult, Prediction

__all__ = ["FitError", "FitResult", "Prediction", "fit_curve"]
