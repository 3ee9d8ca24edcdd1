"""The budget planner: what a budget buys under a fitted law, what a loss costs, with intervals.

A plan joins three things: a Chinchilla law with its uncertainty (:class:`UncertainLaw`: the
point estimate plus a fit's bootstrap draws, or a published preset without draws), a
:class:`~scalinglab.compute.cost.CostModel` (GPU, MFU, price, energy), and a question:

* :func:`plan_for_budget` -- money (or FLOPs) -> compute-optimal N and D, predicted loss,
  GPU-hours, days, energy, emissions;
* :func:`plan_for_loss` -- target loss -> the cheapest (N, D) and what it costs.

Both add "what each 10x more money buys" (the marginal value of compute) and, given inference
demand, the inference-aware model of Sardana et al. 2024 beside the Chinchilla one.

Uncertainty: every quantity is computed for the point law and for each bootstrap draw at once
(index 0 = point, 1.. = draws); an :class:`Estimate` reports the point value and the percentile
interval over the draws, so derived quantities keep their pairing within each draw.  Quantities
fixed by the question (the budget itself, or the target loss) have a zero-width interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scalinglab.compute.allocation import (
    Allocation,
    cheapest_for_loss,
    compute_optimal,
    inference_aware_optimum,
)
from scalinglab.compute.cost import MFU_TYPICAL_RANGE, CostModel
from scalinglab.compute.uncertain_law import Estimate, UncertainLaw, estimate
from scalinglab.compute.units import (
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
    check_nonnegative,
    check_positive,
)
from scalinglab.display import NotebookDisplay
from scalinglab.errors import ScalingLabError
from scalinglab.fit.frontier_interval import frontier_source
from scalinglab.fit.guards import Guard, GuardRefused

#: Budgets of the "what 10x more buys" table, as powers of ten around the plan's budget.
DEFAULT_LADDER: tuple[int, ...] = (-1, 0, 1, 2, 3)


@dataclass(frozen=True)
class Deployment:
    """A model trained on ``tokens`` and then served ``inference_tokens``: FLOPs and money."""

    n_params: Estimate
    tokens: Estimate
    tokens_per_param: Estimate
    train_flops: Estimate
    inference_flops: Estimate
    total_flops: Estimate
    train_cost: Estimate
    inference_cost: Estimate
    total_cost: Estimate

    def to_dict(self) -> dict:
        return {k: v.to_dict() for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class InferencePlan:
    """Chinchilla-optimal versus inference-aware (Sardana et al. 2024) at the same loss."""

    inference_tokens: float
    loss: Estimate
    chinchilla: Deployment
    inference_aware: Deployment
    flops_saving: Estimate
    cost_saving: Estimate
    train_cost_ratio: Estimate

    def to_dict(self) -> dict:
        return {"inference_tokens": self.inference_tokens, "loss": self.loss.to_dict(),
                "chinchilla": self.chinchilla.to_dict(),
                "inference_aware": self.inference_aware.to_dict(),
                "flops_saving": self.flops_saving.to_dict(),
                "cost_saving": self.cost_saving.to_dict(),
                "train_cost_ratio": self.train_cost_ratio.to_dict()}


@dataclass(frozen=True)
class LadderRow:
    """What ``multiple`` x the plan's money buys; ``loss_drop`` against the previous row."""

    multiple: float
    budget: float
    budget_usd: float
    flops: float
    n_params: Estimate
    tokens: Estimate
    loss: Estimate
    loss_drop: Estimate | None

    def to_dict(self) -> dict:
        out = {k: (v.to_dict() if isinstance(v, Estimate) else v)
               for k, v in self.__dict__.items()}
        return out


@dataclass(frozen=True)
class Plan(NotebookDisplay):
    """The answer of the planner.  Money in ``currency`` (and USD), FLOPs, GPU-hours, days on
    ``n_gpus``, kWh, kg CO2e, parameters, tokens, nats/token."""

    direction: str
    source: str
    law: dict
    n_convention: str
    data: str
    level: float
    n_draws: int
    interval_note: str
    currency: str
    assumptions: dict
    budget: Estimate
    budget_usd: Estimate
    flops: Estimate
    pf_days: Estimate
    gpu_hours: Estimate
    wall_days: Estimate
    energy_kwh: Estimate
    co2_kg: Estimate
    n_params: Estimate
    tokens: Estimate
    tokens_per_param: Estimate
    loss: Estimate
    unreachable_draws: int = 0
    inference: InferencePlan | None = None
    ladder: list[LadderRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)

    def rows(self) -> list[tuple[str, Estimate]]:
        """The main quantities in reading order, labelled for a table."""
        return [
            ("parameters N", self.n_params), ("training tokens D", self.tokens),
            ("tokens per parameter", self.tokens_per_param), ("predicted loss", self.loss),
            ("training compute", self.flops), ("training compute (PF-days)", self.pf_days),
            ("GPU-hours", self.gpu_hours),
            (f"wall-clock days on {self.assumptions['n_gpus']} GPUs", self.wall_days),
            ("energy", self.energy_kwh), ("emissions", self.co2_kg),
            (f"cost ({self.currency})", self.budget),
        ] + ([("cost (USD)", self.budget_usd)] if self.currency != "USD" else [])

    def to_dict(self) -> dict:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Estimate | InferencePlan):
                out[key] = value.to_dict()
            elif key in ("ladder", "guards"):
                out[key] = [row.to_dict() for row in value]
            else:
                out[key] = value
        return out


# -- the two directions ----------------------------------------------------------------------
def plan_for_budget(law: UncertainLaw, costs: CostModel, *, budget: float | None = None,
                    budget_usd: float | None = None, budget_flops: float | None = None,
                    inference_tokens: float = 0.0,
                    ladder: Sequence[int] = DEFAULT_LADDER, allow_far: bool = False) -> Plan:
    """Spend a budget compute-optimally: give exactly one of ``budget`` (in the cost model's
    currency), ``budget_usd`` or ``budget_flops`` (FLOPs).  A run past the refusal distance
    from the law's data is refused unless ``allow_far`` (:mod:`scalinglab.fit.guards`)."""
    flops = _budget_flops(costs, budget, budget_usd, budget_flops)
    params = law.stacked_params()
    alloc = compute_optimal(params, flops)
    guards = law.guards(_first(alloc.n_params), _first(alloc.tokens), allow_far)
    guards += law.allocation_guards()
    plan = _assemble(law, costs, "budget", params, alloc, np.asarray(flops),
                     inference_tokens, ladder, unreachable=0)
    return replace(plan, guards=guards)


def plan_for_loss(law: UncertainLaw, costs: CostModel, target_loss: float, *,
                  inference_tokens: float = 0.0,
                  ladder: Sequence[int] = DEFAULT_LADDER, allow_far: bool = False) -> Plan:
    """The cheapest (N, D) reaching ``target_loss`` nats/token, and its cost, with intervals.
    A run past the refusal distance from the law's data is refused unless ``allow_far``."""
    check_positive(target_loss, "target loss", "nats/token")
    point = cheapest_for_loss(law.law, target_loss)  # one-line error if the law cannot reach it
    try:
        guards = law.guards(float(point.n_params), float(point.tokens), allow_far)
    except GuardRefused as exc:
        raise _above_the_data(law, target_loss, point, exc) from exc
    guards += law.allocation_guards()
    params = law.stacked_params()
    alloc = cheapest_for_loss(params, target_loss, strict=False)
    unreachable = int(np.sum(~np.isfinite(np.asarray(alloc.n_params)[1:])))
    plan = _assemble(law, costs, "target-loss", params, alloc,
                     np.asarray(alloc.train_flops), inference_tokens, ladder, unreachable)
    return replace(plan, guards=guards)


def _above_the_data(law: UncertainLaw, target_loss: float, point: Allocation,
                    refused: GuardRefused) -> GuardRefused:
    """A refusal in the terms of the question when the cheapest run reaching ``target_loss``
    lies below the fitted data's compute: the target is a loss the fitted runs already beat."""
    lowest = (law.data_range or {}).get("C", [0.0])[0]
    flops = float(point.train_flops)
    if not lowest or flops >= lowest:
        return refused
    return GuardRefused(
        f"target loss {target_loss:g} nats/token is above what the fitted runs reach: the law "
        f"reaches it at {flops:.3g} FLOPs, {np.log10(lowest / flops):.1f} decades below the "
        f"smallest fitted run ({lowest:.3g} FLOPs), so there is no run to plan; ask for a "
        f"lower loss (or pass --allow-far, API allow_far=True, to answer anyway)",
        refused.guards)


def _first(samples: Any) -> float:
    """The point value (entry 0) of stacked samples."""
    return float(np.asarray(samples, dtype=float).flat[0])


def _budget_flops(costs: CostModel, budget: float | None, budget_usd: float | None,
                  budget_flops: float | None) -> float:
    given = [v for v in (budget, budget_usd, budget_flops) if v is not None]
    if len(given) != 1:
        raise ScalingLabError("give exactly one budget: in money, in USD, or in FLOPs")
    if budget is not None:
        check_positive(budget, "budget", costs.currency.code)
        return float(costs.flops_for_money(budget))
    if budget_usd is not None:
        check_positive(budget_usd, "budget", "USD")
        return float(costs.flops_for_usd(budget_usd))
    return float(check_positive(budget_flops, "compute budget", "FLOPs"))


def _assemble(law: UncertainLaw, costs: CostModel, direction: str,
              params: dict[str, np.ndarray], alloc: Allocation, flops: np.ndarray,
              inference_tokens: float, ladder: Sequence[int], unreachable: int) -> Plan:
    level, m = law.level, law.n_draws

    def est(samples: Any, unit: str) -> Estimate:
        return estimate(samples, unit, level, m)

    bill = _bill(costs, flops)
    point_flops = float(np.asarray(flops).flat[0])
    d_inf = float(check_nonnegative(inference_tokens, "inference tokens", "tokens"))
    loss_samples = (alloc.loss if direction == "budget"
                    else float(np.asarray(alloc.loss).flat[0]))
    plan = Plan(
        direction=direction, source=law.source, law=law.law.to_dict(),
        n_convention=law.n_convention, data=law.data, level=level, n_draws=m,
        interval_note=law.interval_note, currency=costs.currency.code,
        assumptions=costs.describe(),
        budget=est(bill["cost"], costs.currency.code), budget_usd=est(bill["cost_usd"], "USD"),
        flops=est(bill["flops"], "FLOPs"), pf_days=est(bill["pf_days"], "PF-days"),
        gpu_hours=est(bill["gpu_hours"], "GPU-hours"), wall_days=est(bill["wall_days"], "days"),
        energy_kwh=est(bill["energy_kwh"], "kWh"), co2_kg=est(bill["co2_kg"], "kg CO2e"),
        n_params=est(alloc.n_params, "parameters"), tokens=est(alloc.tokens, "tokens"),
        tokens_per_param=est(alloc.tokens_per_param, "tokens/parameter"),
        loss=est(loss_samples, "nats/token"), unreachable_draws=unreachable,
        inference=(_inference_plan(law, costs, params, loss_samples, d_inf)
                   if d_inf > 0 else None),
        ladder=_ladder(law, costs, params, point_flops, ladder),
    )
    plan = _with_run_intervals(law, plan, direction)
    plan.notes.extend(_notes(law, costs, plan))
    return plan


def _with_run_intervals(law: UncertainLaw, plan: Plan, direction: str) -> Plan:
    """Compute-optimal losses of the plan and its ladder as the fit's run intervals, where it
    has them (:mod:`scalinglab.fit.frontier_interval`).

    A budget buys one run, whose measured loss scatters around the law and errs more the further
    the run lies beyond the fitted data: the law's bootstrap percentiles understate that.  (A
    target-loss plan keeps its loss: it is the question, not an answer.)
    """
    run_loss = law.frontier_loss(plan.flops.value)
    if run_loss is None:
        return plan
    ladder = [replace(row, loss=law.frontier_loss(row.flops) or row.loss)
              for row in plan.ladder]
    note = (f"{plan.interval_note}; predicted losses carry the fit's {plan.level:.0%} run "
            f"interval instead (a new run's measured loss at the predicted optimum: parameters, "
            f"run scatter, extrapolation beyond the fitted data and where the optimum lies)")
    loss = run_loss if direction == "budget" else plan.loss
    return replace(plan, loss=loss, ladder=ladder, interval_note=note)


#: a target-loss plan says where the fit's compute-optimal loss at its compute differs from the
#: target by more than this (relative): the two laws behind the plan disagree there
TARGET_GAP_NOTE = 1e-3


def _target_on_the_frontier(law: UncertainLaw, plan: Plan) -> list[str]:
    """A note when the plan's compute, sized by the N-D law to reach its target, gets another
    compute-optimal loss from the law the fit's backtests chose for it (the envelope L*(C))."""
    run_loss = next((r.loss for r in plan.ladder if r.multiple == 1), None)
    if plan.direction != "target-loss" or run_loss is None or run_loss.kind != "run":
        return []
    target = plan.loss.value
    if not (np.isfinite(target) and np.isfinite(run_loss.value)) or \
            abs(run_loss.value / target - 1) <= TARGET_GAP_NOTE:
        return []
    which = ("the envelope law L*(C), which the fit's backtests chose for compute-optimal "
             "losses," if frontier_source(law.fit) == "envelope"
             else "the fit's compute-optimal frontier")
    inside = "inside" if run_loss.low <= target <= run_loss.high else "outside"
    return [f"N and D are sized by the law L(N, D) to reach {target:g} nats/token; at this "
            f"compute {which} predicts {run_loss.value:.4g} [{run_loss.low:.4g}, "
            f"{run_loss.high:.4g}] ({run_loss.value / target - 1:+.1%}, the target {inside} "
            f"that run interval), as the ladder's x1 row shows"]


def _bill(costs: CostModel, flops: Any, *, inference: bool = False) -> dict[str, Any]:
    """The cost model's bill, tolerating infinite FLOPs (unreachable draws -> infinite cost)."""
    flops = np.asarray(flops, dtype=float)
    finite = np.isfinite(flops)
    bill = costs.bill(np.where(finite, flops, 0.0), inference=inference).to_dict()
    bill.pop("currency")
    return {k: np.where(finite, v, np.inf) if flops.ndim else v for k, v in bill.items()}


def _lifetime(costs: CostModel, alloc: Allocation, d_inf: float) -> dict[str, np.ndarray]:
    """Per-sample FLOPs and cost of training ``alloc`` and then serving ``d_inf`` tokens."""
    n = np.asarray(alloc.n_params, dtype=float)
    train = np.asarray(alloc.train_flops, dtype=float)
    serve = INFERENCE_FLOPS_PER_PARAM_TOKEN * n * d_inf
    train_cost = _bill(costs, train)["cost"]
    serve_cost = _bill(costs, serve, inference=True)["cost"]
    return {"n_params": n, "tokens": np.asarray(alloc.tokens, dtype=float),
            "tokens_per_param": np.asarray(alloc.tokens_per_param, dtype=float),
            "train_flops": train, "inference_flops": serve, "total_flops": train + serve,
            "train_cost": train_cost, "inference_cost": serve_cost,
            "total_cost": train_cost + serve_cost}


def _deployment(samples: dict[str, np.ndarray], currency: str, est: Any) -> Deployment:
    units = {"n_params": "parameters", "tokens": "tokens", "tokens_per_param": "tokens/parameter",
             "train_flops": "FLOPs", "inference_flops": "FLOPs", "total_flops": "FLOPs",
             "train_cost": currency, "inference_cost": currency, "total_cost": currency}
    return Deployment(**{k: est(samples[k], unit) for k, unit in units.items()})


def _inference_plan(law: UncertainLaw, costs: CostModel, params: dict[str, np.ndarray],
                    loss: Any, d_inf: float) -> InferencePlan:
    """Same loss, two models: Chinchilla's and the one minimising training + serving cost.

    With equal prices, a serving FLOP costs ``mfu / inference_mfu`` training FLOPs, so the
    cost-optimal model is the FLOP-optimal one for ``d_inf * mfu / inference_mfu`` tokens.
    """
    def est(samples: Any, unit: str) -> Estimate:
        return estimate(samples, unit, law.level, law.n_draws)

    weight = costs.mfu / costs.serving_mfu
    target = np.broadcast_to(np.asarray(loss, dtype=float), np.shape(params["E"]))
    optimum = inference_aware_optimum(params, target, d_inf * weight, strict=False)
    chin = _lifetime(costs, optimum.chinchilla, d_inf)
    aware = _lifetime(costs, optimum.optimum, d_inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        flops_saving = 1.0 - aware["total_flops"] / chin["total_flops"]
        cost_saving = 1.0 - aware["total_cost"] / chin["total_cost"]
        train_ratio = aware["train_cost"] / chin["train_cost"]
    code = costs.currency.code
    return InferencePlan(d_inf, est(loss, "nats/token"), _deployment(chin, code, est),
                         _deployment(aware, code, est), est(flops_saving, "fraction"),
                         est(cost_saving, "fraction"), est(train_ratio, "ratio"))


def _ladder(law: UncertainLaw, costs: CostModel, params: dict[str, np.ndarray],
            base_flops: float, decades: Sequence[int]) -> list[LadderRow]:
    """Loss (with intervals) at the plan's budget times 10^k, and the drop per step."""
    if not np.isfinite(base_flops) or not decades:
        return []
    multiples = 10.0 ** np.asarray(sorted(decades), dtype=float)
    grid = {k: v[:, None] for k, v in params.items()}
    alloc = compute_optimal(grid, base_flops * multiples[None, :])
    n, d, loss = (np.asarray(a) for a in (alloc.n_params, alloc.tokens, alloc.loss))
    rows = []
    for j, multiple in enumerate(multiples):
        flops = float(base_flops * multiple)
        drop = None
        if j > 0:
            drop = estimate(loss[:, j - 1] - loss[:, j], "nats/token", law.level, law.n_draws)
        rows.append(LadderRow(
            multiple=float(multiple), budget=float(costs.money_for_flops(flops)),
            budget_usd=float(costs.bill(flops).cost_usd), flops=flops,
            n_params=estimate(n[:, j], "parameters", law.level, law.n_draws),
            tokens=estimate(d[:, j], "tokens", law.level, law.n_draws),
            loss=estimate(loss[:, j], "nats/token", law.level, law.n_draws), loss_drop=drop))
    return rows


def _far_ladder_rows(law: UncertainLaw, plan: Plan) -> list[str]:
    """Labels (x100, ...) of ladder rows past a warning distance from the law's data."""
    far = []
    for row in plan.ladder:
        if row.multiple == 1 or not np.isfinite(row.n_params.value):
            continue
        guards = law.guards(row.n_params.value, row.tokens.value, allow_far=True)
        if any(g.name == "distance" and g.action == "warn" for g in guards):
            far.append(f"x{row.multiple:g}")
    return far


def _notes(law: UncertainLaw, costs: CostModel, plan: Plan) -> list[str]:
    notes = [plan.interval_note]
    if law.reference:
        notes.append(f"law: {law.reference}")
    if law.data:
        notes.append(f"losses are nats/token on {law.data}; N counts {law.n_convention}")
    elif law.n_convention:
        notes.append(f"N counts {law.n_convention}")
    lo, hi = MFU_TYPICAL_RANGE
    if not lo <= costs.mfu <= hi:
        notes.append(f"MFU {costs.mfu:g} is outside the typical {lo:g}-{hi:g} of large runs")
    far = _far_ladder_rows(law, plan)
    if far:
        notes.append(f"ladder rows {', '.join(far)} lie past the warning distance from the "
                     f"law's data (see scalinglab.fit.guards): read them as the law's trend, "
                     f"not as predictions")
    notes.extend(_target_on_the_frontier(law, plan))
    if plan.unreachable_draws:
        notes.append(f"{plan.unreachable_draws} of {plan.n_draws} bootstrap draws have E at or "
                     f"above the target loss: for them no model reaches it (infinite cost)")
    if plan.inference is not None:
        ratio = plan.inference.train_cost_ratio.value
        saving = plan.inference.cost_saving.value
        notes.append(f"the inference-aware model costs {ratio:.2f}x the Chinchilla model's "
                     f"training but saves {saving:.1%} of training + serving cost")
    notes.append(price_note(costs))
    return notes


def price_note(costs: CostModel) -> str:
    """Where the price per GPU-hour comes from, in one sentence."""
    price = costs.gpu.price_usd_per_hour
    if price is None:
        return f"no price for {costs.gpu.name}: money not computed; give --price"
    if costs.gpu.price_as_of == "user":
        return f"price {price:g} USD/GPU-hour, given by the user"
    return (f"price {price:g} USD/GPU-hour: an indicative {costs.gpu.name} rental rate as of "
            f"{costs.gpu.price_as_of}, not a quote (`scalinglab hardware` gives its source); "
            f"override with --price")
