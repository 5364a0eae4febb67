"""The `scaling` command: one typer app, each group of commands in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="RL compute-scaling studies: train runs, launch grids, fit sigmoid curves.")


def _register() -> None:
    from scaling.cli import export, fit, infer, quickstart, study, train

    for module in (quickstart, train, study, fit, export, infer):
        module.register(app)


def main() -> None:
    _register()
    app()
