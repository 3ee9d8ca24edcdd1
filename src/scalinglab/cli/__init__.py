"""The ``scalinglab`` command line: a thin typer app that only wires the library together.

Each command group lives in its own module with a ``register(app)`` function, so that the
CLI stays thin and modules can grow independently.
"""

from __future__ import annotations

import os

# OpenMP reads its wait policy once, when torch loads (a command that trains imports it): idle
# threads that sleep instead of spinning keep multi-threaded training usable when another
# program takes a core (issue 13; bench/busy_threads.py).  A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from scalinglab.cli import (  # noqa: E402
    corpus_cmd,
    fit_cmds,
    import_cmd,
    manifold_cmd,
    plan_cmd,
    report_cmd,
    sweep_cmd,
    train_cmd,
)
from scalinglab.cli.common import run_app  # noqa: E402

app = typer.Typer(
    name="scalinglab",
    help="scalinglab: fit, predict and price neural scaling laws.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _show_version(value: bool) -> None:
    if value:
        from scalinglab import __version__  # noqa: PLC0415

        typer.echo(f"scalinglab {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_show_version)] = False,
) -> None:
    """scalinglab: fit, predict and price neural scaling laws."""


for module in (fit_cmds, plan_cmd, corpus_cmd, train_cmd, sweep_cmd, manifold_cmd,
               report_cmd, import_cmd):
    module.register(app)


def main() -> None:
    """Console-script entry point: runs the app, mapping bad input to exit status 2."""
    run_app(app)
