"""Helpers shared by the CLI modules: one-line errors with exit status 2, JSON output, tables."""

from __future__ import annotations

import errno
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scalinglab.cli.terms import FLAGS, cli_terms
from scalinglab.errors import ScalingLabError, SettingError
from scalinglab.fit.rows import AUTO_CHECKPOINT_FRACTION
from scalinglab.fit.settings import DEFAULT_FRONTIER_FILTER
from scalinglab.jsonutil import to_jsonable
from scalinglab.records import drop_highest_losses, load_runs

console = Console()
err_console = Console(stderr=True)

BAD_INPUT_EXIT = 2
#: The flag of each :class:`~scalinglab.fit.FitSettings` field, so a bad setting is named as the
#: user typed it (``--checkpoints-after must be ...``; the API says ``checkpoints_after``): the
#: one table of :mod:`scalinglab.cli.terms`.
SETTING_FLAGS = FLAGS
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


def _print_error(message: str, field: str | None = None) -> None:
    err_console.print(f"error: {_one_line(cli_terms(message, field))}", markup=False,
                      highlight=False, soft_wrap=True)


def run_app(app: typer.Typer, args: Sequence[str] | None = None) -> None:
    """Run a typer app and exit: bad input of any kind becomes one line ``error: ...`` + exit 2.

    Usage errors (unknown option or command, missing argument, bad option type or choice),
    :class:`ScalingLabError` and file errors are caught here; the app runs with
    ``standalone_mode=False`` so that typer/click never print their multi-line error boxes.
    Nothing here depends on which click (``click`` or ``typer._click``) typer uses.
    """
    try:
        rv = app(args=list(args) if args is not None else None, standalone_mode=False)
    except ScalingLabError as exc:
        _print_error(str(exc), getattr(exc, "field", None))
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


def print_guards(guards: list[Any]) -> None:
    """One line per guard that warns (``warning:``) or notes (``note:``), on stdout."""
    for g in guards:
        if g.action in ("warn", "note"):
            print_warnings([g.message], "warning:" if g.action == "warn" else "note:")


def print_warnings(warnings: Sequence[str], label: str = "warning:") -> None:
    """Each warning (or note) of a result on its own line, in the command line's terms."""
    colour = "yellow" if label == "warning:" else "dim"
    for text in warnings:
        console.print(f"[{colour}]{escape(label)}[/{colour}] {escape(cli_terms(str(text)))}",
                      highlight=False)


# -- options shared by the commands that read and fit a run table (fit, backtest, report) -----
# One definition each, so that help texts and defaults cannot drift between the commands; the
# defaults are the fit package's constants.

def _check_level(value: float) -> float:
    if not 0 < value < 1:  # also refuses NaN
        raise typer.BadParameter(f"a confidence level must be in (0, 1), got {value:g}")
    return value


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
LevelOpt = Annotated[float, typer.Option("--level", help="Confidence level of intervals.",
                                         callback=_check_level)]
ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", help='Column mapping for foreign tables, e.g. N="Model Size",C="Training FLOP",'
    'loss=loss (names: N, D, C, loss or record columns such as run_id, n_params_total).')]
DeriveTokensOpt = Annotated[bool, typer.Option(
    "--derive-tokens", help="Compute missing tokens as D = C / (6 N).")]
DeriveFlopsOpt = Annotated[bool, typer.Option(
    "--derive-flops", help="Compute missing training FLOPs as C = 6 N D.")]
DropOpt = Annotated[int, typer.Option(
    "--drop-highest", help="Drop the K rows with the highest loss first (Epoch's protocol "
    "drops 5 from the Chinchilla data).", min=0)]
NColumnOpt = Annotated[str, typer.Option(
    "--n-column", help="Parameter count to use as N (also in C = 6ND when deriving): n_params "
    "(non-embedding) or n_params_total (all parameters).")]
LawOpt = Annotated[str, typer.Option(
    "--law", help="auto (chosen by nested backtests along N, D and C among Chinchilla, "
                  "Chinchilla without E, the over-training form of Gadre et al. 2024, Kaplan "
                  "and the reduced power laws) | chinchilla | overtrain | kaplan | power | "
                  "data_constrained (needs unique_tokens).")]
VariableOpt = Annotated[str | None, typer.Option(
    "--variable", help="The power law's variable: N, D or C (default C).")]
CheckpointsOpt = Annotated[str, typer.Option(
    "--checkpoints-after", help=f"Rows of loss curves: auto (rows past "
    f"{AUTO_CHECKPOINT_FRACTION:g} of each run when curves are present, final rows otherwise), "
    f"final, or a fraction such as 0.1.")]
FrontierFilterOpt = Annotated[str, typer.Option(
    "--frontier-filter", help=f"Drop runs whose final loss is more than this fraction above "
    f"the best final loss at the same or less compute ({DEFAULT_FRONTIER_FILTER:g}), or none.")]
CutsOpt = Annotated[str | None, typer.Option(
    "--cuts", help="Run-interval calibration: cut the nested backtests at these FLOPs "
    "(comma-separated, increasing, inside the data). Default: between the compute levels "
    "the table shows, else at fractions of its runs.")]
LevelsOpt = Annotated[str | None, typer.Option(
    "--levels", help="Run-interval calibration: the table's compute levels (IsoFLOP budgets) "
    "in FLOPs, comma-separated and increasing; the backtests cut between them. Default: "
    "detected.")]

DEFAULT_CHECKPOINTS = "auto"
DEFAULT_FRONTIER = f"{DEFAULT_FRONTIER_FILTER:g}"


def read_runs(path: Path, columns: str | None, derive_tokens: bool = False,
              drop_highest: int = 0, derive_flops: bool = False,
              n_column: str | None = None, as_json: bool = False):
    """Load a run table (CSV/Parquet) through the mapping; drop the K highest losses.

    Prints the table's notes (e.g. which column identifies the runs): on stdout with the
    human output, on stderr when stdout carries JSON.  Its warnings stay in
    ``frame.attrs["warnings"]``: the fit puts them in its result, which the commands print.
    """
    frame = load_runs(path, columns=columns, derive_tokens=derive_tokens,
                      derive_flops=derive_flops, require=("loss",), n_column=n_column)
    notes = print_table_notes(frame, as_json)
    frame = drop_highest_losses(frame, drop_highest)
    frame.attrs["notes"] = notes
    return frame


def print_table_notes(frame, as_json: bool = False) -> list[str]:
    """Print a loaded table's notes (``note: ...``): on stdout with the human output, on stderr
    when stdout carries JSON; return them."""
    notes = list(frame.attrs.get("notes", []))
    for note in notes:
        (err_console if as_json else console).print(f"note: {note}", markup=False,
                                                    highlight=False, soft_wrap=True)
    return notes


def checkpoints_option(text: str) -> float | str | None:
    """--checkpoints-after: auto | final | a fraction (the fit checks it is in [0, 1), so that
    the API and the command line refuse the same values with the same message)."""
    value = text.strip().lower()
    if value in ("auto", "final"):
        return None if value == "final" else "auto"
    return parse_float(value, "--checkpoints-after", positive=False)  # range: the fit's check


def frontier_filter_option(text: str) -> float | None:
    """--frontier-filter: a fraction > 0, or none/off/0."""
    if text.strip().lower() in ("none", "off", "0"):
        return None
    return parse_float(text, "--frontier-filter")


def row_options(checkpoints_after: str, frontier_filter: str, n_column: str,
                variable: str | None = None) -> dict[str, Any]:
    """The settings shared by fit, backtest and report, in the API's names (``variable``, the
    power law's, only when given: the API defaults it to C)."""
    out: dict[str, Any] = {"checkpoints_after": checkpoints_option(checkpoints_after),
                           "frontier_filter": frontier_filter_option(frontier_filter),
                           "n_column": n_column}
    if variable is not None:
        out["variable"] = variable
    return out


def calibration_options(cuts: str | None, levels: str | None) -> dict[str, Any]:
    """--cuts / --levels as settings (``calibration_cuts``, ``levels``), empty when not given.

    Each list must be FLOP counts > 0 in increasing order without repeats (one-line errors);
    whether they lie inside the data is checked by the fit.
    """
    from scalinglab.fit.cuts import check_flop_list  # noqa: PLC0415 (keeps `--help` fast)

    if cuts is not None and levels is not None:
        raise ScalingLabError("give --cuts or --levels, not both")
    out: dict[str, Any] = {}
    for flag, text, key in (("--cuts", cuts, "calibration_cuts"), ("--levels", levels, "levels")):
        if text is not None:
            values = [parse_float(v.strip(), flag) for v in text.split(",")]
            out[key] = list(check_flop_list(values, flag))
    return out
