"""Helpers shared by the CLI modules: one-line errors with exit status 2, JSON output, tables."""

from __future__ import annotations

import errno
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from scalinglab.errors import ScalingLabError, SettingError
from scalinglab.jsonutil import to_jsonable

console = Console()
err_console = Console(stderr=True)

BAD_INPUT_EXIT = 2
#: The flag of each :class:`~scalinglab.fit.FitSettings` field, so a bad setting is named as the
#: user typed it (``--checkpoints-after must be ...``; the API says ``checkpoints_after``).
SETTING_FLAGS = {
    "law": "--law", "variable": "--variable", "irreducible": "--no-irreducible",
    "n_column": "--n-column", "huber_delta": "--huber-delta", "method": "--method",
    "E_fixed": "--E-fixed", "E_bounds": "--E-bounds", "E_prior": "--E-prior",
    "bound_E_below_min_loss": "--bound-E", "checkpoints_after": "--checkpoints-after",
    "frontier_filter": "--frontier-filter", "weights": "--weights",
    "hparams": "--hparams",
    "bootstrap": "--bootstrap", "seed": "--seed", "level": "--level",
}  # calibrate and calibration_cuts have no flag: they keep their API names
INTERRUPTED_EXIT = 130  # 128 + SIGINT, what shells report for Ctrl-C


def fit_settings(**options: Any):
    """A validated :class:`~scalinglab.fit.FitSettings` from CLI options; a bad one is a
    one-line error naming its flag (:data:`SETTING_FLAGS`)."""
    from scalinglab.fit.settings import FitSettings  # noqa: PLC0415 (keeps `--help` fast)

    try:
        return FitSettings.build(**options)
    except SettingError as exc:
        raise ScalingLabError(exc.spelled(SETTING_FLAGS.get(exc.field, exc.field))) from None


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 2."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(BAD_INPUT_EXIT)


def _is_click_usage_error(exc: BaseException) -> bool:
    """Duck-typed test for click's (or typer's vendored ``typer._click``) ``ClickException``.

    typer >= 0.29 vendors click as ``typer._click``, whose exceptions do not derive from
    ``click.ClickException``; both carry ``format_message()`` and an integer ``exit_code``,
    which is all this module relies on.
    """
    return callable(getattr(exc, "format_message", None)) and isinstance(
        getattr(exc, "exit_code", None), int)


def _is_exit(exc: BaseException) -> bool:
    """``typer.Exit`` / ``click.exceptions.Exit`` in any version (by type or by name)."""
    return isinstance(exc, typer.Exit) or (
        type(exc).__name__ == "Exit" and isinstance(getattr(exc, "exit_code", None), int))


def _is_abort(exc: BaseException) -> bool:
    return isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort"


def _one_line(text: str) -> str:
    """Collapse a possibly multi-line message onto one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _print_error(message: str) -> None:
    err_console.print(f"error: {_one_line(message)}", markup=False, highlight=False,
                      soft_wrap=True)


def run_app(app: typer.Typer, args: Sequence[str] | None = None) -> None:
    """Run a typer app and exit: bad input of any kind becomes one line ``error: ...`` + exit 2.

    Usage errors (unknown option or command, missing argument, bad option type or choice),
    :class:`ScalingLabError` and file errors are caught here; the app runs with
    ``standalone_mode=False`` so that typer/click never print their multi-line error boxes.
    Nothing here depends on which click (``click`` or ``typer._click``) typer uses.
    """
    try:
        rv = app(args=list(args) if args is not None else None, standalone_mode=False)
    except SettingError as exc:   # a setting refused late (e.g. by the data): name its flag
        _print_error(exc.spelled(SETTING_FLAGS.get(exc.field, exc.field)))
        sys.exit(BAD_INPUT_EXIT)
    except ScalingLabError as exc:
        _print_error(str(exc))
        sys.exit(BAD_INPUT_EXIT)
    except OSError as exc:  # a missing, unreadable or unwritable path (also EIO, ENOSPC, ...)
        if exc.errno == errno.EPIPE:  # output piped into `head` and closed: not an error
            sys.exit(0)
        where = f": {exc.filename}" if exc.filename else ""
        _print_error(f"{exc.strerror or exc}{where}")
        sys.exit(BAD_INPUT_EXIT)
    except KeyboardInterrupt as exc:
        _print_error(str(exc) or "interrupted")
        sys.exit(130)
    except Exception as exc:
        if (_is_exit(exc) or _is_abort(exc)) and isinstance(exc.__cause__, KeyboardInterrupt):
            # typer turns Ctrl-C into Exit(130), click into Abort; a sweep's message says
            # how to resume
            _print_error(str(exc.__cause__) or "interrupted")
            sys.exit(130)
        if _is_exit(exc):
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if _is_abort(exc):
            _print_error("aborted")
            sys.exit(1)
        if type(exc).__name__ == "NoArgsIsHelpError" and callable(getattr(exc, "show", None)):
            if str(exc.format_message()).strip():  # type: ignore[attr-defined]
                exc.show()  # type: ignore[attr-defined]  # the help text, as click prints it
            sys.exit(BAD_INPUT_EXIT)
        if _is_click_usage_error(exc):
            _print_error(exc.format_message())  # type: ignore[attr-defined]
            sys.exit(BAD_INPUT_EXIT)
        raise
    # In non-standalone mode click returns the code of an explicit ``typer.Exit(code)``.
    if isinstance(rv, int) and not isinstance(rv, bool):
        if rv == INTERRUPTED_EXIT:  # typer turned Ctrl-C into Exit(130), dropping the message
            _print_error("interrupted; a sweep or demo keeps its finished runs and checkpoints "
                         "its runs in flight: run the same command again to resume")
        sys.exit(rv)
    sys.exit(0)


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
