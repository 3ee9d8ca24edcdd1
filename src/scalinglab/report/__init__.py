"""Figures of the scaling-law literature for your own runs (and, beside them, the HTML report).

Each figure function takes a result or a run table and an optional matplotlib ``Axes`` and
returns a ``Figure`` (built without pyplot on an Agg canvas; see :mod:`scalinglab.report.style`).
Nothing below ``report`` imports it: results' ``.plot()`` looks these functions up by name
when called.
"""

from __future__ import annotations

from scalinglab.lazy import lazy_exports

_FIGURE_FUNCTIONS = ("backtest", "budget_curve", "dropped_rows", "fit_rows", "fitted_rows",
                     "isoflop_profiles", "law_frontier", "loss_contours", "loss_vs_compute",
                     "optimal_allocation", "prediction_vs_measurement", "residuals")
#: Exported name -> submodule, loaded on first use (PEP 562): the command line's tables need
#: :mod:`scalinglab.report.selection`, not matplotlib (0.4 s to import).
_EXPORTS = {**{name: "figures" for name in _FIGURE_FUNCTIONS},
            "manifold_dimension": "manifold",
            "accuracy_vs_compute": "task_figures", "accuracy_vs_loss": "task_figures"}
__getattr__ = lazy_exports(__name__, _EXPORTS)

FIGURES = ("loss_vs_compute", "isoflop_profiles", "optimal_allocation", "loss_contours",
           "prediction_vs_measurement", "residuals", "backtest", "budget_curve")

__all__ = ["FIGURES", *_EXPORTS]
