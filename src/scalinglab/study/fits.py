"""The demo's fits of its sweep: Approach 3 (and its within-sweep backtest), Approach 2, and the
frozen prediction of the validation run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.sweep.plan import PlannedRun, SweepPlan, level_budgets

#: fewest points Approach 3 (five free parameters) is fitted on
MIN_APPROACH3_POINTS = 6


@dataclass
class SweepFits:
    """Approach 3 (``FitResult``), Approach 2 (``IsoFlopResult``, or None and the reason), the
    points Approach 3 used of the sweep's final points, and the within-sweep backtest."""

    approach3: Any
    approach2: Any = None
    approach2_error: str | None = None
    points_used: int = 0
    points_total: int = 0
    backtest: dict[str, Any] = field(default_factory=dict)


def resolve_loss_column(choice: str, corpus) -> str:
    """The record column the fits use: ``auto`` means ``exact_loss`` when the corpus's
    language is known exactly (the synthetic language), else the sampled ``loss``."""
    known = corpus.language is not None
    if choice == "exact_loss" and not known:
        raise ScalingLabError(f"loss_column exact_loss needs a corpus whose language is known "
                              f"exactly (synthetic), not {corpus.name}")
    if choice == "auto":
        return "exact_loss" if known else "loss"
    return choice


def with_loss_column(records: pd.DataFrame, column: str) -> pd.DataFrame:
    """``records`` with ``loss`` taken from ``column`` (the sampled loss kept as
    ``sampled_loss``), so every fitter reads the chosen loss from the usual column."""
    if column == "loss":
        return records
    values = pd.to_numeric(records[column], errors="coerce")
    if values.isna().any():
        raise ScalingLabError(f"{int(values.isna().sum())} record(s) have no {column}; "
                              f"fit on the sampled loss instead (loss_column = 'loss')")
    return records.assign(sampled_loss=records["loss"], loss=values)


def fit_sweep(records: pd.DataFrame, plan: SweepPlan, config) -> SweepFits:
    """Approach 3 (Chinchilla L(N, D), bootstrap over runs) and Approach 2 (IsoFLOP profiles).

    Approach 3 uses the ``final`` points (run ends and cooldown-branch ends) trained for at
    least ``config.fit_min_steps`` steps; each point is its own group in the bootstrap
    (branches of one WSD run share a trajectory, but their losses differ by the cooldown they
    had).
    """
    from scalinglab.fit import fit_isoflop, fit_parametric  # noqa: PLC0415

    finals = final_points(records)
    usable = approach3_points(finals, config.fit_min_steps)
    # The sweep's points are planned on IsoFLOP lines within +-0.5 dex of the prior optimum and
    # filtered by fit_min_steps: no stray runs for the frontier filter to catch, and with ~10
    # points every valley edge is needed (the filter dropped the top level's two largest
    # models on KJV seed 0 and E fell to 0).
    # The run interval's extrapolation term is calibrated by backtests that hold out whole
    # compute levels (the within-sweep backtest, at every cut leaving two levels below).
    approach3 = fit_parametric(usable, bootstrap=config.bootstrap, level=config.level,
                               seed=config.spec.seed,
                               **approach3_options(plan, usable, config.n_column))
    approach2, approach2_error = None, None
    try:
        approach2 = fit_isoflop(finals, budgets=level_budgets(plan), min_runs=3,
                                bootstrap=config.bootstrap, level=config.level,
                                seed=config.spec.seed, target_flops=plan.validation_flops)
    except ScalingLabError as exc:
        approach2_error = str(exc)
    return SweepFits(approach3, approach2, approach2_error, points_used=int(len(usable)),
                     points_total=int(len(finals)),
                     backtest=within_sweep_backtest(usable, plan, config.n_column))


def final_points(records: pd.DataFrame) -> pd.DataFrame:
    """The ``final`` rows (run ends and cooldown-branch ends), run ids as text."""
    finals = records[records["final"].astype(bool)].copy()
    finals["run_id"] = finals["run_id"].astype(str)
    return finals


def approach3_points(finals: pd.DataFrame, fit_min_steps: int) -> pd.DataFrame:
    """The final points trained for at least ``fit_min_steps`` optimiser steps (one-line error
    when fewer than :data:`MIN_APPROACH3_POINTS` remain)."""
    steps = finals["tokens"] / finals["batch_tokens"]
    usable = finals[steps >= fit_min_steps]
    if len(usable) < MIN_APPROACH3_POINTS:
        raise ScalingLabError(f"only {len(usable)} points have >= {fit_min_steps} steps; "
                              f"Approach 3 needs at least {MIN_APPROACH3_POINTS} (raise the "
                              f"compute levels)")
    return usable


def approach3_options(plan: SweepPlan, usable: pd.DataFrame, n_column: str) -> dict[str, Any]:
    """Approach 3's law and settings (also step 1 of the demo's task chains): Chinchilla on
    ``n_column``, no frontier filter, calibration cuts between the plan's compute levels."""
    return {"law": "chinchilla", "n_column": n_column, "frontier_filter": None,
            "calibration_cuts": _cuts_inside(level_cuts(plan), usable, n_column)}


def _cuts_inside(cuts: list[float] | None, points: pd.DataFrame,
                 n_column: str) -> list[float] | None:
    """The cuts strictly inside the fitted points' compute (FLOPs): the fit refuses others, and a
    level whose points were all filtered out leaves nothing to cut around."""
    from scalinglab.fit.rows import row_compute  # noqa: PLC0415

    compute = row_compute(points, n_column)
    if cuts is None or compute is None or not np.all(np.isfinite(compute)):
        return cuts
    inside = [c for c in cuts if compute.min() < c < compute.max()]
    return inside or None


def level_cuts(plan: SweepPlan) -> list[float] | None:
    """FLOPs between consecutive compute levels, each leaving at least two levels below."""
    budgets = sorted(level_budgets(plan))
    cuts = [float(np.sqrt(a * b)) for a, b in zip(budgets[1:-1], budgets[2:], strict=True)]
    return cuts or None


def within_sweep_backtest(points: pd.DataFrame, plan: SweepPlan, n_column: str = "n_params"
                          ) -> dict[str, Any]:
    """Approach 3 fitted below the top level, scored on the top level's points.

    The bootstrap interval of the prediction reflects parameter uncertainty only; if the law's
    form is wrong for the data (misspecification), only an extrapolation the sweep can check
    shows it.  Returns the signed relative errors ((predicted - observed) / observed) of the
    top level's points and how far they lie beyond the fitted compute, or ``{"error": ...}``
    when too few points lie below the top level to fit the five parameters.
    """
    from scalinglab.fit.backtest import backtest  # noqa: PLC0415

    budgets = level_budgets(plan)
    if len(budgets) < 2:
        return {"error": "needs at least two compute levels"}
    cut = float(np.sqrt(budgets[-2] * budgets[-1]))  # between the top two levels, FLOPs
    try:
        result = backtest(points, cut_flops=cut, law="chinchilla",  # Approach 3's form
                          fit_kwargs={"n_column": n_column, "frontier_filter": None})
    except ScalingLabError as exc:
        return {"error": str(exc), "cut_flops": cut}
    errors = result.per_run["rel_error"].to_numpy(dtype=float)
    return {"cut_flops": cut, "fitted_points": result.summary["n_fitted_runs"],
            "held_out_points": result.summary["n_held_out"],
            "median_rel_error": float(np.median(errors)), "min_rel_error": float(errors.min()),
            "max_rel_error": float(errors.max()),
            "max_extrapolation": result.summary.get("max_extrapolation", math.nan)}


def predict_validation(fit, run: PlannedRun, level: float) -> dict[str, Any]:
    """Approach 3's point prediction and run interval (nats/token) at the run's N, D.

    The run interval (``kind="run"``) adds run-to-run scatter and an extrapolation term,
    calibrated by nested backtests inside the sweep (the within-sweep backtest generalised to
    several cuts), to the bootstrap's parameter uncertainty; ``components`` says how much
    each contributes.
    """
    n_value = run.shape.n_params if fit.columns.get("N") == "n_params" else \
        run.shape.n_params_total
    kind = "run" if fit.run_interval is not None else "law"
    interval = fit.predict_interval(level, kind=kind, N=float(n_value),
                                    D=float(run.config.tokens))
    return {"loss": float(interval["loss"]), "low": float(interval.get("low", math.nan)),
            "high": float(interval.get("high", math.nan)), "level": float(interval["level"]),
            "kind": kind, "components": interval.get("components"),
            "n_params": run.shape.n_params, "n_params_total": run.shape.n_params_total,
            "tokens": float(run.config.tokens), "flops": run.planned_flops,
            "run": run.name, "key": run.key, "law": "chinchilla (Approach 3)"}
