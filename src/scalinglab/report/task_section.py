"""The report's task-chain section (issue 24): what the accuracy answer passes through, and the
routes' nested-backtest errors that chose it (:mod:`scalinglab.fit.chainselect`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.fit.chainselect import ROUTE_WORDS, STEP1_WORDS


def task_section(task_fit: Any) -> dict[str, Any] | None:
    """The chain's summary (task, chance, link, scatter, route) and one row per route scored by
    the nested backtests (MAE in accuracy points; used / alike), or None without a task fit."""
    if task_fit is None:
        return None
    selection = task_fit.selection or {}
    chosen = selection.get("chosen", task_fit.via)
    alike = set(selection.get("alternative_routes", []))
    rows = []
    for label, mae in (selection.get("mae_points") or {}).items():
        via, _, law = label.partition(":")
        rows.append({"label": label, "intermediate": ROUTE_WORDS.get(via, via),
                     "step1": "-" if via == "compute" else STEP1_WORDS.get(law, law),
                     "mae": "failed" if not np.isfinite(mae) else f"{mae:.2f}",
                     "used": label == chosen, "alike": label in alike})
    return {"task": task_fit.task, "chance": task_fit.chance, "link": task_fit.link.describe(),
            "scatter": task_fit.scatter, "route": ROUTE_WORDS.get(task_fit.via, task_fit.via),
            "intermediate": task_fit.intermediate, "rows": rows,
            "n_backtests": selection.get("n_backtests", 0),
            "method": selection.get("method", "")}
