"""The budget planner: both directions, intervals from bootstrap draws, presets without them,
the 10x ladder, inference demand, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.compute.allocation import compute_optimal
from scalinglab.compute.cost import CostModel
from scalinglab.compute.planner import plan_for_budget, plan_for_loss
from scalinglab.compute.uncertain_law import UncertainLaw
from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.fit.settings import FitSettings
from scalinglab.laws import KaplanND, get_preset


def make_fit(n_draws: int = 200, spread: float = 1.0, seed: int = 0) -> FitResult:
    """A fit whose bootstrap draws perturb Besiroglu's law in raw coordinates."""
    law = get_preset("besiroglu2024").law
    rng = np.random.default_rng(seed)
    raw = law.to_raw(law.params)
    sd = spread * np.array([0.01, 0.05, 0.01, 0.05, 0.01])
    draws = [law.from_raw(raw + sd * rng.standard_normal(5)) for _ in range(n_draws)]
    return FitResult(law=law, columns={"N": "n_params_total", "D": "tokens"}, n_points=240,
                     n_runs=240, objective=0.0, settings=FitSettings(), residuals={"rmse_log": 0.01},
                     bootstrap_params=pd.DataFrame(draws) if n_draws else None, level=0.9)


@pytest.fixture
def costs() -> CostModel:
    return CostModel.create("h100", mfu=0.4, n_gpus=1024)


@pytest.fixture
def fitted() -> UncertainLaw:
    return UncertainLaw.from_fit(make_fit(), source="test fit")


def test_budget_plan_spends_the_budget_on_the_frontier(costs):
    law = UncertainLaw.from_preset("besiroglu2024")
    plan = plan_for_budget(law, costs, budget_usd=5e6)
    flops = 5e6 / 2.5 * 3600 * 989e12 * 0.4
    assert plan.flops.value == pytest.approx(flops)
    assert plan.budget_usd.value == pytest.approx(5e6)
    front = compute_optimal(law.law, flops)
    assert plan.n_params.value == pytest.approx(front.n_params)
    assert plan.tokens.value == pytest.approx(front.tokens)
    assert plan.loss.value == pytest.approx(front.loss)
    assert plan.wall_days.value == pytest.approx(5e6 / 2.5 / 1024 / 24)


def test_preset_says_plainly_there_is_no_interval(costs):
    plan = plan_for_budget(UncertainLaw.from_preset("hoffmann2022"), costs, budget_usd=1e6)
    assert plan.n_draws == 0
    assert plan.interval_note.startswith("no interval: preset hoffmann2022")
    assert plan.notes[0] == plan.interval_note
    for estimate in (plan.loss, plan.n_params, plan.tokens, plan.tokens_per_param):
        assert estimate.low is None and estimate.high is None
    # Quantities fixed by the budget are exact, not missing.
    assert plan.gpu_hours.low == plan.gpu_hours.value == plan.gpu_hours.high


def test_intervals_come_from_the_fits_bootstrap_draws(costs, fitted):
    plan = plan_for_budget(fitted, costs, budget_flops=1e24)
    assert plan.n_draws == 200 and "200 bootstrap draws" in plan.interval_note
    for estimate in (plan.loss, plan.n_params, plan.tokens, plan.tokens_per_param):
        assert estimate.low < estimate.value < estimate.high
    # Same percentiles as the fit result's own frontier (written independently).
    reference = make_fit().frontier(1e24)
    assert plan.loss.low == pytest.approx(reference["loss"]["low"], rel=1e-12)
    assert plan.n_params.high == pytest.approx(reference["N_opt"]["high"], rel=1e-12)


def test_wider_draws_give_wider_intervals(costs):
    narrow = plan_for_budget(UncertainLaw.from_fit(make_fit(spread=0.5)), costs,
                             budget_usd=1e7)
    wide = plan_for_budget(UncertainLaw.from_fit(make_fit(spread=2.0)), costs, budget_usd=1e7)
    assert (wide.loss.high - wide.loss.low) > (narrow.loss.high - narrow.loss.low)


def test_target_loss_plan_prices_the_cheapest_model_with_intervals(costs, fitted):
    plan = plan_for_loss(fitted, costs, 2.0)
    assert plan.loss.value == plan.loss.low == plan.loss.high == 2.0
    assert plan.budget_usd.low < plan.budget_usd.value < plan.budget_usd.high
    assert plan.budget_usd.value == pytest.approx(plan.gpu_hours.value * 2.5)
    # Both directions agree: spending that cost buys exactly the target loss.
    back = plan_for_budget(fitted, costs, budget_usd=plan.budget_usd.value)
    assert back.loss.value == pytest.approx(2.0, rel=1e-10)
    assert back.n_params.value == pytest.approx(plan.n_params.value, rel=1e-9)


def test_draws_that_cannot_reach_the_target_are_counted_and_infinite(costs):
    fit = make_fit(n_draws=40)
    fit.bootstrap_params.loc[:9, "E"] = 2.05  # 10 draws with E above the target
    plan = plan_for_loss(UncertainLaw.from_fit(fit), costs, 2.0)
    assert plan.unreachable_draws == 10
    assert plan.budget_usd.high == np.inf and np.isfinite(plan.budget_usd.low)
    assert any("10 of 40 bootstrap draws" in note for note in plan.notes)


def test_ladder_shows_what_each_tenfold_buys(costs, fitted):
    plan = plan_for_budget(fitted, costs, budget_usd=1e6)
    multiples = [row.multiple for row in plan.ladder]
    assert multiples == pytest.approx([0.1, 1, 10, 100, 1000])
    losses = [row.loss.value for row in plan.ladder]
    assert np.all(np.diff(losses) < 0)
    assert plan.ladder[1].loss.value == pytest.approx(plan.loss.value)
    drops = [row.loss_drop for row in plan.ladder[1:]]
    assert all(d.low > 0 and d.low <= d.value <= d.high for d in drops)
    # Diminishing returns: each 10x buys less than the one before (power law in C).
    assert np.all(np.diff([d.value for d in drops]) < 0)
    assert plan.ladder[2].budget_usd == pytest.approx(1e7)


def test_inference_demand_adds_the_inference_aware_model(costs, fitted):
    plan = plan_for_budget(fitted, costs, budget_usd=5e6, inference_tokens=1e13)
    inf = plan.inference
    assert inf is not None and inf.inference_tokens == 1e13
    assert inf.chinchilla.n_params.value == pytest.approx(plan.n_params.value, rel=1e-9)
    assert inf.inference_aware.n_params.value < inf.chinchilla.n_params.value
    assert inf.inference_aware.total_cost.value < inf.chinchilla.total_cost.value
    assert inf.flops_saving.low >= 0 and inf.flops_saving.high > inf.flops_saving.low
    assert inf.cost_saving.value == pytest.approx(inf.flops_saving.value)
    assert inf.train_cost_ratio.value > 1  # trains longer, serves cheaper
    assert plan_for_budget(fitted, costs, budget_usd=5e6).inference is None


def test_slower_serving_pushes_towards_smaller_models(fitted):
    same = CostModel.create("h100", mfu=0.4)
    slow = CostModel.create("h100", mfu=0.4, inference_mfu=0.1)
    a = plan_for_loss(fitted, same, 2.0, inference_tokens=1e12).inference
    b = plan_for_loss(fitted, slow, 2.0, inference_tokens=1e12).inference
    assert b.inference_aware.n_params.value < a.inference_aware.n_params.value
    assert b.inference_aware.inference_cost.value > 0


def test_budget_in_another_currency(fitted):
    won = CostModel.create("h100", currency="KRW", rate=1400.0)
    usd = CostModel.create("h100")
    in_won = plan_for_budget(fitted, won, budget=7e9)
    in_usd = plan_for_budget(fitted, usd, budget_usd=5e6)
    assert in_won.flops.value == pytest.approx(in_usd.flops.value)
    assert in_won.budget.value == pytest.approx(7e9) and in_won.currency == "KRW"
    assert in_won.budget_usd.value == pytest.approx(5e6)


def test_plans_are_deterministic(costs, fitted):
    first = plan_for_loss(fitted, costs, 2.0, inference_tokens=1e12).to_dict()
    second = plan_for_loss(fitted, costs, 2.0, inference_tokens=1e12).to_dict()
    assert first == second


def test_fit_without_draws_has_no_interval(costs):
    plan = plan_for_budget(UncertainLaw.from_fit(make_fit(n_draws=0), source="bare fit"), costs,
                           budget_usd=1e6)
    assert plan.loss.low is None and plan.interval_note.startswith("no interval: bare fit")


@pytest.mark.parametrize("kwargs, message", [
    ({"budget_usd": -5e6}, "budget must be a finite number > 0 USD"),
    ({"budget_usd": 1e6, "budget_flops": 1e24}, "exactly one budget"),
    ({}, "exactly one budget"),
    ({"budget_usd": 1e6, "inference_tokens": -1.0}, "inference tokens must be"),
])
def test_bad_budget_input(costs, fitted, kwargs, message):
    with pytest.raises(ScalingLabError, match=message) as err:
        plan_for_budget(fitted, costs, **kwargs)
    assert "\n" not in str(err.value)


def test_target_below_e_is_an_error(costs, fitted):
    with pytest.raises(ScalingLabError, match="not above the law's irreducible loss"):
        plan_for_loss(fitted, costs, 1.8)


def test_non_chinchilla_law_and_bad_level_are_errors():
    kaplan = KaplanND(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103)
    with pytest.raises(ScalingLabError, match="needs a Chinchilla law"):
        UncertainLaw(kaplan, None, "kaplan")  # type: ignore[arg-type]
    with pytest.raises(ScalingLabError, match="confidence level"):
        UncertainLaw.from_preset("besiroglu2024", level=1.5)


def test_target_loss_plan_says_when_the_chosen_frontier_disagrees_with_its_target(costs,
                                                                                    epoch_runs):
    """Epoch's runs under law="auto": the backtests choose the envelope law L*(C) for
    compute-optimal losses, so the compute the N-D law sizes for a target gets another loss
    from the frontier (the ladder's x1 row); the plan names both numbers and the law."""
    import scalinglab

    fit = scalinglab.fit(epoch_runs, bootstrap=0, frontier_filter=None)
    assert fit.diagnostics["selection"]["frontier"]["chosen"] == "envelope"
    plan = plan_for_loss(UncertainLaw.from_fit(fit), costs, 2.2)
    x1 = next(row for row in plan.ladder if row.multiple == 1)
    assert plan.loss.value == 2.2 and x1.loss.kind == "run" and x1.loss.value != 2.2
    note = next(n for n in plan.notes if n.startswith("N and D are sized by the law L(N, D)"))
    assert "envelope law L*(C)" in note and f"predicts {x1.loss.value:.4g}" in note
    assert f"{x1.loss.value / 2.2 - 1:+.1%}" in note
    # a fit without a frontier choice (or a budget plan) has nothing to reconcile
    assert not any(n.startswith("N and D are sized") for n in
                   plan_for_loss(UncertainLaw.from_fit(make_fit()), costs, 2.0).notes)
