"""The run interval's measured noise sources (``fit.uncertainty``): the run scatter and the
delta-method parameter sd, and how the nested backtests use them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit import fit_parametric
from scalinglab.fit.uncertainty import (
    MIN_SCATTER,
    free_parameters,
    parameter_covariance,
    parameter_sd,
    run_scatter,
)
from scalinglab.laws import get_preset

TRUTH = get_preset("besiroglu2024").law


def test_run_scatter_is_the_residual_rms_with_degrees_of_freedom():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 25)
    groups = np.arange(25)
    sd, source = run_scatter(r, groups, n_free=5)
    assert sd == pytest.approx(np.sqrt(np.sum(r**2) / 20))
    assert "25 runs" in source and "set aside" not in source


def test_run_scatter_sets_aside_a_broken_run_but_not_an_honest_one():
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, 30)
    honest, _ = run_scatter(r, np.arange(30), n_free=5)
    broken = r.copy()
    broken[3] = 0.3                      # a run 30 sd off: a broken run, not seed noise
    sd, source = run_scatter(broken, np.arange(30), n_free=5)
    assert "1 outlying value(s) set aside" in source
    assert sd == pytest.approx(np.sqrt(np.sum(np.delete(r, 3) ** 2) / 24))
    assert sd < 1.3 * honest
    tail = r.copy()
    tail[3] = 0.03                       # 3 sd: the tail of honest noise, kept
    assert "set aside" not in run_scatter(tail, np.arange(30), n_free=5)[1]


def test_run_scatter_rows_of_one_curve_and_the_floor():
    rows = np.full(40, 1e-6)
    rows[::2] = -1e-6
    sd, source = run_scatter(rows, np.zeros(40, dtype=int), n_free=3)
    assert sd == MIN_SCATTER and "residuals by row" in source


def test_delta_method_matches_the_spread_of_refits():
    """The delta-method sd of a prediction 10x beyond an IsoFLOP sweep agrees with the spread of
    the prediction over refits to fresh noise (Monte Carlo), within sampling error."""
    rng = np.random.default_rng(0)
    rows = []
    for C in np.logspace(18, 20, 5):
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.linspace(-0.6, 0.6, 5):
            N = n_opt * 10**f
            rows.append((N, C / (6 * N)))
    a = np.array(rows)
    target = TRUTH.frontier(1e21)
    theta = TRUTH.to_raw(TRUTH.params)
    X = {"N": a[:, 0], "D": a[:, 1]}
    free = np.ones(5, dtype=bool)
    cov = parameter_covariance(TRUTH.log_jacobian_raw(theta, X), np.ones(len(a)),
                               np.arange(len(a)), 0.01, free)
    Xt = {"N": np.array([target["N_opt"]]), "D": np.array([target["D_opt"]])}
    delta = float(parameter_sd(TRUTH.log_jacobian_raw(theta, Xt), cov)[0])
    preds = []
    for _ in range(60):
        loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, 0.01, len(a)))
        table = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                              "tokens": a[:, 1], "loss": loss})
        fitted = fit_parametric(table, calibrate=False, huber_delta=1.0)
        preds.append(np.log(fitted.law.predict(N=target["N_opt"], D=target["D_opt"])))
    spread = float(np.std(preds, ddof=1))
    assert 0.7 * spread < delta < 1.4 * spread    # 60 refits: the sd is known to ~10%


def test_parameters_at_a_bound_are_held_fixed():
    assert free_parameters(np.array([np.log(1e-6), 1.0, 0.3]),
                           [(np.log(1e-6), None), (None, None), (0.0, 10.0)]).tolist() == \
        [False, True, True]
    J = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    cov = parameter_covariance(J, np.ones(3), np.arange(3), 0.1, np.array([True, False]))
    assert cov[1, 1] == 0 and cov[0, 1] == 0 and cov[0, 0] == pytest.approx(0.01 / 3)


def test_rows_of_one_run_count_as_one_observation():
    J = np.column_stack([np.ones(30), np.linspace(0, 1, 30)])
    by_row = parameter_covariance(J, np.ones(30), np.arange(30), 0.01, np.ones(2, bool))
    by_run = parameter_covariance(J, np.ones(30), np.repeat(np.arange(3), 10), 0.01,
                                  np.ones(2, bool))
    assert by_run[0, 0] == pytest.approx(10 * by_row[0, 0])


def test_backtests_separate_the_refits_parameter_error():
    """A fit's calibration normalises its backtest errors by scatter and the refits' delta-method
    sd, and its run interval carries the covariance (saved and read back)."""
    from scalinglab.fit.intervals import RunIntervalModel

    rng = np.random.default_rng(3)
    rows = []
    for C in np.logspace(18, 20, 5):
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.linspace(-0.6, 0.6, 5):
            rows.append((n_opt * 10**f, C / (6 * n_opt * 10**f)))
    a = np.array(rows)
    loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, 0.01, len(a)))
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                          "tokens": a[:, 1], "loss": loss})
    result = fit_parametric(table)
    model = result.run_interval
    assert model.calibrated and model.separates_parameters
    assert np.shape(model.parameter_cov) == (5, 5)
    again = RunIntervalModel.from_dict(model.to_dict())
    assert again.separates_parameters and again.parameter_cov == model.parameter_cov
    band = result.predict_interval(N=2e10, D=4e11)      # ~5e22 FLOPs: 2.7 decades
    c = band["components"]
    assert c["delta_method_sd_log"] > 0 and c["parameters_sd_log"] >= c["delta_method_sd_log"]
    assert "refits' parameter error" in c["calibration"]
