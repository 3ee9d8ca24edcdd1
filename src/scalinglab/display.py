"""How results show themselves in a notebook: an HTML table and ``.plot()``.

:class:`NotebookDisplay` is a mixin for result classes (the shared result base and the
planner's ``Plan``).  It adds

* ``_repr_html_()`` -- Jupyter's rich display: a compact, escaped HTML table of the result's
  summary (parameters with their intervals, or a plan's quantities), then its warnings;
* ``.plot(kind=None, **kwargs)`` -- the matching figure of :mod:`scalinglab.report`, looked up
  by name when called (as pandas resolves its plotting backend), so importing a result never
  imports ``report`` or matplotlib, and lower layers keep not depending on ``report``.

Which figures a class has, and which argument of the figure function receives the result, is
declared here in :data:`PLOT_KINDS` (by class name, along the MRO), not in the class bodies.
"""

from __future__ import annotations

import html
import importlib
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError

#: class name -> {figure function in scalinglab.report: keyword that receives the result
#: (None: the first positional argument)}; the first entry is ``.plot()``'s default.
PLOT_KINDS: dict[str, dict[str, str | None]] = {
    "FitResult": {"loss_contours": None, "optimal_allocation": None, "residuals": None,
                  "loss_vs_compute": "fit", "prediction_vs_measurement": None,
                  "budget_curve": None},
    "IsoFlopResult": {"isoflop_profiles": None, "optimal_allocation": None},
    "EnvelopeResult": {"loss_vs_compute": "envelope", "optimal_allocation": None},
    "PowerFrontier": {"optimal_allocation": None},
    "BacktestResult": {"backtest": None},
    "Plan": {"budget_curve": None},
}


def plot_kinds(cls: type) -> dict[str, str | None]:
    """The figures ``cls`` can draw (first: the default), from the nearest class in its MRO."""
    for klass in cls.__mro__:
        if klass.__name__ in PLOT_KINDS:
            return PLOT_KINDS[klass.__name__]
    return {}


class NotebookDisplay:
    """Mixin: ``_repr_html_`` (a summary table) and ``.plot()`` (the matching figure)."""

    def plot(self, kind: str | None = None, **kwargs: Any) -> Any:
        """Draw the result with a :mod:`scalinglab.report` figure function; returns the Figure.

        ``kind`` names the figure (default: the first of :func:`plot_kinds`); ``kwargs`` go to
        the figure function (e.g. ``runs=`` for figures that need the run table, ``ax=``).
        """
        kinds = plot_kinds(type(self))
        name = type(self).__name__
        if not kinds:
            raise ScalingLabError(f"{name} has no figure to plot")
        chosen = kind if kind is not None else next(iter(kinds))
        if chosen not in kinds:
            raise ScalingLabError(f"{name} plots as {', '.join(kinds)}; not {chosen!r}")
        report = importlib.import_module("scalinglab.report")
        figure = getattr(report, chosen)
        keyword = kinds[chosen]
        return figure(**{keyword: self}, **kwargs) if keyword else figure(self, **kwargs)

    def _repr_html_(self) -> str | None:
        try:
            title, tables, notes = html_parts(self)
        except Exception:  # noqa: BLE001 -- a notebook falls back to the text repr
            return None
        return render_html(title, tables, notes)


# ------------------------------------------------------------------------------------------------
# what goes in the table
# ------------------------------------------------------------------------------------------------
def html_parts(result: Any) -> tuple[str, list[tuple[str, pd.DataFrame]], list[str]]:
    """(title, [(caption, table)], notes) of a result; per-class builders in :data:`PARTS`."""
    for klass in type(result).__mro__:
        builder = PARTS.get(klass.__name__)
        if builder is not None:
            return builder(result)
    return _default_parts(result)


def _default_parts(result: Any) -> tuple[str, list[tuple[str, pd.DataFrame]], list[str]]:
    tables = []
    summary = getattr(result, "summary", None)
    if callable(summary):
        level = getattr(result, "level", None)
        caption = f"{level:.0%} intervals" if isinstance(level, float) else ""
        tables.append((caption, summary()))
    return repr(result), tables, [str(w) for w in getattr(result, "warnings", []) or []]


def _backtest_parts(result: Any) -> tuple[str, list[tuple[str, pd.DataFrame]], list[str]]:
    tables = [("absolute relative error of the predicted loss", result.summary_table())]
    columns = [c for c in ("run_id", "n_params", "flops", "extrapolation", "loss", "predicted",
                           "are", "naive_are") if c in result.per_run.columns]
    tables.append(("held-out runs", result.per_run[columns]))
    return repr(result), tables, [str(w) for w in result.warnings]


def _plan_parts(plan: Any) -> tuple[str, list[tuple[str, pd.DataFrame]], list[str]]:
    rows = [{"quantity": label, "value": e.value, "low": e.low, "high": e.high, "unit": e.unit}
            for label, e in plan.rows()]
    tables = [(f"{plan.level:.0%} intervals", pd.DataFrame(rows))]
    if plan.ladder:
        ladder = [{f"money ({plan.currency})": r.budget, "multiple": r.multiple,
                   "compute (FLOPs)": r.flops, "loss (nats/token)": r.loss.value,
                   "low": r.loss.low, "high": r.loss.high,
                   "drop (nats/token)": None if r.loss_drop is None else r.loss_drop.value}
                  for r in plan.ladder]
        tables.append(("what each 10x more money buys", pd.DataFrame(ladder)))
    title = f"Plan ({plan.direction}) under {plan.source}"
    return title, tables, [str(n) for n in plan.notes]


PARTS: dict[str, Callable[[Any], tuple[str, list[tuple[str, pd.DataFrame]], list[str]]]] = {
    "BacktestResult": _backtest_parts,
    "Plan": _plan_parts,
}


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------
def format_cell(value: Any) -> str:
    """A table cell as escaped text: floats to 4 significant digits, missing values empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        if isinstance(value, float) and not math.isfinite(value):
            return "" if math.isnan(value) else html.escape(str(value))
        return html.escape(f"{value:.4g}")
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
        return format_cell(value.item())
    return html.escape(str(value))


def render_html(title: str, tables: list[tuple[str, pd.DataFrame]], notes: list[str]) -> str:
    """A compact, self-contained HTML fragment: a title, tables, then notes (all escaped)."""
    parts = ['<div class="scalinglab-result">',
             f'<p style="font-family:monospace;margin:0 0 4px 0">{html.escape(title)}</p>']
    for caption, frame in tables:
        parts.append('<table style="border-collapse:collapse;margin:0 0 6px 0">')
        if caption:
            parts.append(f'<caption style="text-align:left;font-style:italic">'
                         f'{html.escape(caption)}</caption>')
        parts.append("<thead><tr>" + "".join(
            f'<th style="text-align:right;padding:1px 8px">{html.escape(str(c))}</th>'
            for c in frame.columns) + "</tr></thead><tbody>")
        for row in frame.itertuples(index=False):
            parts.append("<tr>" + "".join(
                f'<td style="text-align:right;padding:1px 8px">{format_cell(v)}</td>'
                for v in row) + "</tr>")
        parts.append("</tbody></table>")
    if notes:
        parts.append('<ul style="margin:0;padding-left:18px">'
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</div>")
    return "\n".join(parts)
