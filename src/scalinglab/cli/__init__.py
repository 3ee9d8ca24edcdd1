"""The ``scalinglab`` command line: a thin typer app that only wires the library together.

Each command group lives in its own module with a ``register(app)`` function, so that the
CLI stays thin and modules can grow independently.
"""

from __future__ import annotations

import typer

from scalinglab.cli import (
    corpus_cmd,
    fit_cmds,
    manifold_cmd,
    plan_cmd,
    report_cmd,
    sweep_cmd,
    train_cmd,
)
from scalinglab.cli.common import run_app

app = typer.Typer(
    name="scalinglab",
    help="scalinglab: fit, predict and price neural scaling laws.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (fit_cmds, plan_cmd, corpus_cmd, train_cmd, sweep_cmd, manifold_cmd,
               report_cmd):
    module.register(app)


def main() -> None:
    """Console-script entry point: runs the app, mapping bad input to exit status 2."""
    run_app(app)
