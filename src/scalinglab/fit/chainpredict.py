"""The joint bootstrap of the task chain and the composed accuracy interval.

Each resample draws runs with replacement (rows, when the table has fewer than
``MIN_RUNS_FOR_RUN_BOOTSTRAP`` runs) and refits, on the same draw, step 1 (the loss law, with
the draw's run multiplicities as row weights) and step 2 (the link).  At a target the interval
is the spread of ``link_b(L_b(N, D) * exp(e)) + s`` over resamples b, where ``e`` carries the
part of the loss's calibrated run interval that the step-1 draws do not (run scatter and
extrapolation) and ``s`` the run-to-run scatter of accuracy around the link.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.fit import guards as _guards
from scalinglab.fit.chaincalib import beyond_fitted, widen_accuracy_interval
from scalinglab.fit.linkfit import (
    MAX_LINK_SPREAD,
    MIN_RUNS_FOR_RUN_BOOTSTRAP,
    SCATTER_DRAWS,
    TaskRefusal,
    fit_link_params,
)
from scalinglab.fit.quantiles import central_z
from scalinglab.laws.links import link_values


def joint_bootstrap(fit, route, form: str, loss_options: dict[str, Any], n_resamples: int,
                    seed: int) -> None:
    """Fill ``fit.link_draws`` and ``fit.step1_draws`` with ``n_resamples`` joint refits."""
    from scalinglab.fit.chainselect import fit_loss_law  # noqa: PLC0415

    table = route.step1_frame
    link_units = route.units.astype(str)
    table_units = (np.array([], dtype=str) if table is None else
                   table["_unit"].astype(str).to_numpy())
    units = np.unique(np.concatenate([link_units, table_units]))
    index = {u: i for i, u in enumerate(units)}
    link_idx = np.array([index[u] for u in link_units])
    table_idx = np.array([index[u] for u in table_units], dtype=int)
    rng = np.random.default_rng(seed)
    links, laws = [], []
    for _ in range(n_resamples):
        counts = np.bincount(rng.integers(0, len(units), len(units)), minlength=len(units))
        w_link = counts[link_idx].astype(float)
        try:
            params = fit_link_params(route.x, route.acc, fit.chance, form,
                                     decreasing=fit.via != "compute", weights=w_link,
                                     start=fit.link.raw(), units=route.units)
            if table is not None:
                weighted = table.assign(_boot_weight=counts[table_idx].astype(float))
                law = fit_loss_law(weighted, loss_options, weights="_boot_weight",
                                   calibrate=False, bootstrap=0).law
                laws.append(law)
        except (ScalingLabError, ValueError):
            continue
        links.append(params)
    if links:
        fit.link_draws = np.array(links)
    fit.step1_draws = laws
    what = "joint bootstrap" if table is not None else "bootstrap of the link (no step 1)"
    fit.notes.append(f"{what}: {len(links)} of {n_resamples} resamples refitted "
                     f"({fit.bootstrap_unit} resampled)")


def target_x(fit, inputs: dict[str, float]) -> tuple[float, dict[str, float]]:
    """The link's x at a target (point) and the law inputs used (empty for a given loss)."""
    inputs = {k: v for k, v in inputs.items() if v is not None}
    if "loss" in inputs:
        if fit.via == "compute":
            raise ScalingLabError("this task fit goes through compute (via compute): give N and "
                                  "D, or C, not a loss")
        loss = _positive(inputs["loss"], "loss")
        return loss, {}
    if fit.via == "compute":
        if "C" in inputs:
            return float(np.log10(_positive(inputs["C"], "C"))), {}
        if "N" in inputs and "D" in inputs:
            c = 6.0 * _positive(inputs["N"], "N") * _positive(inputs["D"], "D")
            return float(np.log10(c)), {}
        raise ScalingLabError("this task fit (via compute) needs C, or N and D")
    if fit.loss_fit is None:
        raise ScalingLabError("this task fit has no loss law (its table had no n_params and "
                              "tokens): give the target's loss")
    variables = fit.loss_fit.law.variables
    if "C" in variables and "C" not in inputs and "N" in inputs and "D" in inputs:
        inputs["C"] = 6.0 * _positive(inputs["N"], "N") * _positive(inputs["D"], "D")
    missing = [v for v in variables if v not in inputs]
    if missing:
        how = (" (FLOPs: give C, --compute; or N and D, --params and --tokens, for C = 6ND)"
               if "C" in missing else "")
        raise ScalingLabError(f"this task fit's loss law needs {', '.join(variables)}; "
                              f"missing {', '.join(missing)}{how}")
    law_in = {v: _positive(inputs[v], v) for v in variables}
    return float(fit.loss_fit.predict(**law_in)), law_in


def _positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ScalingLabError(f"{name} must be a number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ScalingLabError(f"{name} must be a positive number, got {value!r}")
    return v


def few_runs_guard(fit) -> list[_guards.Guard]:
    """A warning when the link was fitted on fewer than 3 runs: the scatter around it is one
    run's checkpoint noise, and how far another model lies from the link at equal loss (a
    different size, architecture or data) is not measured -- and not in the interval."""
    if not 0 < fit.n_runs < MIN_RUNS_FOR_RUN_BOOTSTRAP:
        return []
    return [_guards.Guard(
        "few_runs", "runs", float(fit.n_runs), "runs", float(MIN_RUNS_FOR_RUN_BOOTSTRAP),
        "warn", f"{fit.task}: the link was fitted on {fit.n_runs} run(s): its scatter is that "
        f"of their checkpoints, and how far another model lies from the link at the same loss "
        f"is not measured, so the interval leaves it out (OLMo-7B against OLMo-1B's link: "
        f"off by up to 11 points at the 7B's losses with the default link, bench/README.md)")]


def link_distance_guard(fit, x0: float) -> list[_guards.Guard]:
    """A warning when the target's x (its loss, or log10 compute) lies beyond the fitted runs'
    best by more than the route's nested backtests ever carried the link: the accuracy there
    rests on the sigmoid's shape past anything the runs tested (the demo's cloze: 0.2 nats
    below the sweep's lowest loss, under-predicted by 2-4 points)."""
    low, high = fit.x_range
    compute = fit.via == "compute"
    beyond = beyond_fitted(fit, x0)
    reach = fit.selection.get("link_reach")
    if not np.isfinite(beyond) or beyond <= 0 or (reach is not None and beyond <= reach):
        return []
    quantity, unit = ("C", "decades") if compute else ("loss", "nats")
    fmt = ".2f" if compute else ".3g"          # decades as the loss fit's guards say them
    best = f"{10.0 ** high:.3g} FLOPs" if compute else f"{low:.4g} nats"
    checked = ("no backtest carried it past the fitted runs" if reach is None else
               f"its nested backtests carried it {reach:{fmt}} {unit} at most")
    return [_guards.Guard(
        "link_distance", quantity, float(beyond), unit, reach, "warn",
        f"{fit.task}: the target lies {beyond:{fmt}} {unit} beyond the fitted runs' best "
        f"({best}) along the link, and {checked}: the accuracy there rests on the link's "
        f"shape where no run tested it")]


def task_guards(fit, inputs: dict[str, float], allow_far: bool = False) -> list[_guards.Guard]:
    """The distance guards of a question to a task fit through compute; raises
    :class:`GuardRefused` past the limits.

    The distance is that of C = 6ND (FLOPs) from the fitted rows' compute, with the loss fit's
    limits for C (warning past 2 decades, refusal past 4: :mod:`scalinglab.fit.guards`).
    Through a loss law the loss fit's own guards apply (:func:`_loss_band`); a measured loss
    (step 2 alone) has none: the link's own refusal covers the unidentified region.
    """
    if fit.via != "compute":
        return []
    low, high = fit.x_range
    if not (np.isfinite(low) and np.isfinite(high)):
        return [_guards.Guard("distance", "C", None, "decades", None, "note",
                              "distance from the data not checked: this task fit carries "
                              "no record of the compute it was fitted to")]
    given = {k: v for k, v in inputs.items() if k in ("N", "D", "C") and v is not None}
    ranges = {"C": (10.0 ** float(low), 10.0 ** float(high))}
    return _guards.enforce(_guards.distance_guards(given, ranges, ("C",), allow_far))


def interval_at(fit, level: float, inputs: dict[str, float],
                allow_far: bool = False) -> dict[str, Any]:
    """See :meth:`TaskFit.predict_interval`."""

    if not 0 < level < 1:
        raise ScalingLabError(f"level must be in (0, 1), got {level}")
    z = central_z(level)
    x0, law_in = target_x(fit, inputs)
    guards = task_guards(fit, inputs, allow_far)
    rng = np.random.default_rng(fit.seed + 1)
    params = fit.link.raw()[None, :] if fit.link_draws is None else fit.link_draws
    n = len(params)
    loss_info = None
    if law_in:
        lo, hi, guards = _loss_band(fit, law_in, x0, level, allow_far)
        x_draws, loss_info = _loss_draws(fit, law_in, x0, lo, hi, z, n, rng)
        usable = np.all(np.isfinite(x_draws), axis=1)
        params, x_draws, n = params[usable], x_draws[usable], int(usable.sum())
    else:
        x_draws = np.full((n, SCATTER_DRAWS), x0)
    mean_acc = np.stack([link_values(p, x_draws[i], fit.chance) for i, p in enumerate(params)])
    q = [(1 - level) / 2, (1 + level) / 2]
    band_lo, band_hi = np.quantile(mean_acc, q)
    if band_hi - band_lo > MAX_LINK_SPREAD * (1 - fit.chance):
        where = (f"loss {loss_info['low']:.4g} .. {loss_info['high']:.4g}" if loss_info else
                 f"x = {x0:.4g}")
        raise TaskRefusal(
            f"{fit.task}: at this target ({where}) the bootstrap links range from "
            f"{band_lo:.3f} to {band_hi:.3f} before run scatter: the small runs cannot tell "
            f"the accuracy (unidentified region of the link)")
    draws = mean_acc + fit.scatter * rng.standard_normal(mean_acc.shape)
    floor = fit.chance - z * fit.scatter
    point = float(fit.link.predict(x0))
    low, high = np.quantile(draws, q)
    point, low, high, widened = widen_accuracy_interval(fit, point, float(low), float(high),
                                                        level, inputs, x0)
    if fit.items:
        low, high = count_interval(low, high, point, fit.items)
    low, high = np.clip([low, high], floor, 1.0)
    point = float(np.clip(point, floor, 1.0))   # a fitted floor below chance: kept inside
    return {"accuracy": point, "low": float(low), "high": float(high), "level": level,
            "kind": "run", "via": fit.via, "task": fit.task, "chance": fit.chance,
            "loss": loss_info, "x": x0,
            "guards": few_runs_guard(fit) + guards + link_distance_guard(fit, x0),
            "meaning": "a new run's measured accuracy (loss interval + link parameters + "
                       "run scatter of accuracy, at least as wide as the backtests' errors "
                       "and the spread of routes they cannot tell apart); clipped to "
                       "[chance - noise, 1]",
            "components": {"accuracy_scatter_sd": fit.scatter,
                           "link_band": [float(band_lo), float(band_hi)],
                           "floor": float(floor), "resamples": n, "items": fit.items,
                           **widened}}


def count_interval(low: float, high: float, point: float, items: int) -> tuple[float, float]:
    """The ends of an accuracy interval for a benchmark of ``items`` questions, whose measured
    accuracy is a count k / items: each end is the nearest attainable value (the continuity
    correction of a count approximated by a continuous distribution: P(K <= k) ~ F((k + 1/2) /
    n)), kept on either side of the point."""
    low_k = math.floor(low * items + 0.5)
    high_k = math.floor(high * items + 0.5)
    return min(low_k / items, point), max(high_k / items, point)


def _loss_band(fit, law_in, point, level, allow_far) -> tuple[float, float, list]:
    """(low, high) of the loss's calibrated run interval at the target (the point itself when
    the loss fit has no calibration) and the loss fit's guards of the question (refusals
    raise), with the interval's floor guard when it has one."""
    if fit.loss_fit.run_interval is None:
        return point, point, fit.loss_fit.question_guards(law_in, allow_far)
    band = fit.loss_fit.predict_interval(level=level, allow_far=allow_far, **law_in)
    return float(band["low"]), float(band["high"]), list(band["guards"])


def _loss_draws(fit, law_in, point, lo, hi, z, n, rng):
    """(n, SCATTER_DRAWS) losses: step-1 draws times the rest of the calibrated run interval
    [lo, hi]; and the loss info."""

    sd_total = max(np.log(hi / point), np.log(point / lo), 0.0) / z
    if fit.step1_draws and len(fit.step1_draws) == n:
        centre = np.array([float(law.predict(**_vars(law, law_in))) for law in fit.step1_draws])
    else:
        centre = np.full(n, point)
    usable = np.isfinite(centre) & (centre > 0)     # a resample's law may overflow there
    if not usable.any():
        centre, usable = np.full(n, point), np.ones(n, dtype=bool)
    sd_boot = float(np.std(np.log(centre[usable]), ddof=1)) if usable.sum() > 1 else 0.0
    sd_rest = float(np.sqrt(max(sd_total ** 2 - sd_boot ** 2, 0.0)))
    draws = centre[:, None] * np.exp(sd_rest * rng.standard_normal((n, SCATTER_DRAWS)))
    draws[~usable] = np.nan             # dropped with their links (interval_at)
    info = {"loss": point, "low": lo, "high": hi, "column": fit.intermediate,
            "unit": "nats (per token for a validation loss)"}
    return draws, info


def _vars(law, law_in: dict[str, float]) -> dict[str, float]:
    return {v: law_in[v] for v in law.variables if v in law_in}
