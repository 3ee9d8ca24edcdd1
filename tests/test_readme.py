"""The README's commands run, and every number the README shows is what they print.

Block convention (for anyone adding to README.md)
--------------------------------------------------
A *command block* is a fenced code block (```) whose first line starts with ``$ scalinglab``.
Inside it, each line starting with ``$ `` is a command; a trailing backslash continues the
command on the next line (as in a shell); the lines after a command, up to the next ``$ `` line
or the end of the block, are its output, pasted from a real run at ``COLUMNS=100`` (the width
the test uses, so that tables wrap the same way).  Elide output with a line ``...``; numbers on
it are not checked.

What the test does
------------------
* Every command of every command block runs, in README order, through the installed console
  script in a subprocess, all in one temporary directory, so that a command may use a file an
  earlier one wrote (``fit ... --out fit.json`` then ``plan --fit fit.json``).  Arguments that
  name a path relative to the repository (``../shared/data/...``) are resolved against it.
* Exit status 0 is expected, or 2 when the pasted output shows an ``error:`` line.
* Every number in the pasted output must appear in the real output (stdout then stderr), in
  the same order (the pasted output may leave numbers out, never change or add one).
  Tolerance: one unit in the last printed digit of the README's number (``1.935`` matches
  1.934-1.936; ``5.501e+10`` matches 5.500e+10-5.502e+10), for rounding that another CPU or
  BLAS may move; the checked commands print no wall times.  A number drifting further fails
  (:func:`test_a_drifted_number_fails` proves it on a fixture README).
* A fenced block with a bare ``scalinglab ...`` line (no ``$``) fails the test, so a command
  cannot slip into the README unchecked; commands too slow for the suite are listed in
  :data:`EXCLUDED` with the reason and where they are checked instead, and every entry there
  must still match a README command.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.clihelp import console_script
from tests.conftest import REPO

README = REPO / "README.md"
DATA = REPO.parent / "shared" / "data"
WIDTH = "100"
#: Command prefixes not run here -> why, and where they are checked instead.
LADDER_WHY = ("the external-trainer ladder of examples/hf_trainer.py: about 10 minutes of transformers training; run end to end with a kill and resume by bench/external_ladder.py (bench/README.md), its command-line path by tests/test_external_trainer.py")
EXCLUDED: dict[str, str] = {
    "scalinglab demo": "a 9-minute sweep of 7 training runs and a 10x validation run; "
                       "checked by bench/demo.py (three seeds, bench/README.md) and, scaled "
                       "down, by tests/test_demo.py",
    "scalinglab manifold teacher-student": "about 500 s of student training; checked by "
                                           "bench/manifold.py --teacher-student (bench/README.md) "
                                           "and, on small settings, tests/test_manifold_cli.py",
    "scalinglab train": "trains a 2e5-parameter GPT on 5e6 tokens (minutes on CPU); the same "
                        "options are exercised on tiny runs by tests/test_train_cli.py",
    "scalinglab sweep run ladder": LADDER_WHY,
    "scalinglab sweep plan --levels 2e10,6e10 --sizes 3": LADDER_WHY,
    "scalinglab sweep export ladder": LADDER_WHY,
    "scalinglab fit ladder.csv": LADDER_WHY,
    "scalinglab frontier --fit ladder-fit.json": LADDER_WHY,
    "scalinglab report ladder.csv": LADDER_WHY,
}
#: A printed number (unsigned: ``1.81-2.15`` is a range), not digits inside a name such as
#: H100, run5 or x0.1; exponents after ``^`` (``C^0.452``) are taken by :data:`EXPONENT`.
NUMBER = re.compile(r"(?<![\w.^])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
EXPONENT = re.compile(r"(?<=\^)-?\d+(?:\.\d+)?")


@dataclass
class Command:
    """One ``$ scalinglab ...`` command of the README and the output pasted under it."""

    line: int
    text: str
    expected: str

    @property
    def excluded(self) -> str | None:
        return next((why for prefix, why in EXCLUDED.items() if self.text.startswith(prefix)),
                    None)


def _fenced_blocks(markdown: str) -> list[tuple[int, list[str]]]:
    """(line number of the first body line, body lines) of every fenced block."""
    lines, blocks, i = markdown.splitlines(), [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")),
                       len(lines))
            blocks.append((i + 2, lines[i + 1:end]))
            i = end
        i += 1
    return blocks


def parse_commands(markdown: str) -> list[Command]:
    """The commands of every command block, in order (see the module docstring)."""
    commands: list[Command] = []
    for first_line, body in _fenced_blocks(markdown):
        if body and body[0].startswith("$ scalinglab"):
            commands.extend(_block_commands(body, first_line))
    return commands


def bare_commands(markdown: str) -> list[int]:
    """Line numbers of ``scalinglab ...`` lines (no ``$``) in fenced blocks: unchecked commands."""
    return [n for first_line, body in _fenced_blocks(markdown)
            for n, text in enumerate(body, first_line) if text.startswith("scalinglab ")]


def _block_commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    k = 0
    while k < len(body):
        if not body[k].startswith("$ "):
            k += 1
            continue
        start, parts = k, [body[k][2:]]
        while parts[-1].rstrip().endswith("\\") and k + 1 < len(body):
            parts[-1] = parts[-1].rstrip()[:-1]
            k += 1
            parts.append(body[k])
        k += 1
        out_start = k
        while k < len(body) and not body[k].startswith("$ "):
            k += 1
        text = " ".join(p.strip() for p in parts)
        commands.append(Command(first_line + start, text, "\n".join(body[out_start:k])))
    return commands


def _resolve(arg: str) -> str:
    """A repository-relative path argument made absolute (the test runs in a temp dir)."""
    if "/" in arg and not arg.startswith("/") and (REPO / arg).exists():
        return str((REPO / arg).resolve())
    return arg


def run_command(command: Command, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command.text)
    assert argv[0] == "scalinglab", command.text
    env = {**os.environ, "COLUMNS": WIDTH, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(console_script()), *map(_resolve, argv[1:])], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


def numbers(text: str) -> list[str]:
    """The numbers printed in ``text`` (not digits inside names such as H100 or run5), in
    order; lines that are only ``...`` are skipped."""
    kept = "\n".join(line for line in text.splitlines() if line.strip() != "...")
    found = [(m.start(), m.group()) for m in NUMBER.finditer(kept)]
    found += [(m.start(), m.group()) for m in EXPONENT.finditer(kept)]
    return [value for _, value in sorted(found)]


def _unit(text: str) -> float:
    """One unit in the last printed digit of a number as printed (``5.501e+10`` -> 1e7)."""
    mantissa, _, exponent = text.lower().partition("e")
    digits = Decimal(mantissa.lstrip("+-")).as_tuple().exponent
    return 10.0 ** (int(digits) + (int(exponent) if exponent else 0))


def close(shown: str, printed: str) -> bool:
    x, y = float(shown), float(printed)
    return math.isclose(x, y, rel_tol=0, abs_tol=_unit(shown) * 1.0000001)


def mismatches(expected: str, actual: str) -> list[str]:
    """README numbers that the output does not show, in order (empty when all match)."""
    printed = numbers(actual)
    missing, pos = [], 0
    for shown in numbers(expected):
        hit = next((j for j in range(pos, len(printed)) if close(shown, printed[j])), None)
        if hit is None:
            missing.append(shown)
        else:
            pos = hit + 1
    return missing


def check(command: Command, cwd: Path) -> list[str]:
    """Problems with one command: its exit status and the README numbers it does not print."""
    proc = run_command(command, cwd)
    output = proc.stdout + proc.stderr
    wants_error = any(line.startswith("error:") for line in command.expected.splitlines())
    if (proc.returncode == 2) != wants_error or proc.returncode not in (0, 2):
        return [f"exit status {proc.returncode}: {output[-800:]}"]
    missing = mismatches(command.expected, output)
    return [f"README shows {', '.join(missing)}, not in the output:\n{output}"] if missing else []


COMMANDS = parse_commands(README.read_text())
CHECKED = [c for c in COMMANDS if c.excluded is None]


def test_readme_has_checked_commands_and_every_exclusion_is_used():
    assert len(CHECKED) >= 5, [c.text for c in COMMANDS]
    bare = bare_commands(README.read_text())
    assert not bare, (f"README.md line(s) {bare}: a bare `scalinglab` command in a fenced block; "
                      f"write it as `$ scalinglab ...` with its real output (tests/test_readme.py)")
    for prefix in EXCLUDED:
        assert any(c.text.startswith(prefix) for c in COMMANDS), f"unused exclusion {prefix!r}"


@pytest.fixture(scope="module")
def readme_results(tmp_path_factory) -> dict[int, list[str]]:
    """Every checked command run once, in README order, in one directory."""
    if not DATA.exists():
        pytest.skip(f"README commands read the shared data at {DATA}, which is absent")
    cwd = tmp_path_factory.mktemp("readme")
    return {c.line: check(c, cwd) for c in CHECKED}


@pytest.mark.parametrize("command", CHECKED, ids=[f"line{c.line}" for c in CHECKED])
def test_readme_command(command, readme_results):
    problems = readme_results[command.line]
    assert not problems, f"README.md line {command.line}: {command.text}\n" + "\n".join(problems)


# -- the checker itself, on fixture READMEs ----------------------------------------------------
FIXTURE = """Text.

```
$ scalinglab frontier --preset hoffmann2022 \\
    --compute 5.76e23
...
│ 5.76e+23  │      3.219e+10 │      2.982e+12 │ {ratio} │             1.931 │
...
N_opt ~ C^0.452, D_opt ~ C^0.548  [hoffmann2022]
```
"""


def test_parser_joins_continuations_and_splits_output():
    (command,) = parse_commands(FIXTURE.format(ratio="92.65"))
    assert command.text == "scalinglab frontier --preset hoffmann2022 --compute 5.76e23"
    assert numbers(command.expected) == ["5.76e+23", "3.219e+10", "2.982e+12", "92.65", "1.931",
                                         "0.452", "0.548"]
    assert bare_commands("x\n```\nscalinglab fit runs.csv\n```\n") == [3]
    assert parse_commands("```\nscalinglab fit runs.csv\n```\n") == []


def test_tolerance_is_one_unit_in_the_last_digit():
    assert close("1.935", "1.936") and close("5.501e+10", "5.502e+10") and close("90", "91")
    assert not close("1.935", "1.937") and not close("1.912", "1.719")
    assert mismatches("a 1.935 [1.912, 1.962]", "a 1.935 [1.719, 2.178]") == ["1.912", "1.962"]
    assert mismatches("x 20 then 10", "x 10 then 20") == ["10"]  # order matters


def test_a_drifted_number_fails(tmp_path):
    good = parse_commands(FIXTURE.format(ratio="92.65"))[0]
    assert check(good, tmp_path) == []
    drifted = parse_commands(FIXTURE.format(ratio="93.65"))[0]
    problems = check(drifted, tmp_path)
    assert len(problems) == 1 and "README shows 93.65" in problems[0]
