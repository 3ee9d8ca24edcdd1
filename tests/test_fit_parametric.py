"""Approach 3: the Epoch reference fit, planted truths, options, and the result object."""

import numpy as np
import pandas as pd
import pytest

import scalinglab
from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit import FitResult, fit_parametric, select_rows
from scalinglab.laws import Chinchilla, PowerLaw, get_preset

TRUTH = get_preset("hoffmann2022-unrounded").law


def planted(sigma: float = 0.0, seed: int = 0, budgets=np.logspace(18, 21, 5), per: int = 8,
            law=TRUTH) -> pd.DataFrame:
    """IsoFLOP-style sweep drawn from ``law`` with multiplicative log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in budgets:
        n_opt = law.frontier(C)["N_opt"]
        for f in np.logspace(-1, 1, per):
            rows.append((n_opt * f, C / (6 * n_opt * f), C))
    a = np.array(rows)
    loss = law.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, sigma, len(a)))
    return pd.DataFrame({"n_params": a[:, 0], "tokens": a[:, 1], "flops": a[:, 2], "loss": loss})


# -- the Epoch AI reference (Besiroglu et al. 2024) ---------------------------------------------
#: Epoch's protocol: the 5 highest losses dropped by hand (the fixture), no other row filter.
#: Besiroglu et al. 2024: no row filter, Hoffmann's Huber delta 1e-3
EPOCH_PROTOCOL = {"frontier_filter": None, "huber_delta": 1e-3}


def test_epoch_reference_fit(epoch_runs):
    assert len(epoch_runs) == 240
    result = fit_parametric(epoch_runs, **EPOCH_PROTOCOL)
    p = result.params
    assert p["E"] == pytest.approx(1.817, rel=0.01)
    assert p["alpha"] == pytest.approx(0.348, rel=0.01)
    assert p["beta"] == pytest.approx(0.366, rel=0.01)
    assert p["A"] == pytest.approx(482.0, rel=0.03)
    assert p["B"] == pytest.approx(2085.0, rel=0.03)
    assert result.warnings == []  # 240 points determine all five parameters


def test_epoch_bootstrap_intervals_match_epoch(epoch_runs):
    result = fit_parametric(epoch_runs, bootstrap=400, seed=1, **EPOCH_PROTOCOL)
    ci = result.intervals(0.95)
    epoch = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
    for name, (lo, hi) in epoch.items():
        assert ci[name][0] == pytest.approx(lo, rel=0.03), name
        assert ci[name][1] == pytest.approx(hi, rel=0.03), name
        assert ci[name][0] < result.params[name] < ci[name][1]


def test_hoffmann_grid_mode_agrees_with_fast_path(epoch_runs):
    # The full 4500-start grid takes minutes with per-start L-BFGS-B (bench/fit_speed.py runs
    # it); here a thinned, evenly spread subset of Hoffmann's starts checks the mode's optimiser.
    from scalinglab.fit.optimise import fit_arrays, make_law
    from scalinglab.fit.rows import arrays_for
    from scalinglab.fit.settings import FitSettings

    settings = FitSettings(method="hoffmann", huber_delta=1e-3)
    law = make_law(settings)
    grid = law.default_starts({}, np.array([]))
    assert grid.shape == (4500, 5)
    assert sorted(set(grid[:, 2])) == [0.0, 0.5, 1.0, 1.5, 2.0]      # alpha
    assert sorted(set(grid[:, 1])) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]  # a = log A
    assert sorted(set(grid[:, 0])) == [-1.0, -0.5, 0.0, 0.5, 1.0]    # e = log E
    X, y, w, _ = arrays_for(epoch_runs, law, settings)
    theta, value = fit_arrays(law, X, y, w, settings, starts=grid[::90])
    fast = fit_parametric(epoch_runs, **EPOCH_PROTOCOL)
    assert value * settings.huber_delta == pytest.approx(fast.objective, rel=1e-6)
    grid_params = law.from_raw(theta)
    for name in ("E", "alpha", "beta"):
        assert grid_params[name] == pytest.approx(fast.params[name], rel=2e-3)


# -- planted truths -----------------------------------------------------------------------------
def test_noise_free_planted_truth_recovered_to_1e_4():
    result = fit_parametric(planted(sigma=0.0))
    for name, value in TRUTH.params.items():
        assert result.params[name] == pytest.approx(value, rel=1e-4), name


def test_noisy_planted_truth_inside_interval():
    result = fit_parametric(planted(sigma=0.01, seed=3), bootstrap=200, seed=3)
    ci = result.intervals(0.9)
    for name in ("E", "alpha", "beta"):
        assert ci[name][0] <= TRUTH.params[name] <= ci[name][1], name
    big = {"N": 1e11, "D": 2e12}
    pred = result.predict_interval(0.9, **big)
    assert pred["low"] <= TRUTH.predict(**big) <= pred["high"]


def test_power_law_in_compute_and_kaplan_form():
    C = np.logspace(17, 21, 12)
    truth = PowerLaw(variable="C", E=1.8, A=2.0e3, alpha=0.16)
    df = pd.DataFrame({"n_params": 1.0, "tokens": 1.0, "flops": C,
                       "loss": truth.predict(C=C)})
    df["n_params"] = np.sqrt(C / 6)
    df["tokens"] = C / (6 * df["n_params"])
    result = fit_parametric(df, law="power", variable="C")
    for name, value in truth.params.items():
        assert result.params[name] == pytest.approx(value, rel=1e-4)
    kaplan = get_preset("kaplan2020").law
    N, D = np.meshgrid(np.logspace(6, 9, 5), np.logspace(8, 11, 5))
    kdf = pd.DataFrame({"n_params": N.ravel(), "tokens": D.ravel(),
                        "loss": kaplan.predict(N=N.ravel(), D=D.ravel())})
    kfit = fit_parametric(kdf, law="kaplan")
    for name in ("alpha_N", "alpha_D"):
        assert kfit.params[name] == pytest.approx(kaplan.params[name], rel=1e-3)


# -- options --------------------------------------------------------------------------------
def test_fixed_and_bounded_E():
    df = planted(sigma=0.01, seed=5)
    fixed = fit_parametric(df, E_fixed=1.6)
    assert fixed.params["E"] == pytest.approx(1.6, abs=1e-12)
    capped = fit_parametric(df, E_bounds=(0.5, 1.5))
    assert 0.5 - 1e-9 <= capped.params["E"] <= 1.5 + 1e-9
    below = fit_parametric(df, bound_E_below_min_loss=True)
    assert below.params["E"] <= df["loss"].min() + 1e-9
    prior = fit_parametric(df, E_prior=(1.2, 1e-3))
    assert prior.params["E"] == pytest.approx(1.2, abs=5e-3)


def test_weights_equal_duplication():
    df = planted(sigma=0.02, seed=7)
    df["w"] = 1.0
    df.loc[3, "w"] = 3.0
    weighted = fit_parametric(df, weights="w")
    dup = pd.concat([df, df.iloc[[3, 3]]]).reset_index(drop=True)
    dup["run_id"] = [f"r{i}" for i in range(len(dup))]
    duplicated = fit_parametric(dup.drop(columns="w"))
    for name in ("E", "alpha", "beta"):
        assert weighted.params[name] == pytest.approx(duplicated.params[name], rel=1e-4)


def test_row_selection_final_rows_and_checkpoints():
    curve = pd.DataFrame({
        "run_id": ["a"] * 4 + ["b"] * 2,
        "tokens": [10, 20, 30, 40, 5, 50], "loss": [4, 3, 2.5, 2.2, 4, 2.1],
        "final": [False, False, False, True, False, False], "n_params": 1.0})
    chosen = select_rows(curve)
    assert list(zip(chosen["run_id"], chosen["tokens"], strict=True)) == [("a", 40), ("b", 50)]
    late = select_rows(curve, checkpoints_after=0.5)
    assert sorted(late["tokens"]) == [20, 30, 40, 50]


def test_too_few_points_and_bad_options():
    df = planted().iloc[:5]
    with pytest.raises(FitError, match="5 points cannot determine 5 free parameters"):
        fit_parametric(df)
    with pytest.raises(ScalingLabError, match="law must be one of power, chinchilla"):
        fit_parametric(planted(), law="nope")
    with pytest.raises(ScalingLabError, match="huber_delta"):
        fit_parametric(planted(), huber_delta=0)


# -- identifiability ------------------------------------------------------------------------
def test_degenerate_sweep_is_flagged():
    # Tiny noisy sweep over one decade of compute: E is not determined.
    df = planted(sigma=0.03, seed=11, budgets=np.logspace(15, 16, 2), per=4)
    result = fit_parametric(df, bootstrap=60, seed=0)
    assert result.warnings, "a 8-point noisy sweep must be flagged"
    assert not result.diagnostics["identifiable"]
    remedy = next(w for w in result.warnings if w.startswith("remedies: "))
    # a table of final rows alone: every remedy applies; the curves must be logged first
    assert "E_bounds" in remedy and "variable='C'" in remedy and "checkpoints_after" in remedy
    assert "log each run's loss curve" in remedy and "add checkpoint rows" not in remedy


def test_remedies_list_only_what_applies():
    from types import SimpleNamespace

    from scalinglab.fit.diagnostics import remedies
    from scalinglab.fit.optimise import make_law
    from scalinglab.fit.settings import FitSettings

    chinchilla = make_law(FitSettings())
    curves = SimpleNamespace(procedure=SimpleNamespace(
        rows="loss curves present: rows past 0.1 of each run's tokens"))
    text = remedies(chinchilla, FitSettings(), curves)
    assert "checkpoints_after" not in text and "E_bounds" in text and "variable='C'" in text
    power = make_law(FitSettings(law="power"))
    finals = SimpleNamespace(procedure=SimpleNamespace(rows="final rows of each run"))
    text = remedies(power, FitSettings(law="power"), finals)
    assert "variable='C'" not in text and "checkpoints_after" in text
    fixed = remedies(chinchilla, FitSettings(E_fixed=1.5), curves)
    assert "E_bounds" not in fixed and "variable='C'" in fixed
    # final rows fitted from a table that has checkpoints: add them; without any: log them
    import pandas as pd
    for reasons, wording in ((["used", "not selected (final rows)"], "add checkpoint rows"),
                             (["used", "used"], "log each run's loss curve")):
        finals.rows = pd.DataFrame({"reason": reasons})
        assert wording in remedies(power, FitSettings(law="power"), finals)


# -- the result object ----------------------------------------------------------------------
def test_result_round_trip_and_api(tmp_path, epoch_runs):
    result = scalinglab.fit(epoch_runs, law="chinchilla", bootstrap=50, **EPOCH_PROTOCOL)
    assert isinstance(result, FitResult)
    path = result.save(tmp_path / "fit.json")
    back = FitResult.load(path)
    assert back.params == pytest.approx(result.params)
    for name, (lo, hi) in result.intervals().items():
        assert back.intervals()[name] == pytest.approx((lo, hi))
    point = result.predict(N=70e9, D=1.4e12)
    assert back.predict(N=70e9, D=1.4e12) == pytest.approx(point)
    interval = back.predict_interval(N=np.array([1e9, 70e9]), D=np.array([2e10, 1.4e12]))
    assert np.all(interval["low"] <= interval["loss"]) and np.all(interval["loss"] <= interval["high"])
    frontier = back.frontier(5.76e23)
    assert frontier["N_opt"]["low"] < frontier["N_opt"]["value"] < frontier["N_opt"]["high"]
    assert frontier["tokens_per_param"]["value"] == pytest.approx(18.4, rel=0.05)
    table = back.summary()
    assert list(table["parameter"]) == ["E", "A", "alpha", "B", "beta"]
    assert isinstance(back.law, Chinchilla)
    assert result.residuals["rmse_log"] < 0.02


def test_fit_file_errors(tmp_path):
    with pytest.raises(ScalingLabError, match="does not exist"):
        FitResult.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScalingLabError, match="not valid JSON"):
        FitResult.load(bad)
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(ScalingLabError, match="not a scalinglab.fit file"):
        FitResult.load(other)


def test_determinism(epoch_runs):
    a = fit_parametric(epoch_runs, bootstrap=30, seed=4)
    b = fit_parametric(epoch_runs, bootstrap=30, seed=4)
    pd.testing.assert_frame_equal(a.bootstrap_params, b.bootstrap_params)
