"""The law forms: predictions in nats/token, vectorisation, raw coordinates, Jacobians, errors.

Every form is checked against a direct transcription of its published formula (not against
its own log-sum-exp code), and every analytic Jacobian against central finite differences
computed here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import least_squares

from scalinglab.errors import ScalingLabError
from scalinglab.fit.parametric import fit_parametric
from scalinglab.laws import (
    LAW_FORMS,
    Chinchilla,
    DataConstrained,
    KaplanND,
    Law,
    PowerLaw,
    get_preset,
    law_from_dict,
)
from scalinglab.laws.data_constrained import effective_data

HOFFMANN = dict(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28)  # Hoffmann 2022, Eq. 4
MUENNIGHOFF = dict(E=1.86914, A=520.825, alpha=0.35266, B=1487.72, beta=0.35266,
                   R_D_star=15.387756, R_N_star=5.309743)  # Muennighoff 2023 (rounded here)


# -- independent transcriptions of each published formula --------------------------------------
def power_formula(p, x):
    return p.get("E", 0.0) + p["A"] * x ** (-p["alpha"])


def chinchilla_formula(p, N, D):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def kaplan_formula(p, N, D):
    return ((p["N_c"] / N) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / D) ** p["alpha_D"]


def data_constrained_formula(p, N, D, U):
    """Muennighoff et al. 2023, Sec. 3, written out term by term with scalars."""
    A, B, alpha, beta = p["A"], p["B"], p["alpha"], p["beta"]
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    out = []
    for n, d, u in zip(np.ravel(N), np.ravel(D), np.ravel(U), strict=True):
        r_d = max(d / u - 1, 0.0)
        u_n = min(n, G * (u * G) ** (beta / alpha))
        r_n = max(n / u_n - 1, 0.0)
        d_eff = u + u * p["R_D_star"] * (1 - np.exp(-r_d / p["R_D_star"]))
        n_eff = u_n + u_n * p["R_N_star"] * (1 - np.exp(-r_n / p["R_N_star"]))
        out.append(p["E"] + A / n_eff**alpha + B / d_eff**beta)
    return np.array(out)


def dc_inputs():
    """(N, D, U) covering one epoch, many epochs, and models above and below U_N."""
    N = np.array([1e8, 1e9, 7e9, 3e10, 2e11, 5e8, 2e10, 1e12])
    D = np.array([2e9, 5e10, 2e11, 6e11, 1e12, 1e11, 4e11, 3e11])
    U = np.array([2e9, 1e10, 2.5e10, 6e11, 5e10, 1e9, 4e9, 3e11])
    return {"N": N, "D": D, "U": U}


def nd_inputs():
    return {"N": np.array([7e7, 4e8, 2e9, 1.6e10, 7e10]),
            "D": np.array([5e9, 8e9, 1e11, 3e11, 1.4e12])}


# (law, inputs, transcription) for every form
CASES = {
    "power-C-with-E": (PowerLaw(variable="C", E=1.7, A=2.3e3, alpha=0.15),
                       {"C": np.array([1e18, 3e20, 1e22, 5.76e23])},
                       lambda p, X: power_formula(p, X["C"])),
    "power-N-kaplan": (PowerLaw.from_critical("N", 8.8e13, 0.076),
                       {"N": np.array([1e6, 1e8, 1e10])},
                       lambda p, X: power_formula(p, X["N"])),
    "chinchilla": (Chinchilla(**HOFFMANN), nd_inputs(),
                   lambda p, X: chinchilla_formula(p, X["N"], X["D"])),
    "kaplan-nd": (KaplanND(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103), nd_inputs(),
                  lambda p, X: kaplan_formula(p, X["N"], X["D"])),
    "data-constrained": (DataConstrained(**MUENNIGHOFF), dc_inputs(),
                         lambda p, X: data_constrained_formula(p, X["N"], X["D"], X["U"])),
}
IDS = list(CASES)


@pytest.fixture(params=IDS)
def case(request):
    return CASES[request.param]


def numeric_jacobian(law, theta, X, step=1e-6):
    cols = []
    for j in range(theta.size):
        h = step * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        cols.append((law.log_predict_raw(up, X) - law.log_predict_raw(down, X)) / (2 * h))
    return np.stack(cols, axis=1)


# -- predictions -----------------------------------------------------------------------------
def test_predict_matches_published_formula(case):
    law, X, formula = case
    np.testing.assert_allclose(law.predict(**X), formula(law.params, X), rtol=1e-12)


def test_predict_scalar_gives_float_and_arrays_are_elementwise(case):
    law, X, _ = case
    batch = law.predict(**X)
    assert isinstance(batch, np.ndarray) and batch.shape == next(iter(X.values())).shape
    singles = [law.predict(**{k: float(v[i]) for k, v in X.items()}) for i in range(batch.size)]
    assert all(isinstance(s, float) for s in singles)
    np.testing.assert_allclose(batch, singles, rtol=1e-14)


def test_predict_broadcasts_a_grid(case):
    """A column of the first variable against rows of the others gives the full (n, n) table."""
    law, X, _ = case
    first, *others = law.variables
    grid = law.predict(**{first: X[first][:, None], **{k: X[k][None, :] for k in others}})
    n = X[first].size
    m = n if others else 1
    assert grid.shape == (n, m)
    for i in range(n):
        for j in range(m):
            single = law.predict(**{first: X[first][i], **{k: X[k][j] for k in others}})
            assert grid[i, j] == pytest.approx(single, rel=1e-14)


def test_callable_is_predict(case):
    law, X, _ = case
    np.testing.assert_array_equal(law(**X), law.predict(**X))


def test_loss_units_nats_per_token_sanity():
    """Hoffmann's rounded law at Chinchilla (70B params, 1.4T tokens) is ~1.94 nats/token:
    E + A/N^alpha + B/D^beta = 1.69 + 0.0832 + 0.1630 (Hoffmann 2022, Eq. 4 evaluated)."""
    loss = Chinchilla(**HOFFMANN).predict(N=70e9, D=1.4e12)
    assert loss == pytest.approx(1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28, rel=1e-14)
    assert 1.9 < loss < 2.0


# -- raw coordinates -------------------------------------------------------------------------
def test_raw_round_trip(case):
    law, _, _ = case
    theta = law.to_raw(law.params)
    assert theta.shape == (len(law.param_names),)
    back = law.from_raw(theta)
    assert list(back) == list(law.param_names)
    for k in law.param_names:
        assert back[k] == pytest.approx(law.params[k], rel=1e-13)
    np.testing.assert_allclose(law.to_raw(back), theta, rtol=1e-13, atol=1e-15)


def test_batched_log_predict_rows_equal_single(case):
    law, X, _ = case
    rng = np.random.default_rng(0)
    theta0 = law.to_raw(law.params)
    thetas = theta0 + 0.01 * rng.standard_normal((4, theta0.size))
    batch = law.log_predict_raw(thetas, X)
    assert batch.shape == (4, next(iter(X.values())).size)
    for row, theta in zip(batch, thetas, strict=True):
        np.testing.assert_allclose(row, law.log_predict_raw(theta, X), rtol=1e-13)


def test_log_predict_raw_is_log_of_predict(case):
    law, X, _ = case
    np.testing.assert_allclose(np.exp(law.log_predict_raw(law.to_raw(law.params), X)),
                               law.predict(**X), rtol=1e-14)


def test_jacobian_matches_finite_differences(case):
    law, X, _ = case
    theta = law.to_raw(law.params)
    analytic = law.log_jacobian_raw(theta, X)
    assert analytic.shape == (next(iter(X.values())).size, theta.size)
    np.testing.assert_allclose(analytic, numeric_jacobian(law, theta, X), rtol=1e-5, atol=1e-8)


def test_data_constrained_jacobian_is_analytic_not_default():
    """The data-constrained law ships its own Jacobian (the base class would difference)."""
    assert DataConstrained.log_jacobian_raw is not Law.log_jacobian_raw


def test_data_constrained_jacobian_at_perturbed_parameters():
    law = DataConstrained(**MUENNIGHOFF)
    X = dc_inputs()
    theta = law.to_raw(law.params) + np.array([0.1, -0.3, 0.05, 0.4, -0.04, 0.5, -0.6])
    np.testing.assert_allclose(law.log_jacobian_raw(theta, X), numeric_jacobian(law, theta, X),
                               rtol=1e-5, atol=1e-8)


def test_default_starts_are_finite_grids(case):
    law, X, formula = case
    y = formula(law.params, X)
    starts = law.default_starts(X, y)
    assert starts.ndim == 2 and starts.shape[1] == len(law.param_names)
    assert np.all(np.isfinite(law.log_predict_raw(starts, X)))


# -- serialisation ---------------------------------------------------------------------------
def test_law_from_dict_round_trip(case):
    law, X, _ = case
    data = json.loads(json.dumps(law.to_dict()))
    clone = law_from_dict(data)
    assert type(clone) is type(law)
    assert clone.params == law.params
    assert clone.variables == law.variables
    np.testing.assert_array_equal(clone.predict(**X), law.predict(**X))


def test_every_form_is_registered():
    assert set(LAW_FORMS) >= {"power", "chinchilla", "kaplan", "data_constrained"}
    assert LAW_FORMS["data_constrained"] is DataConstrained


def test_with_params_copies_form():
    law = DataConstrained(**MUENNIGHOFF)
    other = law.with_params({**MUENNIGHOFF, "R_D_star": 3.0})
    assert other.params["R_D_star"] == 3.0 and law.params["R_D_star"] == MUENNIGHOFF["R_D_star"]
    X = dc_inputs()
    assert np.all(other.predict(**X) >= law.predict(**X) - 1e-15)  # faster decay, higher loss


# -- bad input: one-line ScalingLabError naming the problem ----------------------------------
def assert_one_line(excinfo, *words):
    message = str(excinfo.value)
    assert "\n" not in message and message
    for word in words:
        assert word in message


@pytest.mark.parametrize("bad", [-1e9, 0.0, np.nan, np.inf])
def test_non_positive_or_non_finite_N_is_rejected(case, bad):
    law, X, _ = case
    inputs = {k: v.copy() for k, v in X.items()}
    key = "C" if "C" in inputs else "N"
    inputs[key][0] = bad
    with pytest.raises(ScalingLabError) as excinfo:
        law.predict(**inputs)
    assert_one_line(excinfo, key)


def test_missing_variable_is_rejected(case):
    law, X, _ = case
    dropped = law.variables[-1]
    with pytest.raises(ScalingLabError) as excinfo:
        law.predict(**{k: v for k, v in X.items() if k != dropped})
    assert_one_line(excinfo, "missing", dropped)


def test_unknown_preset_is_rejected():
    with pytest.raises(ScalingLabError) as excinfo:
        get_preset("gpt5-secret")
    assert_one_line(excinfo, "gpt5-secret", "hoffmann2022", "muennighoff2023")


def test_unknown_form_and_wrong_parameters_are_rejected():
    with pytest.raises(ScalingLabError) as excinfo:
        law_from_dict({"law": "quadratic", "params": {}})
    assert_one_line(excinfo, "quadratic")
    with pytest.raises(ScalingLabError) as excinfo:
        Chinchilla(E=1.0, A=1.0, alpha=0.3, B=1.0)
    assert_one_line(excinfo, "beta")
    with pytest.raises(ScalingLabError) as excinfo:
        PowerLaw(variable="Q", E=1.0, A=1.0, alpha=0.1)
    assert_one_line(excinfo, "Q")


def test_data_constrained_rejects_more_unique_than_seen_tokens():
    with pytest.raises(ScalingLabError) as excinfo:
        DataConstrained(**MUENNIGHOFF).predict(N=1e9, D=1e10, U=2e10)
    assert_one_line(excinfo, "U", "D")


@pytest.mark.parametrize("name", ["R_D_star", "alpha", "E"])
def test_data_constrained_rejects_non_positive_parameters(name):
    with pytest.raises(ScalingLabError) as excinfo:
        DataConstrained(**{**MUENNIGHOFF, name: -1.0})
    assert_one_line(excinfo, name)


def test_allocation_rejects_bad_budget():
    law = DataConstrained(**MUENNIGHOFF)
    with pytest.raises(ScalingLabError):
        law.optimal_allocation(-1.0, 1e10)
    with pytest.raises(ScalingLabError):
        law.optimal_allocation(1e21, 0.0)


# -- the data-constrained law's defining properties ------------------------------------------
def test_one_epoch_reduces_exactly_to_chinchilla():
    """D = U and N <= U_N (enough tokens per parameter): R_D = R_N = 0, so N' = N, D' = D."""
    law = DataConstrained(**MUENNIGHOFF)
    base = law.base_law()
    N = np.array([1e7, 1e8, 1e9, 1e10, 7e10])
    D = 100.0 * N  # 100 tokens/parameter > the ~20 the base law needs at these sizes
    assert np.all(law.unique_params(N, D) == N)
    np.testing.assert_allclose(law.predict(N=N, D=D, U=D), base.predict(N=N, D=D), rtol=1e-15)
    np.testing.assert_array_equal(law.effective_data(D, D), D)
    np.testing.assert_array_equal(law.effective_params(N, D), N)


def test_one_epoch_oversized_model_is_still_discounted():
    """The paper's U_N = min(N_opt(U), N) discounts excess parameters even at one epoch."""
    law = DataConstrained(**MUENNIGHOFF)
    N, D = 7e10, 1e11  # ~1.4 tokens/parameter, far below compute-optimal
    cap = law.unique_params(N, D)
    assert cap < N
    assert law.predict(N=N, D=D, U=D) > law.base_law().predict(N=N, D=D)


def test_unique_params_is_the_base_frontier_inverted():
    """U_N for U tokens is the N_opt whose compute-optimal D_opt equals U (Chinchilla frontier)."""
    law = DataConstrained(**MUENNIGHOFF)
    for C in (1e19, 5.76e23, 1e26):
        f = law.base_law().frontier(C)
        assert law.unique_params(1e30, f["D_opt"]) == pytest.approx(f["N_opt"], rel=1e-10)


def test_effective_data_decays_and_saturates():
    R_star = MUENNIGHOFF["R_D_star"]
    U = 1e10
    epochs = np.array([1.0, 2.0, 4.0, 16.0, 100.0, 1e6])
    D_eff = effective_data(U * epochs, U, R_star)
    assert np.all(np.diff(D_eff) > 0)                       # more passes never hurt
    assert np.all(D_eff <= U * epochs)                      # never worth more than fresh data
    assert D_eff[-1] == pytest.approx(U * (1 + R_star), rel=1e-9)  # ceiling U (1 + R_D*)
    # marginal value of the r-th repetition is exp(-r / R_D*) of a fresh token
    r, h = 7.0, 1e-4
    slope = (effective_data(U * (2 + r + h), U, R_star)
             - effective_data(U * (2 + r - h), U, R_star)) / (2 * h * U)
    assert slope == pytest.approx(np.exp(-(1 + r) / R_star), rel=1e-7)


def test_helpers_reassemble_the_prediction():
    law = DataConstrained(**MUENNIGHOFF)
    X = dc_inputs()
    p = law.params
    n_eff = law.effective_params(X["N"], X["U"])
    d_eff = law.effective_data(X["D"], X["U"])
    np.testing.assert_allclose(
        law.predict(**X), p["E"] + p["A"] / n_eff ** p["alpha"] + p["B"] / d_eff ** p["beta"],
        rtol=1e-13)


def test_more_unique_data_never_hurts():
    law = DataConstrained(**MUENNIGHOFF)
    U = np.geomspace(1e9, 2e11, 30)
    loss = law.predict(N=np.full_like(U, 8.7e9), D=np.full_like(U, 2e11), U=U)
    assert np.all(np.diff(loss) <= 1e-15)


def test_generic_least_squares_recovers_planted_parameters():
    """The raw interface is enough to fit the law: noiseless data -> planted values to 1e-4."""
    truth = DataConstrained(**MUENNIGHOFF)
    rng = np.random.default_rng(1)
    n = 120
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    tokens_per_param = np.exp(rng.uniform(np.log(2.0), np.log(400.0), n))
    D = N * tokens_per_param
    U = D / np.exp(rng.uniform(0.0, np.log(60.0), n))  # 1 to 60 epochs
    X = {"N": N, "D": D, "U": U}
    log_y = truth.log_predict_raw(truth.to_raw(truth.params), X)

    starts = truth.default_starts(X, np.exp(log_y))
    sse = ((truth.log_predict_raw(starts, X) - log_y) ** 2).sum(axis=1)
    best = None
    for start in starts[np.argsort(sse)[:5]]:
        fit = least_squares(lambda th: truth.log_predict_raw(th, X) - log_y, start,
                            jac=lambda th: truth.log_jacobian_raw(th, X),
                            xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=2000)
        if best is None or fit.cost < best.cost:
            best = fit
    got = truth.from_raw(best.x)
    for k, v in truth.params.items():
        assert got[k] == pytest.approx(v, rel=1e-4), k


def test_project_fitter_recovers_planted_data_constrained_law():
    """scalinglab.fit.parametric (Approach 3, summed log-Huber) fits the form by name from a run
    table with a ``unique_tokens`` column: noiseless planted data -> the planted law."""
    truth = DataConstrained(**MUENNIGHOFF)
    rng = np.random.default_rng(2)
    n = 100
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = N * np.exp(rng.uniform(np.log(2.0), np.log(400.0), n))
    U = D / np.exp(rng.uniform(0.0, np.log(60.0), n))
    runs = pd.DataFrame({"run_id": [f"run{i}" for i in range(n)], "n_params": N, "tokens": D,
                         "unique_tokens": U, "flops": 6 * N * D,
                         "loss": truth.predict(N=N, D=D, U=U)})
    result = fit_parametric(runs, law="data_constrained")
    assert isinstance(result.law, DataConstrained)
    for k, v in truth.params.items():
        assert result.params[k] == pytest.approx(v, rel=1e-6), k
