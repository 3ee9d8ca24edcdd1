"""Identifiability checks: is the fitted law determined by the data, or only one of many?

Small, noisy sweeps make the five-parameter Chinchilla fit degenerate: E and the exponents trade
off along a nearly flat valley of the objective.  We look for three symptoms and say in plain
words what they mean and what to do:

1. parameters at their bounds (E at its floor means "no irreducible loss was found"),
2. wide bootstrap intervals relative to the value (and strongly correlated draws),
3. flat directions of the objective: the smallest-curvature eigenvector of the Gauss-Newton
   matrix in raw coordinates, named by the parameters that dominate it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalinglab.fit.guards import E_FLOOR_NATS
from scalinglab.fit.settings import FINAL_ROWS
from scalinglab.laws.base import Law

#: In the API's spelling; the command line prints its flags instead (cli/terms.py).
REMEDY_E = "bound or fix E (E_bounds, E_fixed or E_prior)"
REMEDY_ENVELOPE = ("fit the single-variable envelope L(C) = E + A*C^-alpha instead "
                   "(law='power', variable='C')")
REMEDY_CHECKPOINTS = "add checkpoint rows (checkpoints_after=0.1)"
#: the same for a table of final rows alone: the checkpoints must be logged first
REMEDY_CURVES = "log each run's loss curve and fit its checkpoints (checkpoints_after=0.1)"
#: Every remedy; a fit lists those that apply to it (:func:`remedies`).
REMEDIES = f"remedies: {REMEDY_E}, {REMEDY_ENVELOPE}, or {REMEDY_CHECKPOINTS}"
RELATIVE_WIDTH_LIMIT = 0.5      # 90% interval wider than 50% of the value: poorly determined
CORRELATION_LIMIT = 0.95
CONDITION_LIMIT = 1e10
#: the optimiser's raw parameters as a user reads them (the laws fit logs of E, A and B)
RAW_LABELS = {"e": "log E", "a": "log A", "b": "log B", "log_a": "log a", "log_b": "log b"}


def diagnose(result, law: Law, X: dict[str, np.ndarray], w: np.ndarray,
             theta: np.ndarray, bounds, settings) -> None:
    """Fill ``result.warnings`` and ``result.diagnostics`` in place."""
    at_bounds = _at_bounds(law, theta, bounds)
    diag: dict[str, Any] = {"at_bounds": at_bounds}
    warnings = [_bound_message(name, side) for name, side in at_bounds]
    curvature = _curvature(law, X, w, theta, settings)
    diag.update(curvature)
    if curvature["condition_number"] > CONDITION_LIMIT:
        mixed = ", ".join(RAW_LABELS.get(n, n) for n in curvature["flat_direction"])
        warnings.append(f"the objective is nearly flat along a direction mixing "
                        f"{mixed} (condition number "
                        f"{curvature['condition_number']:.2g}): these parameters are not "
                        f"separately determined by the data")
    if result.bootstrap_params is not None and len(result.bootstrap_params) >= 10:
        spread = _bootstrap_spread(result, law)
        diag["bootstrap"] = spread
        warnings.extend(spread["messages"])
    result.diagnostics = diag
    if warnings:
        result.warnings = warnings + [remedies(law, settings, result)]
    result.diagnostics["identifiable"] = not warnings


def remedies(law: Law, settings, result) -> str:
    """The remedies for a poorly determined fit that apply to it: bounding E where the law has
    one and it is free, the envelope law for a two-variable law, checkpoint rows only when the
    fit used final rows alone (a fit of curves has them already)."""
    options = []
    if "e" in law.raw_names and getattr(settings, "E_fixed", None) is None:
        options.append(REMEDY_E)
    if len(law.variables) > 1:
        options.append(REMEDY_ENVELOPE)
    procedure = getattr(result, "procedure", None)
    if getattr(procedure, "rows", FINAL_ROWS) == FINAL_ROWS:
        options.append(REMEDY_CHECKPOINTS if _has_unused_checkpoints(result) else REMEDY_CURVES)
    if not options:
        return "remedies: more runs, spread wider in N and D"
    listed = options[0] if len(options) == 1 else \
        ", ".join(options[:-1]) + f", or {options[-1]}"
    return f"remedies: {listed}"


def _has_unused_checkpoints(result) -> bool:
    """Whether the table held checkpoint rows the fit left out (True when it is not known)."""
    rows = getattr(result, "rows", None)
    if rows is None or "reason" not in rows.columns:
        return True
    return bool(rows["reason"].astype(str).str.startswith("not selected").any())


def is_remedies(message: str) -> bool:
    return message.startswith("remedies: ")


def _at_bounds(law: Law, theta, bounds) -> list[tuple[str, str]]:
    hits = []
    for name, value, (lo, hi) in zip(law.raw_names, theta, bounds, strict=True):
        if lo is not None and hi is not None and lo == hi:
            continue  # a fixed parameter is not "at a bound"
        tol = 1e-6 * (1 + abs(value))
        if lo is not None and value - lo <= tol:
            hits.append((name, "lower"))
        elif hi is not None and hi - value <= tol:
            hits.append((name, "upper"))
    return hits


def _bound_message(raw_name: str, side: str) -> str:
    if raw_name == "e" and side == "lower":
        return ("E fell to its floor (~0 nats/token): the data do not determine an irreducible "
                "loss, and the exponents are biased to compensate")
    if raw_name == "e":
        return "E sits at its upper bound (the lowest observed loss or the bound you set)"
    return (f"{RAW_LABELS.get(raw_name, raw_name)} sits at its {side} bound: the fit is "
            f"constrained, not determined, there")


def _curvature(law: Law, X, w, theta, settings) -> dict[str, Any]:
    free = [i for i, n in enumerate(law.raw_names)
            if not (n == "e" and settings.E_fixed is not None)]
    J = law.log_jacobian_raw(theta, X)[:, free]
    H = J.T @ (J * w[:, None])
    eigval, eigvec = np.linalg.eigh(H)
    smallest = eigvec[:, 0]
    names = [law.raw_names[i] for i in free]
    order = np.argsort(-np.abs(smallest))
    dominant = [names[i] for i in order if abs(smallest[i]) > 0.3] or [names[order[0]]]
    cond = float(eigval[-1] / max(eigval[0], 1e-300))
    return {"condition_number": cond, "flat_direction": dominant,
            "flat_vector": {n: float(v) for n, v in zip(names, smallest, strict=True)}}


def restate_bootstrap_spread(result) -> None:
    """Redo the bootstrap checks in ``result.law``'s own parameters, in place.

    For a fit whose law was re-expressed after fitting (an over-training fit written in
    Chinchilla's E, A, alpha, B, beta by ``law="auto"``): its warnings then name the
    parameters its summary table shows, not those it was fitted in.  The new messages take the
    old ones' place among the warnings.
    """
    old = result.diagnostics.get("bootstrap")
    if old is None or result.bootstrap_params is None:
        return
    spread = _bootstrap_spread(result, result.law)
    stale = set(old.get("messages", []))
    at = next((i for i, w in enumerate(result.warnings) if w in stale or is_remedies(w)),
              len(result.warnings))
    others = (bool(result.diagnostics.get("at_bounds"))
              or result.diagnostics.get("condition_number", 0.0) > CONDITION_LIMIT)
    identifiable = not (others or spread["messages"])
    # diagnose wrote [bounds and flat direction..., bootstrap..., REMEDIES]: same order here
    result.warnings = (result.warnings[:at] + spread["messages"]
                       + ([] if identifiable else
                          [remedies(result.law, result.settings, result)])
                       + [w for w in result.warnings[at:]
                          if w not in stale and not is_remedies(w)])
    result.diagnostics["bootstrap"] = spread
    result.diagnostics["identifiable"] = identifiable


def _named(law: Law, name: str) -> str:
    """A parameter as the summary table shows it: its name, with its unit when it has one."""
    unit = law.units.get(name, "")
    return f"{name} ({unit})" if unit and unit != "dimensionless" else name


def _bootstrap_spread(result, law: Law) -> dict[str, Any]:
    draws = result.bootstrap_params
    lo, hi = draws.quantile(0.05), draws.quantile(0.95)
    messages, widths = [], {}
    for name in law.param_names:
        value = abs(result.law.params[name])
        width = float(hi[name] - lo[name])
        widths[name] = width / value if value > 0 else float("inf")
        if name in ("E",) or name.startswith("alpha") or name == "beta":
            if name == "E" and value <= E_FLOOR_NATS:  # a share of ~0 says nothing
                messages.append(f"E is not determined: its 90% bootstrap interval is "
                                f"{lo[name]:.3g}-{hi[name]:.3g} nats/token around an estimate "
                                f"at its floor")
            elif widths[name] > RELATIVE_WIDTH_LIMIT:
                messages.append(f"{_named(law, name)} is poorly determined: its 90% bootstrap "
                                f"interval {lo[name]:.3g}-{hi[name]:.3g} spans "
                                f"{widths[name]:.0%} of the estimate "
                                f"{result.law.params[name]:.3g}")
    corr = draws.corr().fillna(0.0)
    pairs = []
    names = list(law.param_names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if abs(corr.loc[a, b]) > CORRELATION_LIMIT and "E" in (a, b):
                pairs.append((a, b, float(corr.loc[a, b])))
    for a, b, c in pairs:
        messages.append(f"{_named(law, a)} and {_named(law, b)} trade off in the bootstrap "
                        f"(correlation {c:+.2f})")
    return {"relative_width_90": widths, "correlated_pairs": pairs, "messages": messages}


def residual_report(law: Law, theta: np.ndarray, X: dict[str, np.ndarray], y: np.ndarray,
                    frame: pd.DataFrame, top: int = 5) -> dict[str, Any]:
    """RMSE of log loss and the largest residuals (log L_hat - log L) with their runs."""
    r = law.log_predict_raw(theta, X) - np.log(y)
    worst = np.argsort(-np.abs(r))[:top]
    return {
        "rmse_log": float(np.sqrt(np.mean(r**2))),
        "mae_log": float(np.mean(np.abs(r))),
        "max_abs_log": float(np.max(np.abs(r))),
        "largest": [{"run_id": str(frame["run_id"].iloc[i]), "loss": float(y[i]),
                     "predicted": float(y[i] * np.exp(r[i])), "residual_log": float(r[i])}
                    for i in worst],
    }
