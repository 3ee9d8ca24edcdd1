"""The house rules that can be read from the source: no import cycle, small files, small functions.

Imports are read with ``ast`` from every module of src/scalinglab, at module level and inside
functions (a function-level import that closes a cycle is still a cycle, only a later one), plus
``importlib.import_module("literal")``; imports under ``if TYPE_CHECKING:`` never run and are
left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.importgraph import cycles, import_graph

SRC = Path(__file__).resolve().parents[1] / "src" / "scalinglab"

#: Imports that close a cycle on purpose, each with its reason.  Nothing else may.
LAZY_PLUGINS = {
    ("scalinglab.display", "scalinglab.report"):
        "a result's notebook .plot() looks its figure up in report by name when called (as "
        "pandas resolves its plotting backend), so importing a result never imports report",
}

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
#: A longer function says why in its docstring with this phrase.
LONG_FUNCTION_REASON = "longer than 80 lines because"

#: Today's offenders, each being split on another branch; fit/ and laws/ may have none except
#: where noted.  Remove an entry once its file or function is back under the limit.
FILE_ALLOWED: dict[str, str] = {}
FUNCTION_ALLOWED = {
    "cli/fit_cmds.py:fit_command": "typer options are parameters; the CLI branch trims it",
    "cli/train_cmd.py:register": "typer options are parameters; the CLI branch trims it",
    "cli/train_cmd.py:train": "typer options are parameters; the CLI branch trims it",
}


def test_no_import_cycle_in_scalinglab():
    graph = import_graph(SRC, "scalinglab")
    assert len(graph) > 50 and "scalinglab.fit.parametric" in graph["scalinglab.fit.api"]
    for (source, target), _reason in LAZY_PLUGINS.items():
        assert target in graph[source], f"allowed lazy import {source} -> {target} is gone"
    found = cycles(graph, allowed=LAZY_PLUGINS)
    assert found == [], f"import cycles: {found}"


def test_cycle_finder_sees_a_real_cycle(tmp_path):
    """A fixture package with a -> b (function level) -> c -> a and a clean d."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from pkg import c\n    return c\n")
    (pkg / "c.py").write_text("import importlib\nimportlib.import_module('pkg.a')\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from pkg import a\nfrom . import c\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.b"] == {"pkg.c"} and graph["pkg.d"] == {"pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert cycles(graph, allowed={("pkg.c", "pkg.a")}) == []


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _sources() -> list[tuple[str, str]]:
    return [(path.relative_to(SRC).as_posix(), path.read_text(encoding="utf-8"))
            for path in sorted(SRC.rglob("*.py"))]


def test_no_file_above_500_lines():
    long = {name: len(text.splitlines()) for name, text in _sources()
            if len(text.splitlines()) > MAX_FILE_LINES}
    assert set(long) - set(FILE_ALLOWED) == set(), f"files above {MAX_FILE_LINES} lines: {long}"
    fixed = set(FILE_ALLOWED) - set(long)
    assert not fixed, f"now within the limit, drop from FILE_ALLOWED: {fixed}"


def test_no_function_above_80_lines_without_a_reason():
    long = {}
    for name, text in _sources():
        for node in _functions(ast.parse(text)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and \
                    LONG_FUNCTION_REASON not in (ast.get_docstring(node) or ""):
                long[f"{name}:{node.name}"] = length
    unexplained = set(long) - set(FUNCTION_ALLOWED)
    assert not unexplained, f"functions above {MAX_FUNCTION_LINES} lines: " \
                            f"{ {k: long[k] for k in unexplained} }"
    fixed = set(FUNCTION_ALLOWED) - set(long)
    assert not fixed, f"now within the limit, drop from FUNCTION_ALLOWED: {fixed}"


@pytest.mark.parametrize("folder", ["fit", "laws"])
def test_fitting_core_keeps_the_limits_with_no_allowance(folder):
    for name, text in _sources():
        if not name.startswith(folder + "/"):
            continue
        assert len(text.splitlines()) <= MAX_FILE_LINES, name
        for node in _functions(ast.parse(text)):
            if f"{name}:{node.name}" in FUNCTION_ALLOWED:
                continue
            assert node.end_lineno - node.lineno + 1 <= MAX_FUNCTION_LINES, \
                f"{name}:{node.name}"
