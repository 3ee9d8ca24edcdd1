"""Compute-optimal allocation, its inverse, and the inference-aware optimum, against independent
numerical minimisation and with hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from scalinglab.compute.allocation import (
    cheapest_for_loss,
    compute_optimal,
    compute_optimal_for_params,
    frontier_loss,
    inference_aware_optimum,
)
from scalinglab.errors import ScalingLabError
from scalinglab.laws import Chinchilla, KaplanND, get_preset

PRESETS = ["hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024"]


def brute_force_inference_optimum(law: Chinchilla, loss: float, d_inf: float) -> float:
    """N minimising 6 N D(N) + 2 N D_inf along L(N, D) = loss, by bounded scalar search."""
    p = law.params
    n_min = (p["A"] / (loss - p["E"])) ** (1 / p["alpha"])

    def total(log_n: float) -> float:
        n = np.exp(log_n)
        data_excess = loss - p["E"] - p["A"] / n ** p["alpha"]
        d = (p["B"] / data_excess) ** (1 / p["beta"])
        return np.log(6 * n * d + 2 * n * d_inf)

    res = minimize_scalar(total, bounds=(np.log(n_min) + 1e-9, np.log(n_min) + 30),
                          method="bounded", options={"xatol": 1e-11})
    return float(np.exp(res.x))


@pytest.mark.parametrize("preset", PRESETS)
def test_cheapest_for_loss_inverts_the_frontier(preset):
    law = get_preset(preset).law
    flops = np.array([1e20, 5.76e23, 1e26])
    front = compute_optimal(law, flops)
    back = cheapest_for_loss(law, front.loss)
    np.testing.assert_allclose(back.train_flops, flops, rtol=1e-9)
    np.testing.assert_allclose(back.n_params, front.n_params, rtol=1e-9)
    np.testing.assert_allclose(law.predict(N=back.n_params, D=back.tokens), front.loss,
                               rtol=1e-12)


def test_cheapest_for_loss_beats_neighbours_on_the_loss_curve():
    law = get_preset("besiroglu2024").law
    best = cheapest_for_loss(law, 2.1)
    for factor in (0.8, 0.95, 1.05, 1.25):
        n = best.n_params * factor
        excess = 2.1 - law.params["E"] - law.params["A"] / n ** law.params["alpha"]
        d = (law.params["B"] / excess) ** (1 / law.params["beta"])
        assert 6 * n * d > best.train_flops


def test_frontier_for_params_lands_on_that_size():
    law = get_preset("hoffmann2022").law
    alloc = compute_optimal_for_params(law, [1e9, 7e10])
    np.testing.assert_allclose(alloc.n_params, [1e9, 7e10], rtol=1e-12)
    again = compute_optimal(law, alloc.train_flops)
    np.testing.assert_allclose(again.tokens, alloc.tokens, rtol=1e-9)
    assert frontier_loss(law, 1e22) == pytest.approx(compute_optimal(law, 1e22).loss)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("d_inf", [1e11, 2e12, 1e14])
def test_inference_optimum_matches_brute_force(preset, d_inf):
    law = get_preset(preset).law
    loss = compute_optimal_for_params(law, 13e9).loss
    ours = inference_aware_optimum(law, loss, d_inf)
    assert ours.optimum.n_params == pytest.approx(
        brute_force_inference_optimum(law, loss, d_inf), rel=1e-4)
    assert law.predict(N=ours.optimum.n_params, D=ours.optimum.tokens) == pytest.approx(
        loss, rel=1e-12)


def test_zero_inference_returns_the_chinchilla_optimum():
    law = get_preset("hoffmann2022").law
    loss = compute_optimal_for_params(law, 13e9).loss
    zero = inference_aware_optimum(law, loss, 0.0)
    chin = cheapest_for_loss(law, loss)
    assert zero.optimum.n_params == pytest.approx(chin.n_params, rel=1e-12)
    assert zero.optimum.tokens == pytest.approx(chin.tokens, rel=1e-12)
    assert zero.saving == pytest.approx(0.0, abs=1e-12)
    # A vanishing positive demand goes through the root search and must land there too.
    tiny = inference_aware_optimum(law, loss, 1e-3)
    assert tiny.optimum.n_params == pytest.approx(chin.n_params, rel=1e-9)


def test_more_inference_means_smaller_models_trained_longer():
    law = get_preset("besiroglu2024").law
    result = inference_aware_optimum(law, 2.0, np.array([0.0, 1e11, 1e12, 1e13, 1e14]))
    assert np.all(np.diff(result.optimum.n_params) < 0)
    assert np.all(np.diff(result.optimum.tokens) > 0)
    assert np.all(np.diff(result.saving) > 0)


def test_vectorised_over_draws_equals_one_at_a_time():
    law = get_preset("hoffmann2022").law
    rng = np.random.default_rng(0)
    params = {k: v * (1 + 0.02 * rng.standard_normal(5)) for k, v in law.params.items()}
    together = inference_aware_optimum(params, 2.1, 3e12)
    for i in range(5):
        one = inference_aware_optimum(law.with_params({k: v[i] for k, v in params.items()}),
                                      2.1, 3e12)
        assert together.optimum.n_params[i] == pytest.approx(one.optimum.n_params, rel=1e-12)


def test_unreachable_draws_are_infinite_when_not_strict():
    params = {"E": np.array([1.8, 2.5]), "A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28}
    alloc = cheapest_for_loss(params, 2.2, strict=False)
    assert np.isfinite(alloc.n_params[0]) and np.isinf(alloc.n_params[1])
    aware = inference_aware_optimum(params, 2.2, 1e12, strict=False)
    assert np.isfinite(aware.optimum.n_params[0]) and np.isinf(aware.optimum.n_params[1])


@pytest.mark.parametrize("loss", [1.69, 1.5])
def test_target_at_or_below_e_is_a_one_line_error(loss):
    law = get_preset("hoffmann2022").law
    with pytest.raises(ScalingLabError, match="not above the law's irreducible loss E = 1.69") \
            as err:
        cheapest_for_loss(law, loss)
    assert "\n" not in str(err.value)
    with pytest.raises(ScalingLabError, match="irreducible loss"):
        inference_aware_optimum(law, loss, 1e12)


def test_bad_inputs_are_one_line_errors():
    law = get_preset("hoffmann2022").law
    with pytest.raises(ScalingLabError, match="compute budget must be"):
        compute_optimal(law, -1e21)
    with pytest.raises(ScalingLabError, match="inference tokens must be"):
        inference_aware_optimum(law, 2.0, -1.0)
    with pytest.raises(ScalingLabError, match="needs a Chinchilla law"):
        compute_optimal(KaplanND(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103), 1e21)


law_params = st.fixed_dictionaries({
    "E": st.floats(0.5, 3.0), "A": st.floats(10.0, 5e3), "alpha": st.floats(0.1, 0.8),
    "B": st.floats(10.0, 5e3), "beta": st.floats(0.1, 0.8)})


@settings(max_examples=200, deadline=None)
@given(params=law_params, log10_flops=st.floats(18.0, 27.0), log10_dinf=st.floats(6.0, 16.0))
def test_inference_aware_never_costs_more_than_chinchilla(params, log10_flops, log10_dinf):
    law = Chinchilla(**params)
    loss = compute_optimal(law, 10.0**log10_flops).loss  # a loss reachable at that compute
    d_inf = 10.0**log10_dinf
    result = inference_aware_optimum(law, loss, d_inf)
    assert result.optimum_total_flops <= result.chinchilla_total_flops * (1 + 1e-12)
    assert result.optimum.n_params <= result.chinchilla.n_params * (1 + 1e-9)
    assert law.predict(N=result.optimum.n_params, D=result.optimum.tokens) == pytest.approx(
        loss, rel=1e-9)
