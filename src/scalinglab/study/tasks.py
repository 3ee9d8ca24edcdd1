"""The demo's task predictions: the task chain fitted on the sweep predicts the validation
run's accuracy on the held-out task suite before it trains; the measurement is compared after.

For every task column of the sweep's records (``acc_continuation``, ``acc_cloze``: the
trainer's suite, :mod:`scalinglab.train.tasks`) the chain (:func:`scalinglab.fit.chain.fit_task`)
is fitted to the same points as Approach 3 (final points with at least ``fit_min_steps``
steps), with step 1 the same law and settings as Approach 3 (Chinchilla on ``n_column``, no
frontier filter, the same calibration cuts between compute levels), so the loss it passes
through is the demo's own loss prediction.  The route (validation loss, task loss or compute)
is chosen by the chain's nested backtests.  A task the chain refuses (near chance, or bootstrap
links that disagree at the target) gets its reason in one line instead of a number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.study.fits import approach3_options, approach3_points, final_points
from scalinglab.study.summary import TaskSummary
from scalinglab.sweep.plan import PlannedRun, SweepPlan

#: numerical failures of a fit, reported as a reason rather than raised (the demo goes on)
FIT_FAILURES = (ScalingLabError, ValueError, ArithmeticError, np.linalg.LinAlgError)


def task_columns(records: pd.DataFrame) -> list[str]:
    """The ``acc_<task>`` columns of the records that hold at least one number."""
    return sorted(c for c in records.columns if c.startswith("acc_")
                  and pd.to_numeric(records[c], errors="coerce").notna().any())


def sweep_task_predictions(records: pd.DataFrame, plan: SweepPlan, validation: PlannedRun,
                           config) -> list[dict[str, Any]]:
    """The frozen task predictions of the validation run from the sweep's ``records`` (the
    loss column already the one the fits use), on Approach 3's points and settings."""
    usable = approach3_points(final_points(records), config.fit_min_steps)
    return predict_tasks(usable, records, validation,
                         approach3_options(plan, usable, config.n_column), config.level,
                         config.spec.seed)


def predict_tasks(points: pd.DataFrame, records: pd.DataFrame, validation: PlannedRun,
                  loss_options: dict[str, Any], level: float, seed: int) -> list[dict[str, Any]]:
    """One frozen prediction per task column: ``accuracy``, ``low``, ``high`` at ``level``
    (fractions), or ``refused`` with the reason.  ``points`` are the rows Approach 3 was fitted
    to, ``records`` all sweep records (to list the task columns); ``loss_options`` Approach 3's
    settings (step 1 of the chain)."""
    columns = task_columns(records)
    if not columns:
        return [{"task": None, "refused": "the sweep's records carry no task scores (runs "
                                          "trained without the task suite)"}]
    n_value = (validation.shape.n_params if loss_options.get("n_column", "n_params") ==
               "n_params" else validation.shape.n_params_total)
    return [_predict_one(points, column, float(n_value), float(validation.config.tokens),
                         loss_options, level, seed) for column in columns]


def _predict_one(points: pd.DataFrame, column: str, n_value: float, tokens: float,
                 loss_options: dict[str, Any], level: float, seed: int) -> dict[str, Any]:
    from scalinglab.fit.chain import fit_task  # noqa: PLC0415
    from scalinglab.laws.links import known_chance  # noqa: PLC0415

    base = {"task": column, "chance": known_chance(column), "level": level}
    try:  # the chance level of the built-in suite's tasks is known (1 / 4 options)
        chain = fit_task(points, column, level=level, seed=seed, **loss_options)
        answer = chain.predict_interval(level, N=n_value, D=tokens)
    except FIT_FAILURES as exc:
        return {**base, "refused": str(exc).splitlines()[0]}
    loss = answer.get("loss") or {}
    return {**base, "chance": chain.chance, "accuracy": float(answer["accuracy"]),
            "low": float(answer["low"]), "high": float(answer["high"]), "via": chain.via,
            "intermediate": loss.get("column"), "intermediate_loss": loss.get("loss"),
            "routes_mae_points": chain.selection.get("mae_points") or {},
            "warnings": [g.message for g in answer["guards"] if g.action == "warn"]}


def measure_tasks(predictions: list[dict[str, Any]] | None,
                  final_scores: dict[str, float]) -> list[TaskSummary]:
    """The frozen predictions beside the validation run's measured accuracies (fractions)."""
    if predictions is None:
        return [TaskSummary(None, refused="no task prediction was frozen before the validation "
                                          "run (its results folder predates the task suite)")]
    out = []
    for item in predictions:
        value = final_scores.get(item.get("task") or "")
        measured = float(value) if value is not None and math.isfinite(value) else None
        inside = (None if "refused" in item or measured is None else
                  bool(item["low"] <= measured <= item["high"]))
        out.append(TaskSummary(
            task=item.get("task"), chance=item.get("chance"), level=item.get("level"),
            predicted=item.get("accuracy"), low=item.get("low"), high=item.get("high"),
            measured=measured, inside_interval=inside, refused=item.get("refused"),
            via=item.get("via"), intermediate=item.get("intermediate"),
            intermediate_loss=item.get("intermediate_loss"),
            routes_mae_points=item.get("routes_mae_points"), warnings=item.get("warnings")))
    return out
