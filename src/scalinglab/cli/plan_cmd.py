"""``scalinglab plan``, ``price`` and ``hardware``: what compute costs and what a budget buys.

The commands only parse options and print; the work is in :mod:`scalinglab.compute`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from scalinglab.cli.common import JsonOpt, console, fmt, print_json, print_table
from scalinglab.compute.cost import (
    DEFAULT_GPU,
    DEFAULT_GRID_KG_CO2_PER_KWH,
    DEFAULT_MFU,
    DEFAULT_N_GPUS,
    DEFAULT_PUE,
    CostModel,
)
from scalinglab.compute.hardware import GPUS
from scalinglab.compute.planner import (
    Estimate,
    Plan,
    UncertainLaw,
    plan_for_budget,
    plan_for_loss,
    price_note,
)
from scalinglab.compute.units import gpu_hours_to_flops, implied_mfu, training_flops
from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult

DEFAULT_PRESET = "besiroglu2024"

GpuOpt = Annotated[str, typer.Option("--gpu", help="GPU preset: a100, h100, h200, b200, v100.")]
GpusOpt = Annotated[int, typer.Option("--gpus", help="GPUs in the cluster (for wall-clock days).")]
MfuOpt = Annotated[float, typer.Option("--mfu", help="Training model-FLOPs utilisation, (0, 1].")]
PriceOpt = Annotated[float | None, typer.Option(
    "--price", help="Price per GPU-hour in --currency (default: the GPU preset's dated rate).")]
CurrencyOpt = Annotated[str, typer.Option("--currency", help="3-letter currency code.")]
RateOpt = Annotated[float | None, typer.Option(
    "--rate", help="Exchange rate: units of --currency per USD (required unless USD).")]
PueOpt = Annotated[float, typer.Option("--pue", help="Data-centre PUE (facility / IT energy).")]
GridOpt = Annotated[float, typer.Option("--grid", help="Grid intensity, kg CO2e per kWh.")]
WattsOpt = Annotated[float | None, typer.Option("--watts", help="Power per GPU, W (default TDP).")]
PeakOpt = Annotated[float | None, typer.Option(
    "--peak-flops", help="Peak dense FLOP/s per GPU (default: the preset's BF16 figure).")]


def register(app: typer.Typer) -> None:
    """Add ``plan``, ``price`` and ``hardware`` to the app."""
    app.command("plan")(plan)
    app.command("price")(price)
    app.command("hardware")(hardware)


def _cost_model(gpu: str, gpus: int, mfu: float, price_: float | None, currency: str,
                rate: float | None, pue: float, grid: float, watts: float | None,
                peak_flops: float | None, inference_mfu: float | None = None) -> CostModel:
    return CostModel.create(gpu, price=price_, watts=watts, peak_flops=peak_flops,
                            currency=currency, rate=rate, mfu=mfu, n_gpus=gpus, pue=pue,
                            grid_kg_co2_per_kwh=grid, inference_mfu=inference_mfu)


def _law(fit: Path | None, preset: str | None, level: float | None) -> UncertainLaw:
    if fit is not None and preset is not None:
        raise ScalingLabError("give --fit or --preset, not both")
    if fit is not None:
        return UncertainLaw.from_fit(FitResult.load(fit), source=f"fit {fit}", level=level)
    return UncertainLaw.from_preset(preset or DEFAULT_PRESET, level=level)


# -- plan --------------------------------------------------------------------------------------
def plan(
    budget_usd: Annotated[float | None, typer.Option(
        "--budget-usd", help="Training budget in US dollars.")] = None,
    budget: Annotated[float | None, typer.Option(
        "--budget", help="Training budget in --currency.")] = None,
    budget_flops: Annotated[float | None, typer.Option(
        "--budget-flops", help="Training budget in FLOPs.")] = None,
    target_loss: Annotated[float | None, typer.Option(
        "--target-loss", help="Reverse question: cheapest model reaching this loss, nats/token.")
    ] = None,
    fit: Annotated[Path | None, typer.Option(
        "--fit", help="Fit JSON written by `scalinglab fit` (intervals from its bootstrap).")
    ] = None,
    preset: Annotated[str | None, typer.Option(
        "--preset", help=f"Published law (no interval); default {DEFAULT_PRESET}.")] = None,
    inference_tokens: Annotated[float, typer.Option(
        "--inference-tokens", help="Tokens the model will serve (Sardana et al. 2024).")] = 0.0,
    inference_mfu: Annotated[float | None, typer.Option(
        "--inference-mfu", help="Serving MFU (default: same as --mfu).")] = None,
    level: Annotated[float | None, typer.Option(
        "--level", help="Confidence level of intervals (default: the fit's, else 0.9).")] = None,
    gpu: GpuOpt = DEFAULT_GPU,
    gpus: GpusOpt = DEFAULT_N_GPUS,
    mfu: MfuOpt = DEFAULT_MFU,
    price_: PriceOpt = None,
    currency: CurrencyOpt = "USD",
    rate: RateOpt = None,
    pue: PueOpt = DEFAULT_PUE,
    grid: GridOpt = DEFAULT_GRID_KG_CO2_PER_KWH,
    watts: WattsOpt = None,
    peak_flops: PeakOpt = None,
    allow_far: Annotated[bool, typer.Option(
        "--allow-far", help="Plan even past the refusal distance from the law's data (10^2x "
        "in N, D or D/N, 10^4x in C; see scalinglab.fit.guards); the plan still warns.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """What a budget buys (N, D, loss, time, energy, cost), or what a target loss costs.

    Compute-optimal N and D at the budget (or at --target-loss), with intervals from a fit's
    bootstrap draws."""
    costs = _cost_model(gpu, gpus, mfu, price_, currency, rate, pue, grid, watts, peak_flops,
                        inference_mfu)
    law = _law(fit, preset, level)
    budgets = [v for v in (budget_usd, budget, budget_flops) if v is not None]
    if len(budgets) + (target_loss is not None) != 1:
        raise ScalingLabError("give exactly one of --budget-usd, --budget, --budget-flops, "
                              "--target-loss")
    if target_loss is not None:
        result = plan_for_loss(law, costs, target_loss, inference_tokens=inference_tokens,
                               allow_far=allow_far)
    else:
        result = plan_for_budget(law, costs, budget=budget, budget_usd=budget_usd,
                                 budget_flops=budget_flops, inference_tokens=inference_tokens,
                                 allow_far=allow_far)
    if as_json:
        print_json(result.to_dict())
        return
    _print_plan(result)


def _cell(e: Estimate | None, scale: float = 1.0) -> str:
    """``value [low, high]``, or the value alone (exact, or no draws)."""
    if e is None:
        return "-"
    text = fmt(e.value * scale)
    if e.low is None or e.high is None or abs(e.high - e.low) <= 1e-9 * abs(e.value):
        return text  # no draws, or exact (fixed by the question)
    return escape(f"{text} [{fmt(e.low * scale)}, {fmt(e.high * scale)}]")


def _print_plan(result: Plan) -> None:
    a = result.assumptions
    if result.direction == "budget":
        title = f"What {fmt(result.budget.value)} {result.currency} buys"
    else:
        title = f"The cheapest model reaching loss {fmt(result.loss.value)} nats/token"
    title += (f" -- {a['gpu']} x {a['n_gpus']}, MFU {a['mfu']:g}, "
              f"{fmt(a['price_per_gpu_hour'])} {result.currency}/GPU-hour; {result.source}")
    interval = "no draws" if result.n_draws == 0 else f"{result.level:.0%} parameter interval"
    if result.loss.kind == "run" or any(row.loss.kind == "run" for row in result.ladder):
        interval += f"; losses: {result.level:.0%} run interval"
    print_table(escape(title), ["quantity", escape(f"value [{interval}]"), "unit"],
                [(label, _cell(e), e.unit) for label, e in result.rows()])
    if result.inference is not None:
        _print_inference(result)
    if result.ladder:
        rows = [(f"x{row.multiple:g}", fmt(row.budget), fmt(row.flops), _cell(row.n_params),
                 _cell(row.tokens), _cell(row.loss), _cell(row.loss_drop))
                for row in result.ladder]
        print_table("What each 10x more money buys (compute-optimal)",
                    ["money", f"budget ({result.currency})", "FLOPs", "N", "D",
                     "loss (nats/token)", "loss drop vs previous"], rows)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    for guard in result.guards:
        if guard.action in ("warn", "note"):
            tag = "warning" if guard.action == "warn" else "note"
            console.print(f"{tag}: {guard.message}", markup=False, highlight=False,
                          soft_wrap=True)


def _print_inference(result: Plan) -> None:
    inf = result.inference
    assert inf is not None
    labels = [("parameters N", "n_params"), ("training tokens D", "tokens"),
              ("tokens per parameter", "tokens_per_param"), ("training FLOPs", "train_flops"),
              ("inference FLOPs", "inference_flops"), ("total FLOPs", "total_flops"),
              (f"training cost ({result.currency})", "train_cost"),
              (f"inference cost ({result.currency})", "inference_cost"),
              (f"total cost ({result.currency})", "total_cost")]
    rows: list[tuple[Any, ...]] = [
        (label, _cell(getattr(inf.chinchilla, key)), _cell(getattr(inf.inference_aware, key)))
        for label, key in labels]
    rows.append(("saving in total FLOPs", "", _cell(inf.flops_saving, 100) + " %"))
    rows.append(("saving in total cost", "", _cell(inf.cost_saving, 100) + " %"))
    print_table(escape(f"Serving {fmt(inf.inference_tokens)} tokens at loss "
                       f"{_cell(inf.loss)} nats/token (Sardana et al. 2024)"),
                ["quantity", "Chinchilla-optimal", "inference-aware"], rows)


# -- price -------------------------------------------------------------------------------------
def price(
    flops: Annotated[float | None, typer.Option("--flops", help="Compute, FLOPs.")] = None,
    params: Annotated[float | None, typer.Option(
        "--params", help="Parameters N (with --tokens: 6ND FLOPs).")] = None,
    tokens: Annotated[float | None, typer.Option("--tokens", help="Training tokens D.")] = None,
    gpu_hours: Annotated[float | None, typer.Option(
        "--gpu-hours", help="GPU-hours; with FLOPs given too, reports the implied MFU.")] = None,
    money: Annotated[float | None, typer.Option(
        "--money", help="An amount in --currency to turn into FLOPs.")] = None,
    gpu: GpuOpt = DEFAULT_GPU,
    gpus: GpusOpt = DEFAULT_N_GPUS,
    mfu: MfuOpt = DEFAULT_MFU,
    price_: PriceOpt = None,
    currency: CurrencyOpt = "USD",
    rate: RateOpt = None,
    pue: PueOpt = DEFAULT_PUE,
    grid: GridOpt = DEFAULT_GRID_KG_CO2_PER_KWH,
    watts: WattsOpt = None,
    peak_flops: PeakOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Convert compute between FLOPs, PF-days, GPU-hours, days, money, kWh and CO2.

    FLOPs (or --params/--tokens) together with --gpu-hours report the implied MFU."""
    if (params is None) != (tokens is None):
        raise ScalingLabError("--params and --tokens go together (6·N·D FLOPs)")
    if params is not None and flops is not None:
        raise ScalingLabError("give --flops or --params/--tokens, not both")
    compute = training_flops(params, tokens) if params is not None else flops
    if sum(x is not None for x in (compute, gpu_hours, money)) == 0 or (
            money is not None and (compute is not None or gpu_hours is not None)):
        raise ScalingLabError("give one of --flops, --params/--tokens, --gpu-hours, --money "
                              "(FLOPs with --gpu-hours give the implied MFU)")
    costs = _cost_model(gpu, gpus, mfu, price_, currency, rate, pue, grid, watts, peak_flops)
    mfu_is_implied = compute is not None and gpu_hours is not None
    if mfu_is_implied:
        measured = float(implied_mfu(compute, gpu_hours, costs.gpu.peak_flops))
        if not 0 < measured <= 1:
            raise ScalingLabError(f"{compute:g} FLOPs in {gpu_hours:g} GPU-hours on "
                                  f"{costs.gpu.name} would need MFU {measured:.3g}, not in (0, 1]")
        costs = dataclasses.replace(costs, mfu=measured)
    elif money is not None:
        compute = float(costs.flops_for_money(money))
    elif compute is None:
        compute = float(gpu_hours_to_flops(gpu_hours, costs.gpu.peak_flops, costs.mfu))
    bill = costs.bill(compute).to_dict()
    if as_json:
        print_json({**bill, "mfu": costs.mfu, "mfu_implied": mfu_is_implied,
                    "assumptions": costs.describe()})
        return
    rows = [("FLOPs", bill["flops"]), ("PF-days", bill["pf_days"]),
            ("GPU-hours", bill["gpu_hours"]),
            ("implied MFU" if mfu_is_implied else "MFU", costs.mfu),
            (f"wall-clock days on {costs.n_gpus} GPUs", bill["wall_days"]),
            (f"cost ({costs.currency.code})", bill["cost"]), ("energy (kWh)", bill["energy_kwh"]),
            ("emissions (kg CO2e)", bill["co2_kg"])]
    print_table(f"Compute on {costs.gpu.name}", ["quantity", "value"], rows)
    console.print(f"note: {price_note(costs)}", markup=False, highlight=False, soft_wrap=True)


# -- hardware ----------------------------------------------------------------------------------
def hardware(as_json: JsonOpt = False) -> None:
    """The GPU presets and the cost defaults, with their sources and dates."""
    defaults = {"mfu": DEFAULT_MFU, "pue": DEFAULT_PUE,
                "grid_kg_co2_per_kwh": DEFAULT_GRID_KG_CO2_PER_KWH, "n_gpus": DEFAULT_N_GPUS,
                "sources": "see scalinglab.compute.cost (Llama 3, PaLM; Google 2024 "
                           "Environmental Report; Ember Global Electricity Review 2024)"}
    if as_json:
        print_json({"gpus": [g.to_dict() for g in GPUS.values()], "defaults": defaults})
        return
    rows = [(g.key, g.name, g.peak_flops / 1e12, g.watts,
             "-" if g.price_usd_per_hour is None else g.price_usd_per_hour,
             g.price_as_of or "-") for g in GPUS.values()]
    print_table("GPU presets (dense BF16; prices indicative, override with --price)",
                ["key", "name", "peak TFLOP/s", "W", "USD/GPU-hour", "price as of"], rows)
    for g in GPUS.values():
        price = ("price: " if g.price_usd_per_hour is None else
                 f"price {g.price_usd_per_hour:g} USD/GPU-hour as of {g.price_as_of}: ")
        console.print(f"{g.key}: peak and power from the {g.spec_source}; {price}"
                      f"{g.price_source}.", markup=False, highlight=False, soft_wrap=True)
    console.print(f"defaults: MFU {DEFAULT_MFU:g}, PUE {DEFAULT_PUE:g}, grid "
                  f"{DEFAULT_GRID_KG_CO2_PER_KWH:g} kg CO2e/kWh, {DEFAULT_N_GPUS} GPUs "
                  f"({defaults['sources']})", markup=False, highlight=False, soft_wrap=True)
