"""The batched bootstrap (all resamples polished at once by a projected Newton method) against
the one-resample-at-a-time SciPy path it replaces: same optima, same quantiles, same options.

Speed is measured in bench/fit_speed.py, not here.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit.bootstrap import (
    _scipy_fit,
    batched_bootstrap,
    batched_newton,
    bootstrap_fit,
    resample_weights,
)
from scalinglab.fit.objective import BatchedLogHuber, LogHuberObjective, lse_design
from scalinglab.fit.optimise import (
    fit_scaled_delta,
    make_law,
    raw_bounds,
    screen_starts,
)
from scalinglab.fit.settings import FitSettings
from scalinglab.laws import get_preset

TRUTH = get_preset("hoffmann2022-unrounded").law
QUANTILES = (0.05, 0.5, 0.95)


def planted(sigma: float, seed: int, per: int = 8) -> pd.DataFrame:
    """A 5-budget IsoFLOP sweep from Hoffmann's law with log-normal noise (one row per run)."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in np.logspace(18, 21, 5):
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.logspace(-1, 1, per):
            rows.append((n_opt * f, C / (6 * n_opt * f)))
    a = np.array(rows)
    loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, sigma, len(a)))
    return pd.DataFrame({"n_params": a[:, 0], "tokens": a[:, 1], "flops": 6 * a[:, 0] * a[:, 1],
                         "loss": loss})


def problem(runs: pd.DataFrame, weights: np.ndarray | None = None, law: str = "chinchilla",
            **options):
    """Arrays, settings and the two bootstrap starts exactly as fit_parametric builds them."""
    settings = FitSettings(law=law, **options)
    template = make_law(settings)
    columns = {"N": "n_params", "D": "tokens", "C": "flops"}
    X = {v: runs[columns[v]].to_numpy(dtype=float) for v in template.variables}
    y = runs["loss"].to_numpy(dtype=float)
    w = np.ones_like(y) if weights is None else weights
    theta, _, delta = fit_scaled_delta(template, X, y, w, settings)
    settings = replace(settings, huber_delta=delta)   # as fit_parametric passes it on
    candidates = screen_starts(template, X, y, w, settings)
    alternative = next(c for c in candidates if np.max(np.abs(c - theta)) > 0.05)
    return template, X, y, w, settings, np.vstack([theta, alternative])


def both_paths(template, X, y, w, settings, starts, n_resamples, seed=0, **kw):
    counts = resample_weights(np.arange(len(y)), n_resamples, seed)
    new_theta, new_value, fallbacks = batched_bootstrap(template, lse_design(template, X), y, w,
                                                        counts, settings, starts, X, **kw)
    old = [_scipy_fit(template, X, y, w, c, settings, starts) for c in counts]
    old_theta = np.array([t for t, _ in old])
    old_value = np.array([v for _, v in old])
    return new_theta, new_value, old_theta, old_value, fallbacks


def frame_of(template, thetas) -> pd.DataFrame:
    return pd.DataFrame([template.from_raw(t) for t in thetas])


def assert_quantiles_agree(template, new_theta, old_theta, fraction=0.02):
    new, old = frame_of(template, new_theta), frame_of(template, old_theta)
    for name in template.param_names:
        q_old = old[name].quantile(QUANTILES).to_numpy()
        q_new = new[name].quantile(QUANTILES).to_numpy()
        width = q_old[2] - q_old[0]
        assert width > 0, name
        assert np.all(np.abs(q_new - q_old) <= fraction * width), (name, q_new, q_old)


# -- the objective's exact derivatives ----------------------------------------------------------
@pytest.mark.parametrize("prior", [None, (1.7, 0.05)])
def test_batched_objective_matches_scalar_objective_and_finite_differences(prior):
    runs = planted(0.01, seed=1)
    law = make_law(FitSettings())
    X = {"N": runs["n_params"].to_numpy(), "D": runs["tokens"].to_numpy()}
    y = runs["loss"].to_numpy()
    rng = np.random.default_rng(0)
    W = rng.integers(0, 3, size=(3, len(y))).astype(float)
    theta = law.to_raw(TRUTH.params) + rng.normal(0, 0.05, size=(3, 5))
    batched = BatchedLogHuber(lse_design(law, X), y, 1e-3, W, prior, e_index=0)
    value, grad, hess = batched.derivatives(theta)
    assert np.allclose(batched.value(theta)[0], value, rtol=1e-12)
    for i in range(3):
        scalar = LogHuberObjective(law, X, y, 1e-3, W[i], prior)
        v, g = scalar.value_and_grad(theta[i])
        assert value[i] == pytest.approx(v, rel=1e-12)
        np.testing.assert_allclose(grad[i], g, rtol=1e-9, atol=1e-9 * np.abs(g).max())
        # central differences of the exact gradient give the Hessian (away from Huber knots)
        eps = 1e-7
        fd = np.array([(scalar.value_and_grad(theta[i] + eps * e)[1]
                        - scalar.value_and_grad(theta[i] - eps * e)[1]) / (2 * eps)
                       for e in np.eye(5)])
        np.testing.assert_allclose(hess[i], fd, rtol=1e-4, atol=1e-5 * np.abs(fd).max())
        assert np.allclose(hess[i], hess[i].T)


def test_lse_design_reproduces_log_predict_for_every_supported_form():
    from scalinglab.laws import Chinchilla, PowerLaw

    x = np.logspace(6, 10, 7)
    X = {"N": x, "D": 20 * x, "C": 120 * x * x}
    cases = [(Chinchilla(E=1.7, A=400, alpha=0.34, B=410, beta=0.28), np.zeros(5)),
             (PowerLaw(variable="C", E=1.8, A=2e3, alpha=0.16), np.zeros(3)),
             (PowerLaw(variable="N", irreducible=False, A=20.0, alpha=0.07), np.zeros(2))]
    for law, _ in cases:
        T = lse_design(law, X)
        theta = law.to_raw(law.params)
        direct = law.log_predict_raw(theta, X)
        obj = BatchedLogHuber(T, np.exp(direct), 1e-3, np.ones((1, len(x))))
        r, _ = obj._terms(theta[None, :])
        np.testing.assert_allclose(r[0], 0.0, atol=1e-12)
    kaplan = get_preset("kaplan2020").law
    assert lse_design(kaplan, X) is None  # keeps the SciPy path


# -- same optima, same quantiles ----------------------------------------------------------------
def test_epoch_resamples_reach_the_scipy_optima_and_quantiles(epoch_runs):
    template, X, y, w, settings, starts = problem(epoch_runs)
    new_theta, new_value, old_theta, old_value, fallbacks = both_paths(
        template, X, y, w, settings, starts, 150, seed=7)
    assert fallbacks == 0
    assert np.all(new_value <= old_value * (1 + 1e-10)), np.max(new_value / old_value - 1)
    assert np.max(np.abs(new_theta - old_theta)) < 1e-4     # the same optimum, not a neighbour
    assert_quantiles_agree(template, new_theta, old_theta)


def test_synthetic_resamples_reach_the_scipy_optima_but_for_rare_neighbouring_minima():
    # 40 points with noise 10x delta: the objective is nearly piecewise linear and has
    # neighbouring local minima; either local method stops in a worse one now and then.
    template, X, y, w, settings, starts = problem(planted(0.01, seed=3))
    new_theta, new_value, old_theta, old_value, _ = both_paths(template, X, y, w, settings,
                                                               starts, 200, seed=3)
    worse = new_value > old_value * (1 + 1e-9) + 1e-12
    assert worse.mean() <= 0.02, worse.sum()
    assert np.all(new_value <= old_value * (1 + 1e-3))
    assert_quantiles_agree(template, new_theta, old_theta)


@pytest.mark.parametrize("options", [
    {"E_fixed": 1.8},
    {"E_bounds": (1.85, 3.0)},            # the lower bound is active at the optimum
    {"E_prior": (1.7, 0.02)},
    {"bound_E_below_min_loss": True},
    {"huber_delta": 0.05},
])
def test_options_reach_the_scipy_optima(epoch_runs, options):
    template, X, y, w, settings, starts = problem(epoch_runs, **options)
    new_theta, new_value, old_theta, old_value, _ = both_paths(template, X, y, w, settings,
                                                               starts, 30, seed=1)
    assert np.all(new_value <= old_value * (1 + 1e-10))
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in raw_bounds(template, y,
                                                                              settings)])
    assert np.all(new_theta >= lo - 1e-12)
    E = np.exp(new_theta[:, 0])
    if "E_fixed" in options:
        np.testing.assert_allclose(E, 1.8, rtol=1e-12)
    if "E_bounds" in options:
        assert E.min() >= 1.85 * (1 - 1e-12) and np.isclose(E, 1.85).mean() > 0.5
    if options.get("bound_E_below_min_loss"):
        assert np.all(E <= y.min() * (1 + 1e-12))


def test_row_weights_reach_the_scipy_optima(epoch_runs):
    weights = np.random.default_rng(0).uniform(0.2, 2.0, len(epoch_runs))
    template, X, y, w, settings, starts = problem(epoch_runs, weights=weights)
    _, new_value, _, old_value, _ = both_paths(template, X, y, w, settings, starts, 30, seed=2)
    assert np.all(new_value <= old_value * (1 + 1e-10))


def test_power_law_reaches_the_scipy_optima():
    C = np.logspace(17, 21, 16)
    rng = np.random.default_rng(5)
    loss = (1.8 + 2e3 * C**-0.16) * np.exp(rng.normal(0, 0.005, C.size))
    runs = pd.DataFrame({"flops": C, "loss": loss})
    template, X, y, w, settings, starts = problem(runs, law="power", variable="C")
    new_theta, new_value, old_theta, old_value, _ = both_paths(template, X, y, w, settings,
                                                               starts, 60, seed=4)
    assert np.all(new_value <= old_value * (1 + 1e-10) + 1e-12)
    assert_quantiles_agree(template, new_theta, old_theta)


def test_a_fit_with_E_at_its_floor_is_polished_by_newton_not_handed_to_scipy():
    """E at its floor is a direction the objective hardly depends on (curvature ~1e-14 of the
    largest); real sweeps' fits often sit there.  With a step floored at 1e-10 of the largest
    curvature every resample crawled and fell back to SciPy (60 of 60 here)."""
    C = np.logspace(19, 22, 12)
    rng = np.random.default_rng(0)
    loss = 15 * C**-0.05 * np.exp(rng.normal(0, 0.006, C.size))      # no irreducible term
    runs = pd.DataFrame({"flops": C, "loss": loss})
    template, X, y, w, settings, starts = problem(runs, law="power", variable="C")
    assert template.from_raw(starts[0])["E"] <= 1e-5                  # the fit's E: its floor
    new_theta, new_value, old_theta, old_value, fallbacks = both_paths(
        template, X, y, w, settings, starts, 60, seed=1)
    assert fallbacks <= 3
    assert np.all(new_value <= old_value * (1 + 1e-10) + 1e-12)
    predict = [template.with_params(template.from_raw(t)).predict(C=1e23) for t in new_theta]
    reference = [template.with_params(template.from_raw(t)).predict(C=1e23) for t in old_theta]
    np.testing.assert_allclose(np.quantile(predict, QUANTILES), np.quantile(reference, QUANTILES),
                               rtol=1e-4)


def test_unconverged_resamples_are_refitted_the_scipy_way(epoch_runs):
    template, X, y, w, settings, starts = problem(epoch_runs)
    new_theta, new_value, old_theta, old_value, fallbacks = both_paths(
        template, X, y, w, settings, starts, 12, seed=5, max_iter=1)
    assert fallbacks == 12                      # one Newton step converges nothing here
    np.testing.assert_array_equal(new_theta, old_theta)
    np.testing.assert_array_equal(new_value, old_value)


def test_bootstrap_fit_paths_agree_and_other_forms_keep_scipy(epoch_runs):
    template, X, y, w, settings, starts = problem(epoch_runs)
    groups = np.arange(len(y))
    fast = bootstrap_fit(template, X, y, w, groups, settings, starts, 40, seed=3)
    again = bootstrap_fit(template, X, y, w, groups, settings, starts, 40, seed=3)
    slow = bootstrap_fit(template, X, y, w, groups, settings, starts, 40, seed=3, batched=False)
    pd.testing.assert_frame_equal(fast, again)                       # deterministic
    assert list(fast.columns) == list(template.param_names)
    for name in template.param_names:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-4)
    assert bootstrap_fit(template, X, y, w, groups, settings, starts, 0).empty


def test_batched_newton_respects_an_active_upper_bound(epoch_runs):
    from scalinglab.fit.optimise import polish

    template, X, y, w, settings, starts = problem(epoch_runs, huber_delta=1e-3)
    obj = BatchedLogHuber(lse_design(template, X), y, 1e-3, np.ones((2, len(y))))
    lo = np.full((2, 5), -np.inf)
    hi = np.full((2, 5), np.inf)
    hi[1, 2] = 0.34                                        # alpha <= 0.34 < fitted 0.347
    res = batched_newton(obj, np.vstack([starts[0], starts[0]]), lo, hi, np.ones(5, dtype=bool))
    assert res.converged.all()
    assert res.theta[1, 2] == pytest.approx(0.34, abs=1e-12) and res.value[1] > res.value[0]
    bounds = [(None, None)] * 2 + [(None, 0.34)] + [(None, None)] * 2
    theta, value = polish(LogHuberObjective(template, X, y, 1e-3, w), starts[0], bounds)
    assert res.value[1] <= value * (1 + 1e-10)
    np.testing.assert_allclose(res.theta[1], theta, atol=1e-4)


# -- the variable-projection screen -------------------------------------------------------------
@pytest.mark.parametrize("E_fixed", [None, 1.8])
def test_structured_screen_equals_the_explicit_nnls_on_every_grid_point(E_fixed):
    from scalinglab.fit.varpro import EXPONENT_GRID, batched_nnls, chinchilla_screen

    runs = planted(0.01, seed=2)
    logN, logD = np.log(runs["n_params"].to_numpy()), np.log(runs["tokens"].to_numpy())
    y = runs["loss"].to_numpy()
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    raw, sse = chinchilla_screen(logN, logD, y, w, E_fixed=E_fixed)
    # the explicit formulation: one (n, p) design matrix per (alpha, beta) grid point
    alpha, beta = (g.ravel() for g in np.meshgrid(EXPONENT_GRID, EXPONENT_GRID, indexing="ij"))
    xN, xD = np.exp(-alpha[:, None] * logN), np.exp(-beta[:, None] * logD)
    cols = [xN, xD] if E_fixed is not None else [np.ones_like(xN), xN, xD]
    coef, sse_explicit = batched_nnls(np.stack(cols, axis=2), y - (E_fixed or 0.0),
                                      np.sqrt(w) / y)
    np.testing.assert_allclose(sse, sse_explicit, rtol=1e-8, atol=1e-12 * sse_explicit.max())
    np.testing.assert_array_equal(raw[:, 2], alpha)
    np.testing.assert_array_equal(raw[:, 4], beta)
    A = coef[:, -2]
    good = A > 1e-3 * A.max()
    np.testing.assert_allclose(np.exp(raw[good, 1]), A[good], rtol=1e-6)
    assert np.argmin(sse) == np.argmin(sse_explicit)
