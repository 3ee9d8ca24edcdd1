"""Helpers shared by the CLI modules: one-line errors with exit status 2, JSON output, tables."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import click
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from scalinglab.errors import ScalingLabError
from scalinglab.jsonutil import to_jsonable

console = Console()
err_console = Console(stderr=True)

BAD_INPUT_EXIT = 2


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 2."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(BAD_INPUT_EXIT)


def run_app(app: typer.Typer) -> None:
    """Run a typer app; a :class:`ScalingLabError` (or file error) becomes one line + exit 2."""
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:  # usage errors from click/typer
        err_console.print(f"error: {exc.format_message()}", markup=False, highlight=False)
        sys.exit(BAD_INPUT_EXIT)
    except ScalingLabError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(BAD_INPUT_EXIT)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        err_console.print(f"error: {exc.strerror}: {exc.filename}", markup=False,
                          highlight=False)
        sys.exit(BAD_INPUT_EXIT)


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on stdout."""
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="right" if col not in columns[:1] else "left")
    for row in rows:
        table.add_row(*(fmt(v) for v in row))
    console.print(table)


def fmt(value: Any) -> str:
    """Compact human formatting of numbers (4 significant digits)."""
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "-"
        return f"{value:.4g}"
    if isinstance(value, (int, np.integer)) and abs(int(value)) >= 10**6:
        return f"{float(value):.4g}"
    return str(value)


def parse_float(text: str, name: str, positive: bool = True) -> float:
    """Parse ``70e9`` etc., with a one-line error naming the option."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ScalingLabError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise ScalingLabError(f"{name} must be a finite number > 0, got {text!r}")
    return value
