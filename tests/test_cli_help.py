"""Help texts and the README point to files that exist, and no help text loses ``[...]`` to
rich markup (issue 13, item 7)."""

from __future__ import annotations

import re

import pytest
import typer

from scalinglab.cli import app
from tests.clihelp import run_inprocess
from tests.conftest import REPO

PATH_RE = re.compile(r"\b((?:bench|src|tests|\.ci)/[\w./-]*\w)")


def _commands(group, prefix=()):
    for name, cmd in getattr(group, "commands", {}).items():
        yield (*prefix, name), cmd
        yield from _commands(cmd, (*prefix, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _help_texts(cmd) -> list[str]:
    texts = [cmd.help or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params]
    return [t for t in texts if t]


def test_there_are_commands_to_check():
    assert {"fit", "plan", "train", "demo", "run"} <= {path[0] for path, _ in COMMANDS}


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_paths_exist_and_brackets_survive(path, cmd):
    result = run_inprocess(*path, "--help")
    assert result.code == 0, result.stderr
    rendered = " ".join(result.stdout.split())
    for text in _help_texts(cmd):
        for ref in PATH_RE.findall(text):
            assert (REPO / ref).exists(), f"{' '.join(path)} help names missing {ref}"
        for bracket in re.findall(r"\[[^\]\s]+\]", text):
            assert bracket in rendered, f"{bracket} swallowed in `{' '.join(path)} --help`"


def test_readme_paths_exist():
    text = (REPO / "README.md").read_text()
    missing = sorted({ref for ref in PATH_RE.findall(text) if not (REPO / ref).exists()})
    assert not missing, f"README names missing paths: {missing}"
