"""Run-level prediction intervals, the default row choices, and where they reach users."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglab
from scalinglab.compute import CostModel
from scalinglab.compute.planner import plan_for_budget
from scalinglab.compute.uncertain_law import UncertainLaw
from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit import FitResult, fit_parametric
from scalinglab.fit.intervals import (
    DEFAULT_SLOPE,
    _moment_slope,
    extrapolation_distance,
    weighted_conformal_quantile,
)
from scalinglab.fit.rows import frontier_mask
from scalinglab.laws import get_preset

TRUTH = get_preset("hoffmann2022-unrounded").law


def sweep(seed: int = 0, sigma: float = 0.01, budgets=None, per: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for C in (np.logspace(18, 21, 7) if budgets is None else budgets):
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.logspace(-0.6, 0.6, per):
            rows.append((n_opt * f, C / (6 * n_opt * f)))
    a = np.array(rows)
    loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, sigma, len(a)))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                         "tokens": a[:, 1], "loss": loss})


@pytest.fixture(scope="module")
def fitted():
    return fit_parametric(sweep(), bootstrap=60, seed=0)


# -- the interval -------------------------------------------------------------------------------
def test_run_interval_is_wider_than_law_and_grows_with_distance(fitted):
    near = {"N": 1e9, "D": 2e10}          # inside the sweep (2e19 FLOPs)
    far = {"N": 1e11, "D": 2e12}          # ~1000x beyond the largest budget
    law_far = fitted.predict_interval(kind="law", **far)
    run_far = fitted.predict_interval(**far)
    run_near = fitted.predict_interval(**near)
    assert run_far["kind"] == "run" and law_far["kind"] == "law"
    assert run_far["low"] < law_far["low"] < law_far["high"] < run_far["high"]
    width = lambda b: np.log(b["high"] / b["low"])  # noqa: E731
    # a well-specified sweep: the form's error (kappa) is ~0, the parameters' sd grows instead
    assert width(run_far) > 1.5 * width(run_near)
    assert run_far["components"]["parameters_sd_log"] > \
        3 * run_near["components"]["parameters_sd_log"]
    c = run_far["components"]
    assert c["distance_decades"] == pytest.approx(
        np.log10(6 * far["N"] * far["D"] / fitted.run_interval.reference["C"]))
    assert sum(c["share"][k] for k in ("parameters", "run_scatter", "extrapolation")) == \
        pytest.approx(1.0)
    assert c["calibrated"] and "nested backtests" in c["calibration"]
    assert run_near["components"]["distance_decades"] == 0.0


def test_vectorised_and_scalar_inputs_agree(fitted):
    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    both = fitted.predict_interval(N=N, D=D)
    one = fitted.predict_interval(N=7e10, D=1.4e12)
    assert both["high"][1] == pytest.approx(one["high"])
    assert np.shape(both["components"]["distance_decades"]) == (2,)


def test_bad_kind_level_and_inputs(fitted):
    with pytest.raises(ScalingLabError, match="kind must be 'run'"):
        fitted.predict_interval(kind="both", N=1e9, D=1e10)
    with pytest.raises(ScalingLabError, match="level"):
        fitted.predict_interval(1.5, N=1e9, D=1e10)
    for bad in (np.nan, -1.0, 0.0):
        with pytest.raises(ScalingLabError, match="finite and > 0"):
            fitted.predict_interval(N=bad, D=1e10)


def test_json_round_trip_keeps_the_run_interval(fitted, tmp_path):
    back = FitResult.load(fitted.save(tmp_path / "fit.json"))
    a = fitted.predict_interval(N=7e10, D=1.4e12)
    b = back.predict_interval(N=7e10, D=1.4e12)
    assert (a["low"], a["high"]) == pytest.approx((b["low"], b["high"]))
    assert json.loads((tmp_path / "fit.json").read_text())["run_interval"]["calibrated"]


def test_uncalibrated_fit_says_so_and_uses_the_default_slope():
    tiny = sweep(budgets=[1e18, 1e19], per=4)      # 8 runs: too few cuts to calibrate
    result = fit_parametric(tiny.iloc[:7])
    model = result.run_interval
    assert not model.calibrated and model.slope == DEFAULT_SLOPE
    band = result.predict_interval(N=1e10, D=2e11)
    assert "NOT calibrated" in band["components"]["calibration"]
    # q: Student's t on the scatter's residual degrees of freedom (7 runs - 5 parameters)
    from scipy.stats import t

    assert model.details["scatter_dof"] == result.n_runs - 5
    assert band["components"]["multiplier"] == pytest.approx(t.ppf(0.95, result.n_runs - 5))
    assert "Student's t multiplier on 2 residual degree(s)" in band["components"]["calibration"]


def test_cuts_between_compute_levels_hold_out_whole_levels():
    budgets = np.logspace(18, 21, 7)
    table = sweep(budgets=budgets, per=5)
    table["flops"] = 6 * table["n_params"] * table["tokens"]
    cuts = [float(np.sqrt(a * b)) for a, b in zip(budgets[3:-1], budgets[4:], strict=True)]
    model = fit_parametric(table, calibration_cuts=cuts[::-1]).run_interval
    assert model.calibrated and model.details["cuts"] == sorted(cuts)
    assert model.details["n_scores"] == 5 + 10 + 15   # the levels above each cut, held out
    assert "at the given compute cuts" in model_method(model)
    default = fit_parametric(table).run_interval
    assert default.details["cuts_given"] is None and default.details["cuts"] != sorted(cuts)
    for bad in ([], [0.0], [float("nan")], [-1e20]):
        with pytest.raises(ScalingLabError, match="calibration_cuts must be FLOP counts > 0"):
            fit_parametric(table, calibration_cuts=bad)


def model_method(model) -> str:
    from scalinglab.fit.interval_text import describe_method

    return describe_method(model)


def test_calibrate_false_refuses_run_kind_but_keeps_law_kind():
    result = fit_parametric(sweep(), bootstrap=20, calibrate=False)
    with pytest.raises(FitError, match="no run-interval calibration"):
        result.predict_interval(N=1e10, D=2e11)
    assert "low" in result.predict_interval(kind="law", N=1e10, D=2e11)


def test_a_flat_E_direction_widens_the_interval():
    # one decade of compute and noisy losses: E is poorly determined
    df = sweep(seed=11, sigma=0.03, budgets=np.logspace(15, 16, 3), per=5)
    result = fit_parametric(df, bootstrap=40, seed=0)
    far = result.predict_interval(N=1e10, D=2e11, allow_far=True)  # 4+ decades away
    profile = [p for p in result.run_interval.profile if p["lr"] <= 2.706]
    assert len(profile) >= 3                          # many E values fit the data about as well
    assert far["components"]["flat_direction_sd_log"] > 0
    assert far["components"]["parameters_sd_log"] >= far["components"]["bootstrap_sd_log"]


# -- pieces -------------------------------------------------------------------------------------
def test_conformal_quantile_and_distance():
    scores = np.arange(1.0, 101.0)
    q = weighted_conformal_quantile(scores, np.ones(100), 0.9)
    assert q == 91.0                                    # ceil(0.9 * 101) = 91st smallest
    # too few scores to certify 90% (n <= 9): Student's t prediction multiplier of their RMS,
    # t(0.95, 4) = 2.1318 x sqrt(1 + 1/5) x sqrt(mean(1, 4, 9, 16, 25))
    assert weighted_conformal_quantile(scores[:5], np.ones(5), 0.9) == \
        pytest.approx(2.131847 * np.sqrt(1.2) * np.sqrt(11.0), rel=1e-5)
    u = extrapolation_distance({"N": np.array([1e9, 1e11]), "C": np.array([1e20, 1e19])},
                               {"N": 1e10, "C": 1e20})
    assert u == pytest.approx([0.0, 1.0])


def test_frontier_mask_drops_rows_far_above_the_frontier():
    compute = np.array([1e18, 1e18, 1e18, 1e19, 1e19, 1e20])
    loss = np.array([3.0, 3.1, 3.6, 2.8, 3.2, 3.0])  # 3.6: 20% above its budget's best
    keep = frontier_mask(loss, compute, 0.1)
    # 3.2 at 1e19 is 14% above 2.8; 3.0 at 1e20 is 7% above 2.8 at less compute
    assert keep.tolist() == [True, True, False, True, False, True]


# -- default row choices ------------------------------------------------------------------------
def test_frontier_filter_reports_what_it_dropped():
    df = sweep()
    bad = df.iloc[[5]].copy()
    bad["run_id"], bad["loss"] = "broken", bad["loss"] * 1.5
    result = fit_parametric(pd.concat([df, bad], ignore_index=True))
    assert [d["run_id"] for d in result.diagnostics["dropped"]] == ["broken"]
    assert "dropped 1 of" in result.warnings[0] and "broken" in result.warnings[0]
    kept = fit_parametric(pd.concat([df, bad], ignore_index=True), frontier_filter=None)
    assert kept.n_points == result.n_points + 1
    with pytest.raises(ScalingLabError, match="frontier_filter"):
        fit_parametric(df, frontier_filter=-1)


def test_few_sizes_with_long_curves_fit_with_defaults():
    # four model sizes with 300 checkpoints each: the shape of many published curve families
    rows = []
    for n in (1e8, 3e8, 1e9, 3e9):
        for d in np.geomspace(1e8, 4e10, 300):
            rows.append((f"n{n:g}", n, d, TRUTH.predict(N=n, D=d)))
    curves = pd.DataFrame(rows, columns=["run_id", "n_params", "tokens", "loss"])
    result = scalinglab.fit(curves)
    assert result.n_runs == 4 and result.n_points > 250
    assert "past 0.1" in result.procedure.rows
    assert result.predict(N=1e10, D=2e11) == pytest.approx(TRUTH.predict(N=1e10, D=2e11),
                                                           rel=0.01)


def test_one_model_size_reduces_to_L_of_D_and_says_so():
    d = np.geomspace(1e9, 1e11, 50)
    curve = pd.DataFrame({"run_id": "only", "n_params": 1e9, "tokens": d,
                          "loss": TRUTH.predict(N=1e9, D=d)})
    result = scalinglab.fit(curve)
    assert result.law.variables == ("D",)
    assert "single model size" in result.warnings[0]
    band = result.predict_interval(N=1e9, D=4e11)
    assert band["low"] < TRUTH.predict(N=1e9, D=4e11) < band["high"]


def test_fixed_tokens_per_parameter_reduces_to_L_of_N():
    n = np.geomspace(1e8, 3e9, 6)
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(6)], "n_params": n,
                          "tokens": 20 * n, "loss": TRUTH.predict(N=n, D=20 * n)})
    result = scalinglab.fit(table)
    assert result.law.variables == ("N",) and "tokens per parameter" in result.warnings[0]


def test_three_sizes_at_one_token_count_fit_a_power_law_without_E():
    # Pile-T5's shape: three final points at one D; E + A/N^alpha would pass through them exactly
    n = np.array([2.5e8, 7.8e8, 2.8e9])
    table = pd.DataFrame({"run_id": ["a", "b", "c"], "n_params": n, "tokens": 2e12,
                          "loss": TRUTH.predict(N=n, D=2e12)})
    result = scalinglab.fit(table, bootstrap=50)
    assert result.law.variables == ("N",) and "E" not in result.params
    assert "without an irreducible term" in result.warnings[0]
    band = result.predict_interval(N=1.1e10, D=2e12)
    assert "NOT calibrated" in band["components"]["calibration"]
    # no saturation: the prediction sits below the (saturating) truth, and says so above
    assert band["loss"] < TRUTH.predict(N=1.1e10, D=2e12)
    with pytest.raises(FitError, match="2 points cannot determine"):
        scalinglab.fit(table.iloc[:2])


# -- where users meet it ------------------------------------------------------------------------
def test_plan_uses_the_run_interval(fitted):
    costs = CostModel.create("h100")
    with_run = plan_for_budget(UncertainLaw.from_fit(fitted), costs, budget_flops=1e23)
    law_only = plan_for_budget(UncertainLaw(fitted.law, fitted.bootstrap_params, "fit"), costs,
                               budget_flops=1e23)
    assert with_run.loss.low < law_only.loss.low and with_run.loss.high > law_only.loss.high
    assert "run interval" in with_run.interval_note


def _console_script() -> str:
    found = Path(sys.executable).with_name("scalinglab")
    return str(found) if found.exists() else shutil.which("scalinglab")


def test_predict_cli_kind_through_the_console_script(fitted, tmp_path):
    path = fitted.save(tmp_path / "fit.json")
    run = subprocess.run([_console_script(), "predict", "--fit", str(path), "--params", "7e10",
                          "--tokens", "1.4e12", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)
    assert payload["kind"] == "run" and "components" in payload
    text = subprocess.run([_console_script(), "predict", "--fit", str(path), "--params",
                           "7e10", "--tokens", "1.4e12"], capture_output=True, text=True,
                          timeout=120)
    assert "run interval" in text.stdout and "variance shares" in text.stdout
    bad = subprocess.run([_console_script(), "predict", "--fit", str(path), "--params", "7e10",
                          "--tokens", "1.4e12", "--kind", "mean"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_uncalibrated_intervals_use_students_t_on_the_scatters_degrees_of_freedom():
    """Too few runs to calibrate: q is Student's t on runs minus free parameters, wider than
    the Gaussian for a handful of runs and equal to it in the limit; the text says which."""
    from scipy.stats import norm, t

    from scalinglab.fit.intervals import uncalibrated_multiplier
    from scalinglab.fit.uncertainty import scatter_dof

    assert scatter_dof(np.array(["a", "b", "c"]), 2) == 1
    assert scatter_dof(np.repeat(["a", "b"], 40), 3) == 77          # < 3 runs: rows
    assert uncalibrated_multiplier(0.9, 1) == pytest.approx(t.ppf(0.95, 1))
    assert uncalibrated_multiplier(0.9, None) == pytest.approx(norm.ppf(0.95))
    assert uncalibrated_multiplier(0.9, 1e6) == pytest.approx(norm.ppf(0.95), rel=1e-4)


def _backtest_errors(rng: np.random.Generator, kappa: float, n: int = 15,
                     explained: float = 0.01) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Errors of ``n`` held-out runs at 0.1-1 decades: noise ``explained`` plus kappa u."""
    u = rng.uniform(0.1, 1.0, n)
    e = rng.normal(0, 1, n) * np.sqrt(explained**2 + (kappa * u) ** 2)
    return e, u, np.full(n, 1.0 / n)


def test_slope_not_charged_where_the_backtests_cannot_tell_it_from_zero():
    # the law's form right (kappa = 0): the plain positive part of the moment estimate draws a
    # slope in about half the tables; less one standard error, in few of them
    rng = np.random.default_rng(0)
    slopes = np.array([_moment_slope(*_backtest_errors(rng, 0.0), 0.01) for _ in range(400)])
    assert np.mean(slopes > 0) < 0.25
    # a real trend (kappa = 3x the noise per decade) is still found, near its size
    trend = np.array([_moment_slope(*_backtest_errors(rng, 0.03, n=60), 0.01)
                      for _ in range(200)])
    assert np.mean(trend > 0) > 0.9
    assert 0.015 < np.median(trend) < 0.035
