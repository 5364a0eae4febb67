"""Scaling-curve fits: the ScaleRL sigmoid with honest uncertainty (knows nothing of torch).

    fit_curve(data, x="flops", y="pass_rate", r0=None | "fit" | float, fit_from=None, ...) -> FitResult
    fit_groups(data, by=[...], ...)  -> (list[FitResult], errors)   one curve per group, seeds pooled
    backtest(data, fractions=(0.25, 0.5)) -> DataFrame   fit on the first part, score the final pass rate
                                                   (own run and leave-one-seed-out, per horizon)
    FitResult.predict(C, kind)       -> Prediction  kind: mean (confidence band), run (new seed), eval (one evaluation)
    scaling.fit.trend.axis_predict   -> dicts       an untried value of a numeric axis from the others' trend
    compare(fits, margin=0.02)       -> DataFrame   rank by A; ties broken on B at a shared A
    marginal_effects(fits)           -> DataFrame   main effect of each grid axis on A and B

Bad input raises FitError (a ValueError) with a one-line message.
"""

from scaling.fit.backtest import backtest
from scaling.fit.compare import compare, marginal_effects
from scaling.fit.errors import FitError
from scaling.fit.fitter import fit_curve
from scaling.fit.groups import fit_groups
from scaling.fit.result import FitResult, Prediction
from scaling.fit.source import load_source

__all__ = ["FitError", "FitResult", "Prediction", "backtest", "compare", "fit_curve", "fit_groups",
           "load_source", "marginal_effects"]
