"""``law="auto"``: fit the law the table's own backtests choose (:mod:`scalinglab.fit.selection`).

The candidates are scored on nested backtests along N, D and C; the chosen form is then fitted
exactly as a pinned law would be (bootstrap, run-interval calibration, diagnostics), and the
result carries the backtest table (``diagnostics["selection"]``), the reason for the choice and
the full-data fits of the candidates the data cannot tell apart, whose spread widens every run
interval (:func:`scalinglab.fit.selection.widen_interval`).

Gadre et al.'s over-training form is the Chinchilla form with tied exponents (alpha = beta =
2 eta), so when it is chosen the result is expressed as a Chinchilla law (bootstrap draws and
profile fits converted too): the frontier, planner and report work on it unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.fit.diagnostics import restate_bootstrap_spread
from scalinglab.fit.frontier_choice import frontier_choice
from scalinglab.fit.optimise import make_law
from scalinglab.fit.parametric import fit_parametric
from scalinglab.fit.result import FitResult
from scalinglab.fit.rows import prepare_runs
from scalinglab.fit.selection import select_law
from scalinglab.fit.settings import FitSettings
from scalinglab.fit.spread import dominance_points
from scalinglab.laws.forms import Chinchilla
from scalinglab.laws.overtrain import OverTrain
from scalinglab.records import load_runs

#: FitSettings fields that select the law: with ``law="auto"`` the selection sets them.
LAW_FIELDS = ("law", "variable", "irreducible", "E_fixed")
OVERTRAIN_FORM = ("overtrain: Gadre et al. 2024, L = E + (a M^eta + b M^-eta) C^-eta, M = D/N, "
                  "i.e. Chinchilla with alpha = beta = 2 eta")


def fit_auto(runs: pd.DataFrame | str, settings: FitSettings | None = None,
             **overrides: Any) -> FitResult:
    """Choose the law by backtests, fit it with ``settings`` / ``overrides``, and record why.

    Every setting but the law's own (``law``, ``variable``, ``irreducible``) is used as given.
    An ``E_fixed`` pins E: there is nothing left to choose between E free and absent, so the
    Chinchilla form is fitted with it (no selection).
    """
    overrides = {k: v for k, v in overrides.items() if k not in ("law", "variable", "irreducible")}
    base = FitSettings.build(settings, **overrides)
    base = replace(base, law="chinchilla", variable=None, irreducible=True)
    if base.E_fixed is not None:
        result = fit_parametric(runs, base)
        result.diagnostics["selection"] = _no_selection("chinchilla",
                                                        "E is fixed by the user: no selection")
        return result
    frame = load_runs(runs, require=("loss",)) if not isinstance(runs, pd.DataFrame) else runs
    prepared, _ = prepare_runs(frame, make_law(base), base)
    choice = select_law(prepared, base)
    if choice.chosen is None:
        result = fit_parametric(frame, base)
        result.diagnostics["selection"] = _no_selection(
            result.law.name, f"no selection: {choice.why_not}; the Chinchilla law (reduced "
                             f"where the design needs it) is used")
        return result
    chosen = choice.chosen.settings
    law_fields = {k: getattr(chosen, k) for k in LAW_FIELDS}
    if chosen.law == "power" and chosen.irreducible:
        # the reduced Chinchilla law: the Chinchilla path fits it and says where it holds
        result = fit_parametric(frame, base)
    else:
        result = fit_parametric(frame, replace(base, **law_fields))
    if chosen.law == "power" and not chosen.irreducible:
        note = reduction_note(prepared, base)
        if note:
            result.warnings.insert(0, f"{note}; the nested backtests chose the form without "
                                      f"an irreducible term, L = A/{chosen.variable}^alpha "
                                      f"(see the law selection)")
    record = choice.selection.to_dict()
    if isinstance(result.law, OverTrain):
        result = as_chinchilla(result)
        record["form"] = OVERTRAIN_FORM
    record["alternatives"] = choice.alternatives()
    record["law_settings"] = law_fields
    record["dominance"] = dominance_points(
        prepared[base.n_column].to_numpy(dtype=float),
        prepared["tokens"].to_numpy(dtype=float), prepared["loss"].to_numpy(dtype=float))
    record["frontier"] = frontier_choice(prepared, base, choice.chosen,
                                         choice.full[choice.chosen.name], choice.cuts or [])
    result.diagnostics["selection"] = record
    return result


def reduction_note(prepared: pd.DataFrame, settings: FitSettings) -> str:
    """The reduced-design warning the Chinchilla path gives for this table ('' if none)."""
    from scalinglab.fit.parametric import _reduce_degenerate_design  # noqa: PLC0415

    _, _, why = _reduce_degenerate_design(make_law(replace(settings, law="chinchilla")),
                                          replace(settings, law="chinchilla"), prepared)
    return why


def _no_selection(law_name: str, reason: str) -> dict[str, Any]:
    return {"chosen": law_name, "table": [], "cuts": [], "direction_weights": {},
            "indistinguishable": [], "alternatives": [], "reason": reason}


def selection_record(result: FitResult) -> dict[str, Any] | None:
    """The backtest table and choice of an ``auto`` fit (None for a pinned law)."""
    return result.diagnostics.get("selection")


def law_label(result: FitResult) -> str:
    """The fitted law's name as a reader should see it: an over-training fit re-expressed in
    Chinchilla's parameters (:func:`as_chinchilla`) says both."""
    if "overtrain_params" in result.diagnostics and result.law.name == "chinchilla":
        return "overtrain"
    return result.law.name


def _overtrain_to_chinchilla_raw(theta: np.ndarray) -> np.ndarray:
    """(e, log a, log b, eta) -> Chinchilla raw (e, a, alpha, b, beta), row-wise."""
    t = np.atleast_2d(np.asarray(theta, dtype=float))
    e, la, lb, eta = t[:, 0], t[:, 1], t[:, 2], t[:, 3]
    shift = eta * np.log(6.0)
    return np.stack([e, la - shift, 2 * eta, lb - shift, 2 * eta], axis=1)


def as_chinchilla(result: FitResult) -> FitResult:
    """An over-training (tied-exponent) fit expressed in Hoffmann et al.'s parameters."""
    law = Chinchilla(**result.law.chinchilla_params())
    boot = result.bootstrap_params
    if boot is not None:
        raw = _overtrain_to_chinchilla_raw(np.column_stack([
            np.log(boot["E"]), np.log(boot["a"]), np.log(boot["b"]), boot["eta"]]))
        boot = pd.DataFrame([Chinchilla.from_raw(r) for r in raw])
    run_interval = result.run_interval
    if run_interval is not None and run_interval.profile:
        profile = []
        for entry in run_interval.profile:
            raw = _overtrain_to_chinchilla_raw(entry["theta"])[0]
            profile.append({**entry, "theta": [float(v) for v in raw]})
        run_interval = replace(run_interval, profile=profile)
    if run_interval is not None and run_interval.parameter_cov:
        # the map is linear (rows: images of the basis vectors), so Cov maps as M' Cov M
        M = _overtrain_to_chinchilla_raw(np.eye(4))
        cov = M.T @ np.asarray(run_interval.parameter_cov) @ M
        run_interval = replace(run_interval, parameter_cov=cov.tolist())
    result.diagnostics["overtrain_params"] = dict(result.law.params)
    converted = replace(result, law=law, bootstrap_params=boot, run_interval=run_interval,
                        warnings=list(result.warnings), diagnostics=dict(result.diagnostics))
    restate_bootstrap_spread(converted)  # its warnings name E, A, alpha, B, beta
    return converted
