"""Figures of the scaling-law literature for your own runs (and, beside them, the HTML report).

Each figure function takes a result or a run table and an optional matplotlib ``Axes`` and
returns a ``Figure`` (built without pyplot on an Agg canvas; see :mod:`scalinglab.report.style`).
Nothing below ``report`` imports it: results' ``.plot()`` looks these functions up by name
when called.
"""

from scalinglab.report.figures import (
    backtest,
    budget_curve,
    dropped_rows,
    fit_rows,
    fitted_rows,
    isoflop_profiles,
    law_frontier,
    loss_contours,
    loss_vs_compute,
    optimal_allocation,
    prediction_vs_measurement,
    residuals,
)
from scalinglab.report.manifold import manifold_dimension
from scalinglab.report.task_figures import accuracy_vs_compute, accuracy_vs_loss

FIGURES = ("loss_vs_compute", "isoflop_profiles", "optimal_allocation", "loss_contours",
           "prediction_vs_measurement", "residuals", "backtest", "budget_curve")

__all__ = ["FIGURES", "accuracy_vs_compute", "accuracy_vs_loss", "backtest", "budget_curve",
           "dropped_rows", "fit_rows", "fitted_rows",
           "isoflop_profiles", "law_frontier",
           "loss_contours", "loss_vs_compute", "manifold_dimension", "optimal_allocation",
           "prediction_vs_measurement", "residuals"]
