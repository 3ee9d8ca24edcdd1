"""Residuals of a fit, a backtest, and what each 10x more money buys."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.laws.base import VARIABLE_COLUMNS
from scalinglab.report.figures._common import (
    ARE_FLOOR_PERCENT,
    _column,
    _legend,
    fitted_rows,
)
from scalinglab.report.style import (
    BAND_ALPHA,
    FIT_COLOUR,
    LABELS,
    OKABE_ITO,
    PREDICTION_COLOUR,
    axes_or_new,
    axes_row,
    figure_function,
    fmt_si,
    interval_label,
    log_axis,
    log_loss_axis,
)


# ------------------------------------------------------------------------------------------------
# residuals, backtest, budget
# ------------------------------------------------------------------------------------------------
@figure_function
def residuals(fit_result: FitResult, runs: pd.DataFrame | str | Path | None = None,
              axes: Any = None) -> Figure:
    """Residuals ln L̂ − ln L of the fitted rows against N (parameters) and D (tokens).

    The rows are those the fit used (``fit_result.rows``; a fit read from a version-1 file
    needs ``runs``, the table it was fitted on).  Dots: rows; line: median in 8 log-spaced
    bins (a trend means the law's form misses something); dashed: ± the RMSE.  A law of one
    variable gets one panel.
    """
    if not isinstance(fit_result, FitResult):
        raise ScalingLabError(f"residuals needs a FitResult, got {type(fit_result).__name__}")
    frame = fitted_rows(fit_result, runs)
    inputs = {v: _column(frame, fit_result.columns.get(v, VARIABLE_COLUMNS[v]), "residuals")
              for v in fit_result.law.variables}
    observed = _column(frame, "loss", "residuals")
    res = np.log(np.asarray(fit_result.predict(**inputs), dtype=float)) - np.log(observed)
    rmse = float(np.sqrt(np.mean(res**2)))
    shown = [v for v in ("N", "D") if v in inputs] or list(inputs)
    fig, panels = axes_row(axes, len(shown), figsize=(5.6 * len(shown) + 0.6, 4.3))
    for ax, variable in zip(panels, shown, strict=True):
        x = inputs[variable]
        ax.scatter(x, res, s=18, color=OKABE_ITO["blue"], alpha=0.7, edgecolors="none",
                   label=f"fitted rows ({len(res)})")
        edges = np.geomspace(x.min(), x.max() * (1 + 1e-9), 9)
        which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 7)
        centres, medians = [], []
        for b in range(8):
            if np.sum(which == b) >= 3:
                centres.append(float(np.sqrt(edges[b] * edges[b + 1])))
                medians.append(float(np.median(res[which == b])))
        if centres:
            ax.plot(centres, medians, color=OKABE_ITO["vermillion"], lw=2, marker="o", ms=4,
                    label="binned median")
        ax.axhline(0.0, color=FIT_COLOUR, lw=1.0)
        for sign in (1, -1):
            ax.axhline(sign * rmse, color="0.4", lw=0.9, ls="--",
                       label=f"± RMSE = {rmse:.3g}" if sign == 1 else None)
        log_axis(ax, "x")
        ax.set_xlabel({"N": LABELS["N"], "D": LABELS["D"], "C": LABELS["C"]}.get(
            variable, variable))
        ax.set_ylabel(LABELS["residual"])
        ax.set_title(f"Residuals against {variable}")
    _legend(panels[0], loc="best")
    return fig


@figure_function
def backtest(backtest_result: Any, ax: Axes | None = None) -> Figure:
    """Error of the backtest's held-out runs against how far the law was extrapolated.

    x: held-out C / largest fitted C (log); y: absolute relative error of the predicted loss
    (%, log), for the fitted law and the naive baseline (the best loss among the fitted runs);
    a thin line joins the two errors of each run.  Errors below 0.01% (a held-out run that
    happens to match the naive loss) are drawn at 0.01%, the bottom of the axis.
    """
    table = getattr(backtest_result, "per_run", None)
    if table is None:
        raise ScalingLabError(f"backtest needs a BacktestResult, got "
                              f"{type(backtest_result).__name__}")
    if "extrapolation" not in table.columns:
        raise ScalingLabError("the backtest has no extrapolation factors (the runs have no "
                              "FLOPs): nothing to put on the x axis")
    fig, ax = axes_or_new(ax)
    x = table["extrapolation"].to_numpy(float)
    law = np.maximum(100 * table["are"].to_numpy(float), ARE_FLOOR_PERCENT)
    naive = np.maximum(100 * table["naive_are"].to_numpy(float), ARE_FLOOR_PERCENT)
    pairs = [np.array([[xi, a], [xi, b]]) for xi, a, b in zip(x, law, naive, strict=True)]
    ax.add_collection(LineCollection(pairs, colors="0.6", linewidths=0.8, zorder=1),
                      autolim=True)
    ax.scatter(x, naive, marker="s", s=34, facecolors="white", edgecolors=OKABE_ITO["orange"],
               linewidths=1.4, zorder=3,
               label=f"naive: best fitted loss (median {np.median(naive):.2f}%)")
    ax.scatter(x, law, marker="o", s=34, color=OKABE_ITO["blue"], zorder=4,
               label=f"fitted law (median {np.median(law):.2f}%)")
    beats = int(np.sum(law < naive))
    log_axis(ax, "x")
    ax.set_yscale("log")
    ax.autoscale_view()
    ax.set_ylim(bottom=ARE_FLOOR_PERCENT * 0.7)
    ax.set_xlabel("extrapolation factor C / largest fitted C (FLOPs/FLOPs)")
    ax.set_ylabel("absolute relative error of loss (%)")
    ax.set_title(f"Backtest: law better on {beats} of {len(x)} held-out runs")
    ax.legend(loc="best")
    return fig


@figure_function
def budget_curve(source: Any, costs: Any = None, budget: float | None = None,
                 ax: Axes | None = None, decades: Sequence[int] = (-2, -1, 0, 1, 2, 3)
                 ) -> Figure:
    """Predicted loss (nats/token) with its interval against money: what each 10x buys.

    ``source``: a planner ``Plan`` (its ladder of 10x budgets is drawn), or a Chinchilla
    :class:`FitResult`, an ``UncertainLaw`` or a preset name, with ``costs`` (a ``CostModel``;
    default :meth:`CostModel.create`) and ``budget`` (in its currency): the plan is made
    here with ``decades`` powers of ten around the budget.  Numbers between points: the loss
    each step buys.  The top axis converts money to training FLOPs.
    """
    from scalinglab.compute.cost import CostModel
    from scalinglab.compute.planner import Plan, UncertainLaw, plan_for_budget

    if isinstance(source, Plan):
        plan = source
    else:
        if isinstance(source, FitResult):
            law = UncertainLaw.from_fit(source)
        elif isinstance(source, UncertainLaw):
            law = source
        elif isinstance(source, str):
            law = UncertainLaw.from_preset(source)
        else:
            raise ScalingLabError(f"budget_curve needs a Plan, a FitResult, an UncertainLaw or a "
                                  f"preset name, got {type(source).__name__}")
        if budget is None:
            raise ScalingLabError("budget_curve needs budget= (money in the cost model's "
                                  "currency) when given a law rather than a plan")
        plan = plan_for_budget(law, costs or CostModel.create(), budget=budget,
                               ladder=tuple(decades))
    rows = plan.ladder
    if not rows:
        raise ScalingLabError("the plan has no ladder of 10x budgets to draw")
    money = np.array([r.budget for r in rows], dtype=float)
    flops = np.array([r.flops for r in rows], dtype=float)
    use_money = bool(np.all(np.isfinite(money)) and np.all(money > 0))
    x = money if use_money else flops
    loss = np.array([r.loss.value for r in rows], dtype=float)
    fig, ax = axes_or_new(ax)
    if all(r.loss.low is not None for r in rows):
        low = np.array([r.loss.low for r in rows], dtype=float)
        high = np.array([r.loss.high for r in rows], dtype=float)
        ax.fill_between(x, low, high, color=OKABE_ITO["blue"], alpha=BAND_ALPHA, lw=0,
                        label=f"{interval_label(plan.level)} ({plan.n_draws} bootstrap draws)")
    ax.plot(x, loss, color=OKABE_ITO["blue"], lw=2.2, marker="o", ms=6,
            label="predicted loss, compute-optimal N and D")
    for j in range(1, len(rows)):
        drop = rows[j].loss_drop
        if drop is None:
            continue
        xm = float(np.sqrt(x[j - 1] * x[j]))
        ym = 0.5 * (loss[j - 1] + loss[j])
        ax.annotate(f"−{drop.value:.3g}", (xm, ym), textcoords="offset points", xytext=(4, 6),
                    fontsize=9.5, color="0.25")
    here = plan.budget.value if use_money else plan.flops.value
    if np.isfinite(here):
        ax.axvline(here, color=PREDICTION_COLOUR, lw=1.4, ls="--",
                   label=f"this plan: {fmt_si(here)} {plan.currency if use_money else 'FLOPs'}")
    log_axis(ax, "x")
    log_loss_axis(ax, "y")
    if use_money:
        ratio = float(flops[0] / money[0])
        top = ax.secondary_xaxis("top", functions=(lambda m: m * ratio, lambda c: c / ratio))
        top.set_xlabel(LABELS["C"])
        ax.set_xlabel(f"training cost ({plan.currency})")
    else:
        ax.set_xlabel(LABELS["C"])
    ax.set_ylabel("predicted loss (nats/token)")
    ax.set_title("What each 10x more money buys (loss drop per step)")
    ax.legend(loc="upper right")
    return fig
