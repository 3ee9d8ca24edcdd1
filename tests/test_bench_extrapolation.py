"""bench/extrapolation.py: task definitions reproduce the data README, the harness runs end to end.

Needs ../shared/data/scaling-dev (and the Epoch CSV for the backtest check); skips without them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import EPOCH_CSV, REPO, SHARED, shared_file

DEV = SHARED / "data" / "scaling-dev"
SCRIPT = REPO / "bench" / "extrapolation.py"


@pytest.fixture(scope="module")
def bench():
    shared_file(DEV / "baselines.json")
    spec = importlib.util.spec_from_file_location("bench_extrapolation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def baselines(bench):
    return bench.load_baselines()


def _reference_entry(bench, task, baselines):
    name, part = task.ref
    entry = next(e for e in baselines[task.family] if e["name"] == name)
    if entry["kind"] == "nd_multi":
        entry = next(p for p in entry["parts"] if p["name"] == part)
    return entry


def test_every_task_selects_the_readme_fit_rows_and_targets(bench, baselines):
    """Row counts, target runs and the naive baseline match baselines.json for every task."""
    tasks = bench.dev_tasks()
    assert {t.family for t in tasks} == set(bench.DEV_FAMILIES)
    frames = {f: bench.load_family(f) for f in bench.DEV_FAMILIES}
    for task in tasks:
        fit_rows, targets = task.select(frames[task.family])
        entry = _reference_entry(bench, task, baselines)
        per_target = entry["per_target"]
        if task.ref[1] is not None and entry.get("kind") == "curve":
            per_target = [t for t in per_target if t["run_id"] == task.ref[1]]
            assert len(bench.plain_subset(task, fit_rows)) == per_target[0]["n_fit"], task.key
        else:
            assert len(bench.plain_subset(task, fit_rows)) == entry["n_fit"], task.key
        assert sorted(targets["run_id"]) == sorted(t["run_id"] for t in per_target), task.key
        true = targets.set_index("run_id")["loss"]
        for t in per_target:
            assert true[t["run_id"]] == pytest.approx(t["true"], rel=1e-6), task.key
        naive = bench.method_naive(task, fit_rows, targets, 0)
        expected = [t["are_naive"] for t in per_target]
        got = bench.score(naive, targets["loss"].to_numpy(dtype=float))["are"]
        assert got == pytest.approx(np.mean(expected), rel=1e-6), task.key
        # no target leaks into the fit rows: other runs, or later rows of the same run
        if task.law == "L(D)":
            assert targets["tokens"].min() > fit_rows["tokens"].max(), task.key
        else:
            assert not set(targets["run_id"]) & set(fit_rows["run_id"]), task.key


def test_plain_fit_reproduces_the_readme_baseline(bench, baselines):
    """scalinglab's plain Chinchilla fit lands on the README's plain-fit predictions."""
    tasks = {t.key: t for t in bench.dev_tasks()}
    for key in ("chinchilla/C<2e21->C>4e21", "datablations/c4-1epoch"):
        task = tasks[key]
        fit_rows, targets = task.select(bench.load_family(task.family))
        pred = bench.method_plain(task, fit_rows, targets, 0)
        assert pred.error is None
        ref = bench.reference_predictions(task, baselines)
        expected = np.array([ref[r] for r in targets["run_id"]])
        np.testing.assert_allclose(pred.point, expected, rtol=2e-3)


def test_failures_are_recorded_not_skipped(bench):
    """A fit that raises is recorded with its message and a nan score, never dropped."""
    task = next(t for t in bench.dev_tasks() if t.key == "pythia_pile_test/pile")
    methods = {"naive": bench.method_naive,
               "broken": bench.make_scalinglab_method({"law": "no-such-law"})}
    tr = bench.run_task(task, bench.load_family(task.family), methods, 0)
    assert tr.predictions["broken"].error.startswith("SettingError: law must be one of")
    assert math.isnan(tr.scores["broken"]["are"]) and tr.scores["broken"]["n_intervals"] == 0
    summary = bench.summarise([tr], list(methods))
    assert summary["broken"]["subtasks_failed"] == 1
    assert math.isnan(summary["broken"]["mean_are_families"])
    assert summary["naive"]["subtasks_failed"] == 0


def test_default_method_matches_the_library_backtest(bench):
    """On the Epoch cut at 1e21 the harness's scalinglab method equals scalinglab's backtest
    with the same settings and rows (both with the Chinchilla law pinned; the defaults of
    both, ``backtest``'s and the harness's ``default``, let the law be chosen)."""
    from scalinglab.fit import backtest

    shared_file(EPOCH_CSV)
    task = next(t for t in bench.epoch_tasks() if t.name == "cut 1e+21")
    frame = bench.load_family("epoch")
    fit_rows, targets = task.select(frame)
    assert (fit_rows["flops"] < 1e21).all() and len(targets) == 23
    pred = bench.make_scalinglab_method({"law": "chinchilla"})(task, fit_rows, targets, 0)
    assert pred.error is None
    ref = backtest(frame, cut_flops=1e21, law="chinchilla").per_run.set_index("run_id")["predicted"]
    np.testing.assert_allclose(pred.point, ref[targets["run_id"]].to_numpy(), rtol=1e-9)


def test_centre_moves_the_interval_to_a_bootstrap_summary(bench):
    """--centre median: the point becomes the median of the bootstrap laws' predictions and the
    interval keeps its log half-width; the point centre is the library's prediction."""
    task = next(t for t in bench.dev_tasks() if t.key == "cerebras_gpt/SP<=2.7B")
    fit_rows, targets = task.select(bench.load_family(task.family))
    point = bench.make_scalinglab_method({})(task, fit_rows, targets, 40)
    median = bench.make_scalinglab_method({}, "median")(task, fit_rows, targets, 40)
    assert median.info["centre"] == "median"
    np.testing.assert_allclose(median.info["point_estimate"], point.point, rtol=1e-12)
    result = scalinglab_fit(fit_rows, 40)
    inputs = {v: targets[c].to_numpy(dtype=float) for v, c in result.columns.items()}
    draws = np.array([law.predict(**inputs) for law in result.draw_laws()])
    np.testing.assert_allclose(median.point, np.median(draws, axis=0), rtol=1e-12)
    assert not np.allclose(median.point, point.point)
    np.testing.assert_allclose(np.log(median.high / median.low),
                               np.log(point.high / point.low), rtol=1e-9)
    with pytest.raises(bench.BenchError, match="centre must be one of"):
        bench.bootstrap_centre(result, inputs, "mode")


def scalinglab_fit(rows, bootstrap):
    import scalinglab

    return scalinglab.fit(rows.reset_index(drop=True), bootstrap=bootstrap)


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / ".venv" / "bin" / "python"), str(SCRIPT), *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)


def test_script_end_to_end_with_a_variant(bench, tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("--tasks", "pythia_pile_test/pile,cerebras_gpt", "--bootstrap", "8",
                "--variant", 'fixedE={"E_fixed": 1.0}', "--json", str(out), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "summary over the development library" in proc.stdout
    data = json.loads(out.read_text())
    assert [t["name"] for t in data["tasks"]] == ["SP<=2.7B", "pile"]
    methods = data["settings"]["methods"]
    assert methods == ["naive", "plain_ref", "plain", "default", "fixedE"]
    for task in data["tasks"]:
        for name, m in task["methods"].items():
            # every method either scored every target or says why it could not
            scored = m["are"] is not None and math.isfinite(m["are"])  # JSON writes nan as null
            assert scored != (m["error"] is not None), (task["name"], name)
    pile = data["tasks"][1]["methods"]
    assert pile["fixedE"]["info"]["params"]["E"] == pytest.approx(1.0)
    assert pile["fixedE"]["per_target"][0]["pred"] != pile["default"]["per_target"][0]["pred"]
    summary = data["summary"]["default"]
    assert summary["subtasks"] == 2 and "vs_plain_ref" in summary
    assert summary["vs_plain_ref"]["families_compared"] == ["cerebras_gpt", "pythia_pile_test"]
    assert set(data["goals"]) == {"plain", "default", "fixedE"}
    assert "dev ARE >= 20% below plain_ref" in data["goals"]["default"]


@pytest.mark.parametrize("args, message", [
    (["--families", "nope"], "unknown family nope"),
    (["--variant", "x={bad"], "invalid JSON"),
    (["--variant", "default={}"], "clashes"),
    (["--variant", 'x={"bootstrap": 5}'], "set by the benchmark"),
    (["--methods", "naive,magic"], "unknown method(s) magic"),
    (["--tasks", "no-such-task"], "no task matches"),
    (["--bootstrap", "-1"], "--bootstrap must be >= 0"),
])
def test_bad_input_is_one_error_line(bench, capsys, args, message):
    assert bench.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_bad_input_from_the_command_line(bench, tmp_path):
    proc = _run("--families", "nope", tmp_path=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: unknown family nope") and "Traceback" not in proc.stderr


def test_every_library_file_is_a_family_and_new_ones_get_generic_tasks(bench):
    assert set(bench.DEV_FAMILIES) == {p.stem for p in DEV.glob("*.csv")}
    n = np.array([1e7, 2e7, 4e7, 8e7, 1.6e8])
    table = bench.pd.DataFrame({"run_id": [f"m{i}" for i in range(5)], "n_params": n,
                                "tokens": 20 * n, "loss": 3.0 - np.log10(n) / 10, "final": 1})
    (task,) = bench.generic_tasks("newfamily", table, bench.Task)
    fit_rows, targets = task.select(table)
    assert list(targets["run_id"]) == ["m4"] and len(fit_rows) == 4


def test_frontier_targets_are_the_lowest_loss_of_each_held_out_isoflop_bin(bench):
    from generalisation import BIN_DECADES, MIN_BIN_RUNS, frontier_tasks_for

    frame = bench.load_family("chinchilla")
    tasks = frontier_tasks_for("chinchilla", frame)
    assert len(tasks) == 2
    for task in tasks:
        fit_rows, targets = task.select(frame)
        assert (6 * fit_rows["n_params"] * fit_rows["tokens"] < task.cut).all()
        finals = frame[frame["final"].astype(bool)]
        c = np.log10(6 * finals["n_params"] * finals["tokens"])
        for _, row in targets.iterrows():
            b = np.round(np.log10(6 * row["n_params"] * row["tokens"]) / BIN_DECADES)
            same = finals[np.round(c / BIN_DECADES) == b]
            assert len(same) >= MIN_BIN_RUNS and row["loss"] == same["loss"].min()


def test_leave_one_family_out_chooses_without_the_family(bench):
    from generalisation import leave_one_family_out

    def fams(values):
        return {"families": {f: {"are": v} for f, v in values.items()}}
    summary = {"a": fams({"x": 0.01, "y": 0.01, "z": 0.50}),
               "b": fams({"x": 0.02, "y": 0.02, "z": 0.02})}
    out = leave_one_family_out(summary, ["a", "b"], base="none")
    chosen = {r["family"]: r["chosen_without"] for r in out["rows"]}
    assert out["in_sample_choice"] == "b"              # z's 50% decides with every family
    assert chosen == {"x": "b", "y": "b", "z": "a"}   # without z, a looks better
    assert out["lofo_mean"] == pytest.approx((0.02 + 0.02 + 0.50) / 3)


def test_leave_one_family_out_keeps_to_candidates_no_worse_than_the_base(bench):
    from generalisation import leave_one_family_out

    def fams(values):
        return {"families": {f: {"are": v} for f, v in values.items()}}
    # a has the lower mean but loses family y to the base by 0.5 point; b never does
    summary = {"a": fams({"x": 0.001, "y": 0.030, "z": 0.010}),
               "b": fams({"x": 0.020, "y": 0.026, "z": 0.020}),
               "base": fams({"x": 0.030, "y": 0.025, "z": 0.030})}
    out = leave_one_family_out(summary, ["a", "b"], base="base")
    chosen = {r["family"]: r["chosen_without"] for r in out["rows"]}
    assert out["in_sample_choice"] == "b"
    assert chosen == {"x": "b", "y": "a", "z": "b"}   # without y, a loses nothing
