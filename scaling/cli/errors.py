"""How every command reports bad input: one line on stderr and a non-zero exit, no traceback.

Expected errors are the ones a user can act on: a rejected config, spec or input file (ValueError
and its subclasses: ConfigError, SpecError, FitError, pydantic's ValidationError), a file system
that refuses (OSError: a missing file, no permission, a full disk), a run folder in use or without
a readable checkpoint. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from pydantic import ValidationError

from scaling.fsio import StorageError

EXPECTED: tuple[type[BaseException], ...] = (ValueError, OSError, StorageError)


def one_line(err: BaseException) -> str:
    """The first line of an error's message (pydantic's: the field and the reason)."""
    if isinstance(err, ValidationError):
        from scaling.config import format_validation_error

        return format_validation_error(err)
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextmanager
def user_errors(*kinds: type[BaseException]):
    try:
        yield
    except (*EXPECTED, *kinds) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        raise typer.Exit(2) from None
