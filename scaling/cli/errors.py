"""How every command reports bad input: one line on stderr and a non-zero exit, no traceback."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer


@contextmanager
def user_errors(*kinds: type[BaseException]):
    try:
        yield
    except (ValueError, FileNotFoundError, *kinds) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        raise typer.Exit(2) from None
