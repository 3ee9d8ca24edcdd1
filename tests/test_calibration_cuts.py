"""Calibration cuts that find the design (issue 25, item 2): levels, given cuts, bad input.

The 40-sweep simulation of the resulting intervals is bench/isoflop_simulation.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError, SettingError
from scalinglab.fit import FitSettings, fit_parametric
from scalinglab.fit.cuts import check_flop_list, fraction_cuts, plan_cuts
from scalinglab.laws import get_preset
from tests.clihelp import run_script

TRUTH = get_preset("besiroglu2024").law
BUDGETS = np.logspace(18, 20, 5)


def textbook(seed: int = 0, budgets=BUDGETS, flops: bool = False) -> pd.DataFrame:
    """5 budgets x 5 sizes +-0.6 decades around the optimum, integer N and D, 1% noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in budgets:
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.linspace(-0.6, 0.6, 5):
            N = float(np.round(n_opt * 10**f))
            rows.append((N, float(np.round(C / (6 * N))), C))
    a = np.array(rows)
    loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, 0.01, len(a)))
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                          "tokens": a[:, 1], "loss": loss})
    if flops:
        table["flops"] = a[:, 2]
    return table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return textbook()


def test_levels_of_a_rounded_isoflop_table_are_found_and_never_split(table):
    compute = 6 * table["n_params"].to_numpy() * table["tokens"].to_numpy()
    assert len(np.unique(compute)) > 5            # rounding: 6ND differs inside every level
    plan = plan_cuts(compute, by_runs=True)
    assert plan.source == "levels detected"
    assert plan.levels == pytest.approx(list(BUDGETS), rel=1e-6)
    assert plan.runs_per_level == [5] * 5
    # one cut between each pair of consecutive levels with at least half the levels (3 of 5)
    # below
    assert len(plan.cuts) == 2
    for cut, lower, upper in zip(plan.cuts, BUDGETS[2:-1], BUDGETS[3:], strict=True):
        assert lower * 1.01 < cut < upper / 1.01
    assert "cuts between the detected compute levels 1e+18 | 3.16e+18 | 1e+19" in plan.describe()


def test_a_continuum_of_compute_falls_back_to_fractions():
    compute = np.logspace(18, 21, 40)             # no two runs share a budget
    plan = plan_cuts(compute, by_runs=True)
    assert plan.source == "fractions" and len(plan.cuts) == 5
    assert "no compute levels found" in plan.describe()
    # rounding noise does not make one size several: 4 distinct values of 8
    noisy = np.repeat([1e18, 1e19, 1e20, 1e21], 2) * (1 + 1e-12 * np.arange(8))
    assert fraction_cuts(noisy) == pytest.approx([np.sqrt(1e20 * 1e21)], rel=1e-9)


def test_fit_records_levels_cuts_and_says_so(table):
    model = fit_parametric(table).run_interval
    plan = model.details["cut_plan"]
    assert plan["source"] == "levels detected" and len(plan["levels"]) == 5
    assert model.calibrated and model.details["n_cuts"] == 2
    assert "cuts between the detected compute levels" in model.to_dict()["method"]
    given = fit_parametric(table, levels=list(BUDGETS)).run_interval
    assert given.details["cut_plan"]["source"] == "levels given"
    assert given.details["cuts"] == pytest.approx(model.details["cuts"])
    cuts = [2e18, 5e18, 2e19, 6e19]
    explicit = fit_parametric(table, calibration_cuts=cuts).run_interval
    assert explicit.details["cuts"] == cuts[1:]    # 5 runs below 2e18 cannot fit 5 parameters
    method = explicit.to_dict()["method"]
    assert "at the given compute cuts" in method and "skipped" in method and "2e+18" in method


def test_settings_sort_cuts_and_levels_and_refuse_both():
    settings = FitSettings(calibration_cuts=[2e19, 2e18, 2e18], levels=None)
    assert settings.calibration_cuts == (2e18, 2e19)
    assert FitSettings(levels=[1e20, 1e18, 1e19]).levels == (1e18, 1e19, 1e20)
    with pytest.raises(SettingError, match="levels and calibration_cuts") as caught:
        FitSettings(calibration_cuts=[2e18], levels=[1e18, 1e19, 1e20])
    assert caught.value.field == "levels"
    for bad in (["abc"], [0.0], [], [float("nan")]):
        with pytest.raises(SettingError, match="levels must be FLOP counts > 0"):
            FitSettings(levels=bad)


@pytest.mark.parametrize(("options", "message"), [
    ({"calibration_cuts": [2e18, 1e25]}, "outside the fitted runs' compute"),
    ({"calibration_cuts": [1e10]}, "outside the fitted runs' compute"),
    ({"calibration_cuts": ["abc"]}, "must be FLOP counts"),
    ({"calibration_cuts": [0.0]}, "FLOP counts > 0"),
    ({"levels": [1e18, 1e19]}, "at least 3"),
    ({"levels": [1e18, 1e19, 1e23]}, "outside the fitted runs' compute"),
    ({"levels": [1e18, 1e19], "calibration_cuts": [2e18]}, "not both"),
])
def test_bad_cuts_and_levels_through_the_api(table, options, message):
    with pytest.raises(ScalingLabError, match=message):
        fit_parametric(table, **options)


def test_flop_lists_are_checked_before_any_fit():
    assert check_flop_list([1e18, 2e18], "x") == (1e18, 2e18)
    assert check_flop_list(None, "x") is None
    with pytest.raises(ScalingLabError, match="x must be FLOP counts > 0"):
        check_flop_list([], "x")


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory, table) -> str:
    path = tmp_path_factory.mktemp("cuts") / "sweep.csv"
    table.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(("args", "message"), [
    (["--cuts", "2e19,2e18"], "--cuts must be in increasing order"),
    (["--cuts", "2e18,2e18"], "--cuts: 2e+18 is given twice"),
    (["--cuts", "2e18,1e25"], "calibration cut 1e+25 lies outside"),
    (["--cuts", "2e18,abc"], "--cuts must be a number, got 'abc'"),
    (["--levels", "1e18,1e19"], "at least 3"),
    (["--cuts", "2e18", "--levels", "1e18,1e19,1e20"], "not both"),
])
def test_bad_cuts_through_the_console_script(table_csv, args, message):
    out = run_script("fit", table_csv, "--bootstrap", "0", *args)
    assert out.code == 2, out
    assert len(out.err_lines) == 1 and out.err_lines[0].startswith("error: ")
    assert message in out.err_lines[0]


def test_cli_fit_and_backtest_take_cuts(table_csv):
    out = run_script("fit", table_csv, "--bootstrap", "0")
    assert out.code == 0, out
    assert "cuts between the detected compute levels 1e+18 | 3.16e+18 | 1e+19 | 3.16e+19 | " \
           "1e+20" in " ".join(out.stdout.split())
    given = run_script("fit", table_csv, "--bootstrap", "0", "--cuts", "2e18,2e19,6e19")
    assert given.code == 0 and "at the given compute cuts" in given.stdout
    back = run_script("backtest", table_csv, "--cut-flops", "5e19", "--cuts", "2e18,2e19",
                      "--json")
    assert back.code == 0, back
    bad = run_script("backtest", table_csv, "--cut-flops", "5e19", "--cuts", "2e18,6e19")
    assert bad.code == 2 and "lies outside the fitted runs' compute" in bad.stderr
