"""Printing the law selection of a ``law="auto"`` fit: the candidates' backtest table and why."""

from __future__ import annotations

from typing import Any

from scalinglab.cli.common import console, print_table
from scalinglab.report.selection import selection_table


def show_selection(record: dict[str, Any] | None) -> None:
    """The backtest table (mean |log error| % by direction of the cuts) and the reasons."""
    if not record:
        return
    if record.get("table"):
        directions, table = selection_table(record)
        rows = [[r["name"] + (" *" if r["used"] else ""), r["n_free"], *r["cells"]]
                for r in table]
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
