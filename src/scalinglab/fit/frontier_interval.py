"""The compute-optimal answer with labelled intervals: where to spend C FLOPs, and what it buys.

One kind of answer for one kind of question:

* N_opt, D_opt, tokens per parameter and the exponents a, b are properties of the *law*: they
  carry **parameter intervals** (percentiles of the bootstrap draws; ``kind: "parameter"``).
* The compute-optimal loss is a question about a *run*: "train at the predicted optimum, what
  loss will I measure?"  It carries a **run interval** (``kind: "run"``): the run interval that
  ``predict`` gives at (N_opt, D_opt) -- parameters, run-to-run scatter and extrapolation,
  calibrated by nested backtests -- widened on its low side by the uncertainty of where the
  optimum is.  For each bootstrap draw i, the optimum it implies lies lower than its own loss
  at our (N_opt, D_opt) by the gap g_i = log L_i(N_opt, D_opt) - log L_i*(C) >= 0; the
  ``level`` quantile of g joins the run half-width in quadrature on the low side (the true
  optimum can only lie *below* the loss at a point that misses it, so the high side stays).
  The low end never crosses E's lower bound (:func:`scalinglab.fit.guards.loss_floor`), and
  beyond the data's largest compute C_max the high end never exceeds the high end at C_max: the
  compute-optimal loss can only fall as compute grows (the optimum at C_max is one of the runs
  C can buy), so an interval that covers it at C_max bounds it from above at any larger C.

A fit without run-interval calibration gives the loss the parameter interval, and says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.fit.guards import allocation_guard, question_guards
from scalinglab.fit.quantiles import from_90_percent
from scalinglab.laws.forms import Chinchilla, chinchilla_frontier
from scalinglab.laws.registry import as_chinchilla, law_from_dict
from scalinglab.results import quantile_bounds, squeeze

PARAMETER_KEYS = ("N_opt", "D_opt", "tokens_per_param", "a", "b")


def interval_label(kind: str | None, level: float) -> str:
    """``"90% run interval"`` or ``"90% parameter interval"`` (``kind="law"`` is the latter)."""
    if kind is None:
        return "no interval"
    name = "run interval" if kind == "run" else "parameter interval"
    return f"{level:.0%} {name}"


def frontier_answer(fit, C: float | np.ndarray, level: float | None = None,
                    allow_far: bool = False) -> dict[str, Any]:
    """Compute-optimal N, D, D/N, exponents and loss at C FLOPs (C = 6ND), with labelled intervals.

    Each quantity maps to ``{"value", "low", "high", "kind", "label"}``; ``guards`` lists the
    guards of the question (distance of (N_opt, D_opt, C, D/N) from the fitted data; refused
    past the refusal distance unless ``allow_far``).
    """
    law, _ = as_chinchilla(fit.law)           # over-training laws: the same form, tied exponents
    level = level or fit.level
    point = chinchilla_frontier(law.params, C)
    guards = question_guards(fit.law, {"N": point["N_opt"], "D": point["D_opt"]},
                             fit.data_ranges(), allow_far)
    guards += allocation_guard(fit.model_sizes())
    out: dict[str, Any] = {"C": point.pop("C"), "level": level, "guards": guards}
    spread = _draw_frontiers(fit, C)
    lo, hi = quantile_bounds(level)
    for key in PARAMETER_KEYS:
        entry: dict[str, Any] = {"value": point[key]}
        if spread is not None:
            draws = np.broadcast_to(spread[key], (len(fit.bootstrap_params), np.size(C)))
            entry["low"] = squeeze(np.quantile(draws, lo, axis=0), np.ndim(C))
            entry["high"] = squeeze(np.quantile(draws, hi, axis=0), np.ndim(C))
            entry.update(kind="parameter", label=interval_label("parameter", level))
        out[key] = entry
    out["loss"] = _loss_entry(fit, point, spread, C, level)
    return out


def _draw_frontiers(fit, C: float | np.ndarray) -> dict[str, np.ndarray] | None:
    if fit.bootstrap_params is None or len(fit.bootstrap_params) == 0:
        return None
    _, draws = as_chinchilla(fit.law, fit.bootstrap_params)
    p = {k: draws[k].to_numpy()[:, None] for k in Chinchilla.param_names}
    return chinchilla_frontier(p, np.atleast_1d(np.asarray(C, dtype=float))[None, :])


def optimum_gap(fit, point: dict[str, Any], spread: dict[str, np.ndarray] | None,
                level: float) -> np.ndarray:
    """The ``level`` quantile over draws of log L_i(N_opt, D_opt) - log L_i*(C) (>= 0), per C."""
    if spread is None:
        return np.zeros(np.size(point["N_opt"]))
    N = np.atleast_1d(np.asarray(point["N_opt"], dtype=float))
    D = np.atleast_1d(np.asarray(point["D_opt"], dtype=float))
    at_ours = fit._draw_predictions({"N": N, "D": D})          # (draws, budgets)
    own = np.asarray(spread["loss"], dtype=float)                # (draws, budgets)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.maximum(np.log(at_ours) - np.log(own), 0.0)
    gap = np.where(np.isfinite(gap), gap, 0.0)
    return np.quantile(gap, level, axis=0)


def _loss_entry(fit, point: dict[str, Any], spread: dict[str, np.ndarray] | None,
                C: float | np.ndarray, level: float) -> dict[str, Any]:
    value = point["loss"]
    entry: dict[str, Any] = {"value": value}
    if fit.run_interval is None:
        if spread is not None:
            lo, hi = quantile_bounds(level)
            draws = spread["loss"]
            entry["low"] = squeeze(np.quantile(draws, lo, axis=0), np.ndim(C))
            entry["high"] = squeeze(np.quantile(draws, hi, axis=0), np.ndim(C))
            entry.update(kind="parameter", label=interval_label("parameter", level),
                         meaning=("the mean law's optimal loss (parameter uncertainty only): "
                                  "this fit has no run-interval calibration"))
        return entry
    band = fit.predict_interval(level, kind="run", allow_far=True, N=point["N_opt"],
                                D=point["D_opt"])
    half = np.atleast_1d(np.asarray(band["components"]["half_width_log"], dtype=float))
    gap = optimum_gap(fit, point, spread, level)
    low_half = np.sqrt(half**2 + gap**2)
    values = np.atleast_1d(np.asarray(value, dtype=float))
    # law="auto": the centre is the frontier its backtests chose (N-D law or envelope law
    # L*(C)), widened by their gap when they cannot be told apart (fit/frontier_choice.py)
    values, widen, source = chosen_frontier(fit, C, values, level)
    half, low_half = np.maximum(half, widen), np.maximum(low_half, widen)
    entry["value"] = squeeze(values, np.ndim(C))
    low = np.maximum(values * np.exp(-low_half), fit.loss_floor(level))
    high = np.minimum(values * np.exp(half), _high_at_largest_compute(fit, C, level))
    entry.update(low=squeeze(low, np.ndim(C)), high=squeeze(high, np.ndim(C)), source=source,
                 kind="run", label=interval_label("run", level),
                 meaning=("the measured loss of a run at the predicted optimum (N_opt, D_opt): "
                          "parameters, run scatter and extrapolation, widened below by the "
                          "uncertainty of where the optimum is"),
                 components={**band["components"],
                             "optimum_gap_log": squeeze(gap, np.ndim(C)),
                             "low_half_width_log": squeeze(low_half, np.ndim(C))})
    return entry


def _high_at_largest_compute(fit, C: float | np.ndarray, level: float) -> np.ndarray:
    """Upper end of the run interval at the frontier of the data's largest compute, for every
    C above it (infinite elsewhere, and when the fit records no compute range)."""
    C = np.atleast_1d(np.asarray(C, dtype=float))
    c_range = fit.data_ranges().get("C")
    if c_range is None or not np.any(C > float(c_range[1])):
        return np.full(C.shape, np.inf)
    c_max = float(c_range[1])
    at = chinchilla_frontier(as_chinchilla(fit.law)[0].params, c_max)
    band = fit.predict_interval(level, kind="run", allow_far=True, N=at["N_opt"], D=at["D_opt"])
    return np.where(C > c_max, float(band["high"]), np.inf)


def chosen_frontier(result, C: float | np.ndarray, law_values: np.ndarray, level: float
                    ) -> tuple[np.ndarray, np.ndarray, str]:
    """The compute-optimal loss the backtests chose, and the half-width (log) its doubt adds.

    ``law_values`` is the N-D law minimised along C = 6ND (nats/token, one per budget).
    Returns ``(centre, widen, source)``: the centre is the envelope law L*(C) where the nested
    backtests chose it (see the module docstring), else the N-D law's; ``widen`` is the gap
    between the two answers (scaled to ``level``) when the backtests cannot tell them apart,
    else 0 -- the caller takes the larger of it and the run interval's half-width (a maximum,
    as for the law candidates' spread: :func:`scalinglab.fit.spread.widen_interval`).
    """
    law_values = np.atleast_1d(np.asarray(law_values, dtype=float))
    record = (result.diagnostics.get("selection") or {}).get("frontier")
    widen = np.zeros_like(law_values)
    if not record:
        return law_values, widen, "law_frontier"
    env = np.atleast_1d(np.asarray(law_from_dict(record["envelope_law"]).predict(C=C),
                                   dtype=float))
    if record["indistinguishable"]:
        widen = np.abs(np.log(env) - np.log(law_values)) * from_90_percent(level)
    if frontier_source(result) == "envelope":
        return env, widen, "envelope"
    return law_values, widen, "law_frontier"


def frontier_source(result) -> str:
    """Which compute-optimal loss the fit answers with: ``"envelope"`` where its nested
    backtests chose the envelope law L*(C), else ``"law_frontier"`` (the N-D law's)."""
    record = (result.diagnostics.get("selection") or {}).get("frontier")
    return "envelope" if record and record["chosen"] == "envelope" else "law_frontier"
