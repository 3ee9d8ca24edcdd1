"""The report's law-selection table: the candidates' nested-backtest errors and why the answer
uses the law it uses (a ``law="auto"`` fit; :mod:`scalinglab.fit.selection`)."""

from __future__ import annotations

from typing import Any

import numpy as np


def selection_section(fit: Any) -> dict[str, Any] | None:
    """Headers, rows (mean |log error| in % per cut direction and overall) and the reasons, or
    None for a fit whose law was pinned (no selection was made)."""
    record = (getattr(fit, "diagnostics", None) or {}).get("selection")
    if not record or not record.get("table"):
        return None
    directions, rows = selection_table(record)
    cuts = record.get("cuts", [])
    unit = cuts[0]["unit"] if cuts else "runs"
    weights = ", ".join(f"{d} {w:.2f}" for d, w in record.get("direction_weights", {}).items())
    frontier = record.get("frontier") or {}
    return {"headers": [f"cut in {d}" for d in directions] + ["score"], "rows": rows,
            "n_cuts": len(cuts), "unit": unit, "weights": weights,
            "reason": record.get("reason", ""), "form": record.get("form"),
            "frontier_reason": frontier.get("reason")}


def selection_table(record: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The cut directions and one row per candidate of a selection record: name, used,
    indistinguishable, n_free, description and ``cells``, the mean |log error| in % per
    direction then overall ("-" where a candidate could not be scored)."""
    directions = list(record.get("direction_weights", {}))
    rows = []
    for r in record["table"]:
        errors = [r["directions"].get(d, {}).get("mae", float("nan")) for d in directions]
        rows.append({"name": r["name"], "used": r["name"] == record.get("chosen"),
                     "indistinguishable": r["name"] in record.get("indistinguishable", []),
                     "n_free": r["n_free"], "description": r.get("description", ""),
                     "cells": [_percent(v) for v in errors + [r["score"]]]})
    return directions, rows


def _percent(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{100 * value:.2f}"
