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

from scalinglab.fit.frontier_choice import frontier_choice
from scalinglab.fit.parametric import FitSettings, fit_parametric, make_law, prepare_runs
from scalinglab.fit.result import FitResult
from scalinglab.fit.selection import select_law
from scalinglab.fit.spread import dominance_points
from scalinglab.laws.forms import Chinchilla
from scalinglab.laws.overtrain import OverTrain
from scalinglab.records import load_runs

#: FitSettings fields that select the law: with ``law="auto"`` the selection sets them.
LAW_FIELDS = ("law", "variable", "irreducible", "E_fixed")


def fit_auto(runs: pd.DataFrame | str, *, bootstrap: int = 0, level: float = 0.9,
             seed: int = 0, **options: Any) -> FitResult:
    """Choose the law by backtests, fit it with ``options``, and record why.

    An ``E_fixed`` in ``options`` pins E: there is nothing left to choose between E free and
    absent, so the Chinchilla form is fitted with it (no selection).
    """
    options = {k: v for k, v in options.items() if k not in ("law", "variable", "irreducible")}
    if options.get("E_fixed") is not None:
        result = fit_parametric(runs, "chinchilla", bootstrap=bootstrap, level=level,
                                seed=seed, **options)
        result.diagnostics["selection"] = _no_selection("chinchilla",
                                                        "E is fixed by the user: no selection")
        return result
    settings = FitSettings(**{k: v for k, v in options.items()
                              if k in FitSettings.__dataclass_fields__
                              and k not in ("calibration_cuts",)})
    frame = load_runs(runs, require=("loss",)) if not isinstance(runs, pd.DataFrame) else runs
    prepared, _ = prepare_runs(frame, make_law(settings), settings)
    choice = select_law(prepared, settings)
    if choice.chosen is None:
        result = fit_parametric(frame, "chinchilla", bootstrap=bootstrap, level=level,
                                seed=seed, **options)
        result.diagnostics["selection"] = _no_selection(
            result.law.name, f"no selection: {choice.why_not}; the Chinchilla law (reduced "
                             f"where the design needs it) is used")
        return result
    chosen = choice.chosen.settings
    law_options = {"law": chosen.law, "variable": chosen.variable,
                   "irreducible": chosen.irreducible, "E_fixed": chosen.E_fixed}
    reduced = chosen.law == "power" and chosen.irreducible
    if reduced:  # the reduced Chinchilla law: the Chinchilla path fits it and says where it holds
        law_options = {"law": "chinchilla"}
    result = fit_parametric(frame, bootstrap=bootstrap, level=level, seed=seed,
                            **{**options, **law_options})
    if chosen.law == "power" and not chosen.irreducible:
        note = reduction_note(prepared, settings)
        if note:
            result.warnings.insert(0, f"{note}; the nested backtests chose the form without "
                                      f"an irreducible term, L = A/{chosen.variable}^alpha "
                                      f"(see the law selection)")
    if isinstance(result.law, OverTrain):
        result = as_chinchilla(result)
    record = choice.selection.to_dict()
    record["alternatives"] = choice.alternatives()
    record["law_settings"] = {k: getattr(chosen, k) for k in LAW_FIELDS}
    record["dominance"] = dominance_points(
        prepared[settings.n_column].to_numpy(dtype=float),
        prepared["tokens"].to_numpy(dtype=float), prepared["loss"].to_numpy(dtype=float))
    record["frontier"] = frontier_choice(prepared, settings, choice.chosen,
                                         choice.full[choice.chosen.name], choice.cuts or [])
    result.diagnostics["selection"] = record
    result.settings["law"] = "auto"
    result.settings["law_chosen"] = choice.chosen.name
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
    settings = dict(result.settings)
    settings["form"] = ("overtrain: Gadre et al. 2024, L = E + (a M^eta + b M^-eta) C^-eta, "
                        "M = D/N, i.e. Chinchilla with alpha = beta = 2 eta")
    settings["overtrain_params"] = dict(result.law.params)
    return replace(result, law=law, bootstrap_params=boot, run_interval=run_interval,
                   settings=settings)
