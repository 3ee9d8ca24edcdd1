"""``scalinglab report`` and the HTML writer: sources, figures left out with reasons, bad input.

The CLI is exercised through the installed console script in a subprocess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.fit import fit_parametric
from scalinglab.report import html as report_html
from scalinglab.report.sources import inputs_from_table, load_source
from tests.clihelp import assert_one_line_error, run_script
from tests.isoflop_tables import hoffmann_isoflop_runs

EPOCH_CSV = (Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla"
             / "epoch_svg_extracted_data.csv")
EPOCH_COLUMNS = 'N="Model Size",C="Training FLOP",loss=loss'


def _runs(seed: int = 0) -> pd.DataFrame:
    """Five IsoFLOP lines of the Hoffmann 2022 law, 7 sizes each, 1% multiplicative noise."""
    return hoffmann_isoflop_runs(seed=seed)


def _figures(html: str) -> list[str]:
    return re.findall(r'<figure id="fig-[a-z_]+" data-figure="([a-z_]+)"', html)


def _omitted(html: str) -> list[str]:
    return re.findall(r'data-omitted="([a-z_]+)"', html)


def _assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "@import" not in html and "url(http" not in html
    # every src/href is a fragment or a data: URL (the SVG namespaces are not fetched)
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("#", "data:")), attr


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "runs.csv"
    _runs().to_csv(path, index=False)
    return path


def test_epoch_table_report_has_the_required_figures(tmp_path):
    if not EPOCH_CSV.is_file():
        pytest.skip(f"shared data not found at {EPOCH_CSV} (expected ../shared beside the repo)")
    out = tmp_path / "r.html"
    done = run_script("report", str(EPOCH_CSV), "--columns", EPOCH_COLUMNS, "--derive-tokens",
                      "--bootstrap", "100", "-o", str(out), timeout=300)
    assert done.code == 0, done.stderr
    assert f"wrote {out}" in done.stdout.replace("\n", "")
    html = out.read_text()
    figures = _figures(html)
    assert {"loss_contours", "optimal_allocation", "residuals", "loss_vs_compute"} <= set(figures)
    assert html.count("<svg") == len(figures)
    _assert_self_contained(html)
    # the summary carries the fitted parameters with intervals and the frontier's target
    assert "Fitted parameters (Approach 3)" in html
    assert re.search(r"<td>alpha</td><td class=\"num\">0\.3\d+</td>", html)
    assert "Compute-optimal frontier at C = " in html
    # every run shows up in the table, the exact command in the reproduce section
    assert "245 rows" in html
    assert "scalinglab report " in html and "--derive-tokens" in html


def test_table_report_json_and_omitted_reasons(table, tmp_path):
    out = tmp_path / "r.html"
    done = run_script("report", str(table), "--bootstrap", "50", "-o", str(out), "--json",
                      "--compute", "1e21", timeout=300)
    assert done.code == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["figures"] == ["loss_vs_compute", "isoflop_profiles", "optimal_allocation",
                                  "loss_contours", "residuals"]
    assert set(payload["omitted"]) == {"prediction_vs_measurement", "backtest"}
    html = out.read_text()
    assert _figures(html) == payload["figures"]
    assert _omitted(html) == list(payload["omitted"])
    assert "only `scalinglab demo` makes one" in html
    assert "C = 1.00e21 FLOPs (given on the command line)" in html
    assert "IsoFLOP profiles (Approach 2)" in html
    # law="auto" (the default): the candidates' backtest table and why the answer uses its law
    assert 'id="law-selection"' in html and "chosen by nested backtests" in html
    for name in ("chinchilla", "chinchilla_noE", "overtrain", "kaplan"):
        assert f'data-candidate="{name}"' in html
    used = re.findall(r'data-candidate="(\w+)">.*?<td>used</td>', html)
    assert len(used) == 1 and f"<b>{used[0]}</b>" in html
    assert "<p>Law: " in html


def test_fit_json_report_needs_runs_for_residuals(table, tmp_path):
    fit = fit_parametric(_runs(), "chinchilla", bootstrap=30, seed=0)
    path = fit.save(tmp_path / "fit.json")
    alone = run_script("report", str(path), "-o", str(tmp_path / "a.html"), "--json")
    assert alone.code == 0, alone.stderr
    payload = json.loads(alone.stdout)
    assert "residuals" in payload["omitted"] and "--runs" in payload["omitted"]["residuals"]
    assert "loss_contours" in payload["figures"]
    # a fit file does not know the compute range of its data: those figures say so
    for key in ("loss_vs_compute", "optimal_allocation"):
        assert "compute range" in payload["omitted"][key]
    both = run_script("report", str(path), "--runs", str(table), "-o",
                      str(tmp_path / "b.html"), "--json")
    assert both.code == 0, both.stderr
    assert {"loss_vs_compute", "optimal_allocation", "loss_contours",
            "residuals"} <= set(json.loads(both.stdout)["figures"])


def test_demo_folder_report_shows_prediction_and_verdict(tmp_path):
    runs = _runs()
    fit = fit_parametric(runs, "chinchilla", bootstrap=30, seed=0)
    folder = tmp_path / "demo"
    folder.mkdir()
    fit.save(folder / "fit_approach3.json")
    validation = {"run_id": "val", "n_params": 4e9, "tokens": 8e10, "flops": 6 * 4e9 * 8e10,
                  "final": True}
    predicted = fit.predict_interval(level=0.9, kind="law", N=4e9, D=8e10)
    measured = float(predicted["loss"]) * 1.01
    pd.concat([runs, pd.DataFrame([{**validation, "loss": measured}])]).to_csv(
        folder / "runs.csv", index=False)
    prediction = {"loss": float(predicted["loss"]), "low": float(predicted["low"]),
                  "high": float(predicted["high"]), "level": 0.9, "n_params": 4e9,
                  "tokens": 8e10, "flops": validation["flops"], "run": "val"}
    (folder / "prediction.json").write_text(json.dumps(prediction))
    summary = {"corpus": "kjv", "seed": 3, "prediction": prediction, "measured_loss": measured,
               "relative_error": (prediction["loss"] - measured) / measured,
               "inside_interval": prediction["low"] <= measured <= prediction["high"],
               "extrapolation_factor": 10.0, "validation_flops": validation["flops"],
               "wall_seconds": 321.5, "validation": {"name": "val", "warnings": []},
               "approach3": {"fit_min_steps": 0}, "approach2_error": "too few budgets",
               "tasks": [{"task": "acc_cloze", "chance": 0.25, "level": 0.9, "predicted": 0.8181,
                          "low": 0.7652, "high": 0.8499, "measured": 0.87,
                          "inside_interval": False, "via": "task_loss",
                          "intermediate": "task_loss_cloze",
                          "warnings": ["acc_cloze: the target lies 0.184 nats beyond the "
                                       "fitted runs' best"]},
                         {"task": "acc_continuation", "refused": "every fitted model is within "
                          "noise of chance 0.25"}]}
    (folder / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "demo.html"
    done = run_script("report", str(folder), "-o", str(out), "--json")
    assert done.code == 0, done.stderr
    payload = json.loads(done.stdout)
    assert "prediction_vs_measurement" in payload["figures"]
    assert payload["omitted"]["isoflop_profiles"].endswith("too few budgets")
    html = out.read_text()
    assert "Scaling-law study: kjv" in html
    assert f"{measured:.4g}" in html and "-0.99%" in html
    assert "sweep seed 3" in html and "321.5 s (the demo, end to end)" in html
    # the validation run is not among the sweep's rows
    assert f"{len(runs)} rows" in html
    # each task's frozen accuracy prediction beside the measurement, or the chain's refusal
    assert re.search(r"Task cloze:</b> predicted accuracy 0\.818 \(90% run interval "
                     r"0\.765–0\.850; chance 0\.25; through the task_loss_cloze\); "
                     r"measured 0\.870\s*<span class=\"tag outside\">OUTSIDE", html)
    assert "Task continuation:</b> not predicted: every fitted model is within noise" in html
    assert "<li>warning: acc_cloze: the target lies 0.184 nats beyond" in html


def test_failing_figure_is_left_out_with_its_reason(monkeypatch, tmp_path):
    from scalinglab import report

    def broken(*args, **kwargs):
        raise RuntimeError("contour grid exploded\nsecond line")

    monkeypatch.setattr(report, "loss_contours", broken)
    inputs = inputs_from_table(_runs(), "runs.csv", bootstrap=20)
    written = report_html.write_report(tmp_path / "r.html", inputs)
    assert written.omitted["loss_contours"] == "contour grid exploded"
    assert "loss_contours" not in written.figures and "residuals" in written.figures
    html = (tmp_path / "r.html").read_text()
    assert "<b>Contours of the fitted loss</b>: contour grid exploded" in html
    assert "second line" not in html


def test_figures_are_deterministic():
    inputs = inputs_from_table(_runs(), "runs.csv", bootstrap=20, seed=1)
    first = [f.svg for f in report_html.build_figures(inputs)]
    again = [f.svg for f in report_html.build_figures(
        inputs_from_table(_runs(), "runs.csv", bootstrap=20, seed=1))]
    assert first == again and any(s is not None for s in first)


def test_svg_ids_are_unique_across_figures():
    inputs = inputs_from_table(_runs(), "runs.csv", bootstrap=20)
    ids: list[str] = []
    for figure in report_html.build_figures(inputs):
        if figure.svg is not None:
            ids += re.findall(r'\bid="([^"]+)"', figure.svg)
            refs = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', figure.svg)
            own = set(re.findall(r'\bid="([^"]+)"', figure.svg))
            assert all((a or b) in own for a, b in refs)
    assert len(ids) == len(set(ids)) > 0


def test_fit_report_option(table, tmp_path):
    out = tmp_path / "fit.html"
    done = run_script("fit", str(table), "--bootstrap", "30", "--report", str(out))
    assert done.code == 0, done.stderr
    assert {"loss_vs_compute", "optimal_allocation", "loss_contours",
            "residuals"} <= set(_figures(out.read_text()))


def test_bad_sources_are_one_line_errors(tmp_path):
    empty = tmp_path / "not-results"
    empty.mkdir()
    assert_one_line_error(run_script("report", str(empty), "-o", str(tmp_path / "x.html")),
                          "not a scalinglab results directory")
    fit = fit_parametric(_runs(), "chinchilla", bootstrap=0)
    data = fit.to_dict()
    data["version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(data))
    assert_one_line_error(run_script("report", str(future), "-o", str(tmp_path / "x.html")),
                          "format version 99", "reads version 2")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something.else"}))
    assert_one_line_error(run_script("report", str(other), "-o", str(tmp_path / "x.html")),
                          "something.else")
    assert_one_line_error(run_script("report", str(tmp_path / "missing.csv")), "does not exist")
    assert not (tmp_path / "x.html").exists()


def test_load_source_reads_a_sweep_store(tmp_path):
    from scalinglab.sweep.store import SQLiteRunStore

    with SQLiteRunStore(tmp_path) as store:
        assert store.records().empty
    with pytest.raises(Exception, match="no finished runs"):
        load_source(tmp_path)


def test_a_textbook_sweep_without_flops_gets_its_isoflop_profiles(tmp_path):
    # compute is C = 6ND, as the fits count it (row_compute), so the profiles are drawn
    inputs = inputs_from_table(_runs().drop(columns=["flops"]), "runs.csv", bootstrap=20)
    assert inputs.isoflop is not None and inputs.isoflop_error is None
    written = report_html.write_report(tmp_path / "r.html", inputs)
    assert "isoflop_profiles" in written.figures


def test_the_frontier_table_carries_the_warnings_of_its_answer(table, tmp_path):
    """Curves of two model sizes: the frontier at the target says, under its table, that two
    sizes cannot split compute between N and D (guard few_sizes); the 7-size sweep does not."""
    from scalinglab.laws import get_preset

    law = get_preset("hoffmann2022-unrounded").law
    rows = [(f"n{n:.0e}", n, d, float(law.predict(N=n, D=d)))
            for n in (1e8, 4e8) for d in (1e9, 2e9, 4e9, 8e9, 1.6e10, 3.2e10)]
    two = tmp_path / "two.csv"
    pd.DataFrame(rows, columns=["run_id", "n_params", "tokens", "loss"]).to_csv(two, index=False)
    out = tmp_path / "two.html"
    done = run_script("fit", str(two), "--law", "chinchilla", "--checkpoints-after", "0",
                      "--bootstrap", "0", "--compute", "1e20", "--report", str(out))
    assert done.code == 0, done.stderr
    warnings = re.findall(r'<p class="frontier-warning"><b>Warning:</b> ([^<]*)</p>',
                          out.read_text())
    assert any("the fit saw 2 model size(s)" in w for w in warnings), warnings
    many = tmp_path / "many.html"
    assert run_script("fit", str(table), "--bootstrap", "0", "--compute", "1e20", "--report",
                      str(many)).code == 0
    assert "model size(s)" not in many.read_text()


def test_a_report_written_by_the_command_line_speaks_its_flags(tmp_path):
    """The fit's remedies name settings; a report written by `fit --report` names the flags
    (--E-bounds), as the terminal does, not the Python keywords (E_bounds)."""
    import numpy as np

    rng = np.random.default_rng(1)
    N, D = 10 ** rng.uniform(7, 9.5, 40), 10 ** rng.uniform(9, 11.5, 40)
    path = tmp_path / "noE.csv"
    pd.DataFrame({"run_id": [f"r{i}" for i in range(40)], "n_params": N, "tokens": D,
                  "loss": 400 / N**0.34 + 410 / D**0.28}).to_csv(path, index=False)
    out = tmp_path / "noE.html"
    done = run_script("fit", str(path), "--law", "chinchilla", "--bootstrap", "0",
                      "--report", str(out))
    assert done.code == 0, done.stderr
    text = out.read_text()
    assert "remedies: bound or fix E (--E-bounds, --E-fixed or --E-prior)" in text
    assert "E_bounds" not in text
