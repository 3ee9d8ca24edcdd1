"""bench/downstream.py: its tasks and naive baselines reproduce the data README's, and it runs.

Needs ../shared/data/downstream-dev; skips without it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED, shared_file

DEV = SHARED / "data" / "downstream-dev"
SCRIPT = REPO / "bench" / "downstream.py"


@pytest.fixture(scope="module")
def bench():
    shared_file(DEV / "README.md")
    spec = importlib.util.spec_from_file_location("bench_downstream", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("suite", "task", "targets", "best", "line"), [
    ("pythia-size", "arc_easy", 4, 8.7, 10.2),           # values of the data README's tables
    ("ablation-1e21", "hellaswag", 36, 2.8, 0.7),
    ("pile-final-6e21", "arc_easy", 4, 3.8, 9.2),
    ("olmo-1b-to-7b", "piqa", 18, 3.1, 0.7),
])
def test_targets_and_baselines_match_the_data_readme(bench, suite, task, targets, best, line):
    chosen = next(s for s in bench.SUITES if s.name == suite)
    frame = bench.load(chosen)
    groups = [frame] if not chosen.per_run else [g for _, g in frame.groupby("run_id")]
    col, n, errs_best, errs_line = f"acc_{task}", 0, [], []
    for g in groups:
        fit_rows = g[chosen.fit(g) & g[col].notna()]
        tgt = g[chosen.target(g) & g[col].notna()]
        b, li = bench.baselines(fit_rows, tgt, col, chosen)
        truth = tgt[col].to_numpy(float)
        errs_best += list(abs(b - truth))
        errs_line += list(abs(li - truth))
        n += len(tgt)
    assert n == targets
    assert 100 * sum(errs_best) / n == pytest.approx(best, abs=0.051)
    assert 100 * sum(errs_line) / n == pytest.approx(line, abs=0.051)


def test_the_script_scores_a_task_and_writes_json(tmp_path):
    shared_file(DEV / "README.md")
    out = tmp_path / "ds.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--suites", "olmo-1b-to-7b", "--tasks",
                           "piqa,mmlu", "--bootstrap", "4", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "olmo-1b-to-7b" in proc.stdout and "overall: MAE" in proc.stdout
    data = json.loads(out.read_text())
    (piqa,) = [r for r in data["results"] if r["task"] == "piqa"]
    assert piqa["scored"] == 18 and piqa["via"] in ("loss", "loss+floor")   # +floor: link form
    assert 0 <= piqa["coverage"] <= 1 and piqa["mae"] >= 0
