"""Guards through the console script: one-line warnings, one-line refusals (exit 2) naming the
quantity, the limit and --allow-far, labelled intervals, and each guard named in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglab
from scalinglab.fit import FitResult
from tests.clihelp import assert_one_line_error, run_inprocess, run_script
from tests.test_guards import sweep


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("guards")
    table = sweep()
    paths = {"iso": d / "iso.csv", "flat": d / "flat.csv", "millions": d / "millions.csv",
             "fit": d / "fit.json", "power": d / "power.json"}
    table.to_csv(paths["iso"], index=False)
    table.assign(loss=3.0).to_csv(paths["flat"], index=False)
    table.assign(n_params=table["n_params"] / 1e6).to_csv(paths["millions"], index=False)
    result = run_inprocess("fit", str(paths["iso"]), "--bootstrap", "30", "--out",
                           str(paths["fit"]))
    assert result.code == 0, result.stderr
    result = run_inprocess("fit", str(paths["iso"]), "--law", "power", "--variable", "N",
                           "--bootstrap", "0", "--out", str(paths["power"]))
    assert result.code == 0, result.stderr
    return paths


def test_predict_far_is_refused_in_one_line(files):
    result = run_script("predict", "--fit", str(files["fit"]), "--params", "1e15",
                        "--tokens", "1e18")
    line = assert_one_line_error(result, "decades above the largest fitted", "refused past",
                                 "--allow-far")
    assert "D = 1e+18 tokens lies 7.61 decades" in line and "(also N, C past" in line


def test_predict_below_the_data_is_refused(files):
    result = run_inprocess("predict", "--fit", str(files["fit"]), "--params", "1e6",
                           "--tokens", "1e3")
    assert_one_line_error(result, "below the smallest fitted", "--allow-far")


def test_allow_far_answers_with_warnings_and_an_interval_above_the_floor(files):
    fit = FitResult.load(files["fit"])
    result = run_script("predict", "--fit", str(files["fit"]), "--params", "1e18", "--tokens",
                        "1e21", "--allow-far", "--json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["kind"] == "run" and payload["label"] == "90% run interval"
    names = {(g["name"], g["quantity"]) for g in payload["guards"]}
    assert {("distance", "N"), ("distance", "D"), ("distance", "C"), ("floor", "loss")} <= names
    distance = next(g for g in payload["guards"] if g["quantity"] == "N")
    assert distance["decades"] > 2 and distance["limit"] == 1.0 and distance["action"] == "warn"
    assert payload["low"] >= fit.loss_floor(0.9) - 1e-9
    text = run_inprocess("predict", "--fit", str(files["fit"]), "--params", "1e18",
                         "--tokens", "1e21", "--allow-far")
    assert text.code == 0
    warnings = [ln for ln in text.stdout.splitlines() if ln.startswith("warning: ")]
    assert any("N = 1e+18 parameters" in ln for ln in warnings)


def test_frontier_labels_each_kind_and_refuses_far_compute(files):
    near = run_inprocess("frontier", "--fit", str(files["fit"]), "--compute", "1e19")
    assert near.code == 0, near.stderr
    flat = " ".join(near.stdout.split())
    assert "90% parameter intervals" in flat and "loss: 90% run interval" in flat
    payload = json.loads(run_inprocess("frontier", "--fit", str(files["fit"]), "--compute",
                                       "1e19", "--json").stdout)
    front = payload["frontier"][0]
    assert front["loss"]["kind"] == "run" and front["N_opt"]["kind"] == "parameter"
    far = run_inprocess("frontier", "--fit", str(files["fit"]), "--compute", "1e35")
    assert_one_line_error(far, "decades above", "--allow-far")
    far_fit = run_inprocess("fit", str(files["iso"]), "--bootstrap", "0", "--compute", "1e35")
    assert_one_line_error(far_fit, "decades above", "--allow-far")


def test_plan_refuses_1e300_flops_and_never_prints_an_absurd_interval(files):
    refused = run_script("plan", "--budget-flops", "1e300", "--fit", str(files["fit"]))
    assert_one_line_error(refused, "decades above", "--allow-far")
    preset = run_inprocess("plan", "--budget-flops", "1e300")
    assert_one_line_error(preset, "decades above", "--allow-far")
    allowed = run_inprocess("plan", "--budget-flops", "1e300", "--fit", str(files["fit"]),
                            "--allow-far", "--json")
    assert allowed.code == 0, allowed.stderr
    loss = json.loads(allowed.stdout)["loss"]
    assert loss["kind"] == "run"
    assert FitResult.load(files["fit"]).loss_floor(0.9) - 1e-9 <= loss["low"] < loss["value"]
    assert loss["high"] < 2 * loss["value"]


def test_nonsense_fits_stop_in_one_line(files):
    assert_one_line_error(run_inprocess("fit", str(files["flat"]), "--bootstrap", "0"),
                          "losses are flat")
    assert_one_line_error(run_inprocess("fit", str(files["iso"]), "--E-fixed", "5",
                                        "--bootstrap", "0"),
                          "fixed E = 5", "above the lowest loss")


def test_units_warning_is_printed_and_named_in_the_json(files):
    text = run_inprocess("fit", str(files["millions"]), "--bootstrap", "0")
    assert text.code == 0
    assert "tokens per parameter" in " ".join(text.stdout.split())
    payload = json.loads(run_inprocess("fit", str(files["millions"]), "--bootstrap", "0",
                                       "--json").stdout)
    assert any(g["name"] == "units" and g["quantity"] == "D/N" for g in payload["guards"])


def test_a_power_law_in_n_says_it_ignores_tokens(files):
    result = run_inprocess("predict", "--fit", str(files["power"]), "--params", "1e8",
                           "--tokens", "2e9")
    assert result.code == 0, result.stderr
    assert "does not use D" in " ".join(result.stdout.split())


def test_plan_of_a_law_in_one_variable_says_what_to_do_instead(files):
    result = run_script("plan", "--fit", str(files["power"]), "--budget-flops", "1e21")
    assert_one_line_error(result, "not power")
    assert "predict single runs" in result.stderr


def test_predict_with_compute_alone_on_a_law_in_n_and_d_points_to_frontier(files):
    result = run_script("predict", "--fit", str(files["fit"]), "--compute", "1e20")
    assert_one_line_error(result, "needs --params")
    assert "scalinglab frontier --compute" in result.stderr


def test_rows_marked_not_final_without_run_ids_are_flagged(tmp_path):
    # without run ids every row is its own run, so checkpoint rows (final = 0) would be fitted
    # as finished runs; the user is told, by the console script and by the API
    table = sweep().drop(columns="run_id")
    table["final"] = 1
    early = table.assign(tokens=table["tokens"] / 2, loss=table["loss"] * 1.05, final=0)
    path = tmp_path / "no_ids.csv"
    pd.concat([table, early]).to_csv(path, index=False)
    result = run_script("fit", str(path), "--bootstrap", "0", "--json")
    assert result.code == 0, result.stderr
    warned = [w for w in json.loads(result.stdout)["warnings"] if "no run id column" in w]
    assert len(warned) == 1 and f"{len(early)} row(s) with final = false" in warned[0]
    text = run_script("fit", str(path), "--bootstrap", "0")
    assert text.code == 0, text.stderr
    assert " ".join(text.stdout.split()).count("warning: the table has no run id column") == 1
    fitted = scalinglab.fit(pd.read_csv(path), bootstrap=0)
    assert any("no run id column" in w for w in fitted.warnings)
    quiet = scalinglab.fit(table, bootstrap=0)  # every row final: nothing to say
    assert not any("no run id column" in w for w in quiet.warnings)


def test_a_compute_optimal_split_from_two_model_sizes_is_flagged(tmp_path):
    """Loss curves of two model sizes determine the D term, not the N term: the frontier and the
    plan warn that the split of compute between N and D is not the data's (guard few_sizes);
    the isoFLOP sweep of 25 sizes does not."""
    from tests.test_guards import TRUTH

    tokens = np.logspace(8, 10.5, 12)
    rows = [(f"n{n:.0e}", n, d, TRUTH.predict(N=n, D=d)) for n in (1e8, 4e8) for d in tokens]
    path = tmp_path / "two.csv"
    pd.DataFrame(rows, columns=["run_id", "n_params", "tokens", "loss"]).to_csv(path, index=False)
    fit_path = tmp_path / "two.json"
    assert run_inprocess("fit", str(path), "--law", "chinchilla", "--bootstrap", "0",
                         "--checkpoints-after", "0", "--out", str(fit_path)).code == 0
    assert FitResult.load(fit_path).model_sizes() == 2
    shown = run_script("frontier", "--fit", str(fit_path), "--compute", "1e20")
    assert shown.code == 0 and "the fit saw 2 model size(s)" in " ".join(shown.stdout.split()
                                                                         + shown.stderr.split())
    payload = json.loads(run_inprocess("frontier", "--fit", str(fit_path), "--compute", "1e20",
                                       "--json").stdout)
    assert "few_sizes" in [g["name"] for g in payload["frontier"][0]["guards"]]
    plan = json.loads(run_inprocess("plan", "--fit", str(fit_path), "--budget-flops", "1e20",
                                    "--json").stdout)
    assert "few_sizes" in [g["name"] for g in plan["guards"]]

def test_an_isoflop_sweep_of_many_sizes_has_no_few_sizes_guard(files):
    payload = json.loads(run_inprocess("frontier", "--fit", str(files["fit"]), "--compute",
                                       "1e19", "--json").stdout)
    assert FitResult.load(files["fit"]).model_sizes() == 25
    assert "few_sizes" not in [g["name"] for g in payload["frontier"][0]["guards"]]
