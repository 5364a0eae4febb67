"""The one exception the fitting layer raises for bad input."""

from __future__ import annotations


class FitError(ValueError):
    """Input that cannot give an honest fit (too few points, constant y, NaNs, bad compute...).

    The message is one line that names the problem, so the CLI can print it as is.
    """
