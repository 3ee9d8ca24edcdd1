"""Printing the law selection of a ``law="auto"`` fit: the candidates' backtest table and why."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.cli.common import console, print_table


def show_selection(record: dict[str, Any] | None) -> None:
    """The backtest table (mean |log error| % by direction of the cuts) and the reasons."""
    if not record:
        return
    table = record.get("table") or []
    if table:
        directions = list(record.get("direction_weights", {}))
        rows = []
        for r in table:
            cells: list[Any] = [r["name"] + (" *" if r["name"] == record["chosen"] else ""),
                                r["n_free"]]
            for d in directions:
                v = r["directions"].get(d, {}).get("mae", float("nan"))
                cells.append("-" if not np.isfinite(v) else f"{100 * v:.2f}")
            cells.append("-" if not np.isfinite(r["score"]) else f"{100 * r['score']:.2f}")
            rows.append(cells)
        cuts = record.get("cuts", [])
        print_table(f"law selection: nested backtests ({len(cuts)} cuts along "
                    f"{', '.join(directions)}; mean |log error| % of held-out "
                    f"{cuts[0]['unit'] if cuts else 'runs'}; * = used)",
                    ["candidate", "parameters"] + [f"cut in {d}" for d in directions]
                    + ["score"], rows)
    console.print(f"law: {record.get('reason', '')}", highlight=False, markup=False)
    if record.get("form"):
        console.print(f"form: {record['form']}", highlight=False, markup=False)
    frontier = record.get("frontier")
    if frontier:
        console.print(f"frontier: {frontier['reason']}", highlight=False, markup=False)
