"""Usage errors of every kind -> one line ``error: ...`` and exit 2, through the installed
console script (issue 13, item 1), whatever click typer uses (``click`` or ``typer._click``)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from scalinglab.cli.common import run_app
from tests.clihelp import assert_one_line_error, run_inprocess, run_script

# (argv, fragments the one error line must contain)
USAGE_ERRORS = [
    (["plan", "--params", "1e9"], ["no such option", "--params"]),       # unknown option
    (["fit", "--nosuch"], ["--nosuch"]),
    (["sweep", "run", "d", "--nosuch", "1"], ["--nosuch"]),
    (["corpus", "info", "kjv", "--nosuch"], ["--nosuch"]),
    (["nosuchcmd"], ["no such command", "nosuchcmd"]),                    # unknown command
    (["sweep", "nosuch"], ["no such command", "nosuch"]),
    (["corpus", "nosuch"], ["no such command", "nosuch"]),
    (["fit"], ["missing argument"]),                                      # missing argument
    (["backtest"], ["missing argument"]),
    (["sweep", "status"], ["missing argument"]),
    (["run"], ["missing argument"]),
    (["train", "--tokens", "1e6"], ["missing option", "--params"]),       # missing option
    (["sweep", "export", "d"], ["missing option", "--out"]),
    (["fit", "x.csv", "--bootstrap", "abc"], ["--bootstrap"]),            # bad option type
    (["plan", "--budget-usd", "lots"], ["--budget-usd"]),
    (["price", "--flops", "1e20", "--gpus", "2.5"], ["--gpus"]),
    (["sweep", "plan", "--sizes", "many"], ["--sizes"]),
    (["fit", "x.csv", "--bootstrap", "-1"], ["--bootstrap"]),            # out of range
    (["corpus", "info", "kjv", "-t"], ["-t", "requires an argument"]),   # option without value
    (["laws", "--json=yes"], ["--json"]),                               # flag given a value
    (["laws", "extra"], ["unexpected extra argument"]),                  # extra argument
]


@pytest.mark.parametrize(("argv", "fragments"), USAGE_ERRORS,
                         ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_error_through_console_script(argv, fragments):
    assert_one_line_error(run_script(*argv), *fragments)


def test_python_dash_m_maps_usage_errors_too():
    proc = subprocess.run([sys.executable, "-m", "scalinglab", "nosuchcmd"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: No such command 'nosuchcmd'."]


@pytest.mark.parametrize("argv", [[], ["sweep"], ["corpus"]], ids=["top", "sweep", "corpus"])
def test_no_arguments_prints_help_without_traceback(argv):
    result = run_script(*argv)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.code in (0, 2)  # click < 8.2 exits 0 after no-args help, >= 8.2 exits 2
    assert "Usage:" in result.stdout + result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["sweep", "run", "--help"]])
def test_help_exits_zero(argv):
    result = run_script(*argv)
    assert result.code == 0 and "Usage:" in result.stdout, result.stderr


# -- run_app relies on no click class: duck-typed usage errors and exits -----------------------
class ForeignUsageError(Exception):
    """Shaped like click's UsageError but derived from neither click nor typer."""

    exit_code = 2

    def format_message(self) -> str:
        return "No such option: --frobnicate\nsecond line of detail"


class Exit(Exception):  # noqa: N818 -- the name click gives its exit signal
    def __init__(self, code: int) -> None:
        self.exit_code = code


def _tiny_app(exc: BaseException | None) -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def go() -> None:
        if exc is not None:
            raise exc

    @app.command()
    def other() -> None:  # two commands, so that `go` is a subcommand
        pass

    return app


def _run_tiny(exc: BaseException | None, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        run_app(_tiny_app(exc), ["go"])
    return info.value.code, capsys.readouterr().err


def test_duck_typed_usage_error_becomes_one_line(capsys):
    code, err = _run_tiny(ForeignUsageError(), capsys)
    assert code == 2
    assert err.strip().splitlines() == ["error: No such option: --frobnicate second line of detail"]


def test_foreign_exit_keeps_its_code(capsys):
    code, err = _run_tiny(Exit(3), capsys)
    assert code == 3 and err == ""


def test_typer_exit_code_is_returned_not_swallowed(capsys):
    code, _ = _run_tiny(typer.Exit(2), capsys)
    assert code == 2
    code, _ = _run_tiny(None, capsys)
    assert code == 0


def test_unrelated_exception_is_not_disguised_as_bad_input(capsys):
    with pytest.raises(ZeroDivisionError):
        run_app(_tiny_app(ZeroDivisionError("bug")), ["go"])


def test_click_package_usage_error_if_installed(capsys):
    click = pytest.importorskip("click")
    code, err = _run_tiny(click.UsageError("bad thing"), capsys)
    assert code == 2 and err.strip() == "error: bad thing"


def test_inprocess_helper_agrees_with_console_script():
    argv = ["plan", "--params", "1e9"]
    assert run_inprocess(*argv).stderr.strip() == run_script(*argv).stderr.strip()
