"""The figures of the scaling-law literature, drawn for your own runs and fits.

Every function takes a result (or a run table), optionally the matplotlib ``Axes`` to draw on
(``ax=None``: a new figure), and returns the ``Figure``.  Units are on every axis: loss in
nats/token, compute C in FLOPs, N in parameters, D in tokens; compute, N and D are on log
axes, as in the papers.  Which picture each one is, and its module:

* :func:`loss_vs_compute` (``compute``) -- Kaplan et al. 2020 Fig. 1 / Hoffmann et al. 2022
  Fig. 2;
* :func:`isoflop_profiles` (``isoflop``) -- Hoffmann Fig. 3 (left);
* :func:`optimal_allocation` (``allocation``) -- Hoffmann Fig. 3 (centre, right) and Fig. 1's
  published laws;
* :func:`loss_contours` (``contours``) -- Hoffmann Fig. 4 (left);
* :func:`prediction_vs_measurement` (``prediction``) -- OpenAI 2023 (GPT-4 technical report)
  Fig. 1;
* :func:`residuals`, :func:`backtest`, :func:`budget_curve` (``diagnostics``) -- diagnostics
  and the planner.
"""

from scalinglab.report.figures._common import (
    DEFAULT_PRESETS,
    FitRows,
    dropped_rows,
    fit_rows,
    fitted_rows,
    law_frontier,
)
from scalinglab.report.figures.allocation import optimal_allocation
from scalinglab.report.figures.compute import loss_vs_compute
from scalinglab.report.figures.contours import loss_contours
from scalinglab.report.figures.diagnostics import backtest, budget_curve, residuals
from scalinglab.report.figures.isoflop import isoflop_profiles
from scalinglab.report.figures.prediction import prediction_vs_measurement

__all__ = ["DEFAULT_PRESETS", "FitRows", "backtest", "budget_curve", "dropped_rows", "fit_rows", "fitted_rows",
           "isoflop_profiles", "law_frontier", "loss_contours", "loss_vs_compute",
           "optimal_allocation", "prediction_vs_measurement", "residuals"]
