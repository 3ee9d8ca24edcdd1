"""The report's compute-optimal tables: the frontier at the target compute (Approach 3 and 2,
each interval of its kind) with the warnings of that answer's guards, and the IsoFLOP summary."""

from __future__ import annotations

from typing import Any

from scalinglab.report.sources import ReportInputs
from scalinglab.text import one_line

#: (key in the frontier answer, row label, unit)
_APPROACH3_ROWS = (("N_opt", "N_opt", "parameters"), ("D_opt", "D_opt", "tokens"),
                   ("tokens_per_param", "D/N", "tokens per parameter"),
                   ("loss", "loss", "nats/token"))
_APPROACH2_ROWS = (("N_opt", "N_opt", "parameters"), ("D_opt", "D_opt", "tokens"))


def _approach3(inputs: ReportInputs):
    """The fit whose law answers compute-optimal questions (Chinchilla form), else None."""
    fit = inputs.fit
    return fit if fit is not None and fit.law.name == "chinchilla" else None


def frontier_section(inputs: ReportInputs, level: float) -> tuple[list[dict[str, Any]], list[str]]:
    """The frontier at ``inputs.target_compute`` (FLOPs): one row per quantity (value, low,
    high, unit, which approach answered; a row saying why when an answer fails), and the
    warnings of Approach 3's answer (its guards that warn: far from the data, a degenerate law,
    too few model sizes to split compute)."""
    target = inputs.target_compute
    if target is None:
        return [], []
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    try:
        fit = _approach3(inputs)
        if fit is not None:
            front = fit.frontier(target, level)
            rows += _rows(front, _APPROACH3_ROWS, "Approach 3")
            warnings = [g.message for g in front.get("guards", []) if g.action == "warn"]
        if inputs.isoflop is not None:
            rows += _rows(inputs.isoflop.frontier(target, level), _APPROACH2_ROWS,
                          "Approach 2")
    except Exception as exc:  # noqa: BLE001  (the summary says why instead)
        rows.append({"name": "frontier", "value": None, "low": None, "high": None,
                     "unit": one_line(exc), "by": ""})
    return rows, warnings


def _rows(front: dict[str, Any], keys, by: str) -> list[dict[str, Any]]:
    return [{"name": label, "value": front[key]["value"], "low": front[key].get("low"),
             "high": front[key].get("high"), "unit": unit, "by": by}
            for key, label, unit in keys]


def isoflop_rows(result: Any, level: float) -> list[dict[str, Any]]:
    """Approach 2's summary table (quantity, value, interval, unit), or [] without one."""
    if result is None:
        return []
    table = result.summary(level)
    return [{"name": r["quantity"], "value": r["value"], "low": r["low"], "high": r["high"],
             "unit": r["unit"]} for r in table.to_dict("records")]
