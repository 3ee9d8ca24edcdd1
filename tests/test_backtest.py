"""Backtests: fit below a cut, predict above it, compare with the naive baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.backtest import BacktestResult, backtest
from scalinglab.laws import get_preset
from scalinglab.records import load_runs

EPOCH_CSV = (Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla"
             / "epoch_svg_extracted_data.csv")
LAW = get_preset("hoffmann2022-unrounded").law


def planted_runs(noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """A 6 x 6 grid of (N, D) runs scored by Hoffmann's unrounded law."""
    rng = np.random.default_rng(seed)
    N, D = np.meshgrid(np.logspace(7, 9.5, 6), np.logspace(9, 11.5, 6))
    N, D = N.ravel(), D.ravel()
    loss = LAW.predict(N=N, D=D) * np.exp(noise * rng.standard_normal(N.size))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(N.size)], "n_params": N,
                         "tokens": D, "flops": 6 * N * D, "loss": loss})


def test_noise_free_planted_law_predicts_held_out_runs_exactly():
    runs = planted_runs()
    result = backtest(runs, cut_flops=3e19)
    s = result.summary
    assert s["n_fitted_runs"] + s["n_held_out"] == len(runs)
    assert s["n_held_out"] == int((runs["flops"] >= 3e19).sum())
    assert s["max_are"] < 1e-4
    assert s["median_naive_are"] > 0.02  # the baseline cannot know that loss keeps falling
    table = result.per_run
    assert (table["extrapolation"] >= 3e19 / s["largest_fitted_flops"] - 1e-12).all()
    assert table["extrapolation"].max() == pytest.approx(runs["flops"].max()
                                                         / s["largest_fitted_flops"])
    assert (table["naive"] == runs.loc[runs["flops"] < 3e19, "loss"].min()).all()
    np.testing.assert_allclose(table["are"], np.abs(table["predicted"] / table["loss"] - 1),
                               rtol=1e-6, atol=1e-12)


def test_size_cut_and_power_law_in_compute():
    runs = planted_runs(noise=0.003, seed=1)
    by_size = backtest(runs, cut_params=1e9)
    assert set(by_size.per_run["n_params"]) == set(runs.loc[runs["n_params"] >= 1e9, "n_params"])
    assert by_size.summary["median_are"] < by_size.summary["median_naive_are"]
    power = backtest(runs, cut_flops=1e20, law="power", fit_kwargs={"variable": "C"})
    assert power.fit.law.variables == ("C",)
    assert power.summary["n_held_out"] == int((runs["flops"] >= 1e20).sum())
    assert np.all(np.isfinite(power.per_run["predicted"]))


def test_loss_curves_split_by_run_not_by_row():
    rows = []
    for i, N in enumerate(np.logspace(7, 9.5, 12)):
        for frac in (0.25, 0.5, 1.0):
            D = 20 * N * frac * (1 + 0.5 * (i % 3))  # vary D/N so that N and D separate
            rows.append({"run_id": f"r{i:02d}", "n_params": N, "tokens": D, "flops": 6 * N * D,
                         "loss": LAW.predict(N=N, D=D), "final": frac == 1.0})
    runs = pd.DataFrame(rows)
    finals = runs[runs["final"]].set_index("run_id")["flops"]
    cut = 0.9 * finals["r08"]  # r08's first checkpoints lie below the cut, its end above
    assert (runs.loc[runs["run_id"] == "r08", "flops"] < cut).sum() == 2
    result = backtest(runs, cut_flops=cut)
    finals = runs[runs["final"]]
    # a run is held out whole when any of its rows crosses the cut, and scored at its final row
    assert result.summary["n_held_out"] == int((finals["flops"] >= cut).sum())
    assert result.summary["n_fitted_runs"] == int((finals["flops"] < cut).sum())
    assert set(result.per_run["run_id"]) == set(finals.loc[finals["flops"] >= cut, "run_id"])
    assert result.summary["max_are"] < 1e-3


def test_bootstrap_intervals_and_json():
    result = backtest(planted_runs(noise=0.005, seed=2), cut_flops=3e19,
                      fit_kwargs={"bootstrap": 30, "seed": 0})
    table = result.per_run
    assert {"low", "high", "covered"} <= set(table.columns)
    assert (table["low"] <= table["predicted"]).all()
    assert (table["predicted"] <= table["high"]).all()
    assert 0.0 <= result.summary["coverage"] <= 1.0
    data = json.loads(result.to_json())
    assert data["format"] == "scalinglab.backtest"
    assert data["summary"]["n_held_out"] == len(table)
    assert len(data["per_run"]["are"]) == len(table)
    assert data["fit_intervals"] is not None
    assert set(result.summary_table()["method"]) == {"law", "naive (best fitted loss)"}


def test_the_api_default_law_is_the_clis(tmp_path):
    """``backtest(...)`` and ``scalinglab backtest`` both default to law="auto": the same
    chosen law and the same predictions from the same table and cut."""
    import inspect

    from scalinglab.cli.fit_cmds import backtest_command
    from tests.clihelp import run_inprocess

    api_default = inspect.signature(backtest).parameters["law"].default
    assert api_default == inspect.signature(backtest_command).parameters["law"].default
    runs = planted_runs(noise=0.003, seed=1)
    result = backtest(runs, cut_flops=3e19)
    assert result.fit.diagnostics["selection"]["chosen"] is not None  # chosen by backtests
    runs.to_csv(tmp_path / "runs.csv", index=False)
    done = run_inprocess("backtest", str(tmp_path / "runs.csv"), "--cut-flops", "3e19",
                         "--json")
    assert done.code == 0, done.stderr
    payload = json.loads(done.stdout)
    np.testing.assert_allclose(payload["per_run"]["predicted"], result.per_run["predicted"],
                               rtol=1e-12)


def test_bad_cuts_give_one_line_errors():
    runs = planted_runs()
    cases = [
        (lambda: backtest(runs.iloc[:3]), ScalingLabError, "too few distinct run sizes"),
        (lambda: backtest(runs, cut_flops=-1.0), ScalingLabError, "cut_flops"),
        (lambda: backtest(runs, cut_flops=1e30), ScalingLabError, "nothing is held out"),
        (lambda: backtest(runs, cut_flops=5e17), FitError, "leaves 3 fitted run"),
        (lambda: backtest(runs.drop(columns=["flops", "tokens"]), cut_flops=1e20),
         ScalingLabError, "flops"),
    ]
    for call, error, word in cases:
        with pytest.raises(error, match=word) as info:
            call()
        assert "\n" not in str(info.value)
    # the count of free parameters follows the law: L = A C^-alpha has 2, so 3 runs suffice
    result = backtest(runs, cut_flops=5e17, law="power",
                      fit_kwargs={"variable": "C", "irreducible": False})
    assert result.summary["n_fitted_runs"] == 3


# -- Epoch's extraction of Hoffmann et al. 2022, Figure 4 ---------------------------------------
@pytest.fixture(scope="module")
def epoch_backtest() -> BacktestResult:
    if not EPOCH_CSV.is_file():
        pytest.skip(f"Epoch data not found at {EPOCH_CSV} (../shared is not checked out)")
    runs = load_runs(EPOCH_CSV, columns={"N": "Model Size", "C": "Training FLOP", "loss": "loss"},
                     derive_tokens=True)
    runs = runs[runs["loss"] < np.sort(runs["loss"])[-5]]  # Epoch's protocol: 240 rows
    return backtest(runs, cut_flops=1e21, law="chinchilla")


def test_epoch_backtest_at_1e21_flops(epoch_backtest):
    s = epoch_backtest.summary
    assert (s["n_fitted_runs"], s["n_held_out"]) == (217, 23)
    assert s["max_extrapolation"] == pytest.approx(13.03, rel=1e-3)  # the 1.3e22 FLOP run
    # measured: median ARE 0.0087 (mean 0.0105, max 0.028) against 0.029 for the naive
    # baseline; the law beats the baseline on 18 of 23 held-out runs
    assert s["median_are"] < 0.015
    assert s["median_are"] < s["median_naive_are"] / 2
    assert s["law_beats_naive"] >= 15


def test_without_a_cut_the_top_level_or_the_largest_quarter_is_held_out(tmp_path):
    """A backtest asked without a cut holds out what the run intervals' calibration would: the
    top compute level of an IsoFLOP design, else about the largest quarter of the runs."""
    from tests.clihelp import run_script
    from tests.test_guards import sweep

    iso = sweep()                                 # 5 levels 1e17..1e19 FLOPs, 5 sizes each
    result = backtest(iso, law="chinchilla")
    assert result.settings["cut_rule"].startswith("default: the top of 5 compute levels")
    assert result.summary["n_held_out"] == 5 and 1e18 < result.settings["cut_flops"] < 1e19
    rng = np.random.default_rng(0)                 # 40 runs at scattered compute: no levels
    N, D = 10 ** rng.uniform(7, 9.5, 40), 10 ** rng.uniform(9, 11.5, 40)
    grid = pd.DataFrame({"run_id": [f"r{i}" for i in range(40)], "n_params": N, "tokens": D,
                         "loss": LAW.predict(N=N, D=D)})
    result = backtest(grid, law="chinchilla")
    assert "largest 25% of the runs" in result.settings["cut_rule"]
    assert 0.15 * len(grid) <= result.summary["n_held_out"] <= 0.35 * len(grid)
    path = tmp_path / "iso.csv"
    iso.to_csv(path, index=False)
    shown = run_script("backtest", str(path), "--law", "chinchilla")
    assert shown.code == 0, shown.stderr
    assert "default: the top of 5 compute levels held out" in " ".join(shown.stdout.split())


def test_a_degenerate_fit_is_said_once():
    """E at its floor: the fit's warning says it; the held-out runs' guards do not repeat it."""
    rng = np.random.default_rng(1)
    N, D = 10 ** rng.uniform(7, 9.5, 40), 10 ** rng.uniform(9, 11.5, 40)
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(40)], "n_params": N, "tokens": D,
                         "loss": 400 / N**0.34 + 410 / D**0.28})          # no irreducible loss
    result = backtest(runs, law="chinchilla", fit_kwargs={"frontier_filter": None})
    assert result.fit.params["E"] < 1e-5
    assert sum("floor" in w for w in result.warnings) == 1, result.warnings
