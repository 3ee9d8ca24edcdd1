"""Helpers for the command-line tests: the installed console script in a subprocess, and the
same entry point in-process (``scalinglab.cli.main`` with ``sys.argv`` patched) for speed."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    """Exit status and captured output of one command."""

    code: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def console_script() -> Path:
    """The installed ``scalinglab`` script beside the running interpreter (skip if absent)."""
    found = shutil.which("scalinglab", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"no scalinglab console script next to {sys.executable} "
                    f"(install the package with pip install -e .)")
    return Path(found)


def run_script(*args: str, cwd: Path | None = None, timeout: float = 120) -> CliResult:
    """Run the real console script in a subprocess."""
    env = {**os.environ, "COLUMNS": "100", "PYTHONWARNINGS": "default"}
    proc = subprocess.run([str(console_script()), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_inprocess(*args: str) -> CliResult:
    """Run ``scalinglab.cli.main`` in this process, capturing stdout, stderr and SystemExit."""
    from scalinglab.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["scalinglab", *args]
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    if code is None:
        code = 0
    assert isinstance(code, int), f"SystemExit carried {code!r}, not an exit status"
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: CliResult, *fragments: str) -> str:
    """Exit 2, exactly one non-empty ``error: ...`` line on stderr naming the problem."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.code == 2, (result.code, result.stderr, result.stdout[-500:])
    lines = result.err_lines
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("error: "), line
    assert "np.float64" not in line and "np.int64" not in line, line
    for fragment in fragments:
        assert fragment.lower() in line.lower(), (fragment, line)
    return line
