"""Figures of a task chain (:class:`~scalinglab.fit.chain.TaskFit`): accuracy against loss and
against compute.

* :func:`accuracy_vs_loss` -- the link: each row's accuracy against its loss (or log10 compute
  for the direct fit), coloured by N, with the fitted sigmoid, its bootstrap band and the chance
  level (the picture of Bhagia et al. 2024, Fig. 1 right; Gadre et al. 2024, Fig. 4);
* :func:`accuracy_vs_compute` -- the runs' accuracy against training compute (FLOPs, C = 6ND)
  with the chain's prediction and its interval at a target.

Both read the fit and the rows; they never refit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.fit.chainselect import intermediate_column
from scalinglab.fit.tasktable import log10_compute
from scalinglab.report.style import (
    BAND_ALPHA,
    FIT_COLOUR,
    LABELS,
    OKABE_ITO,
    PREDICTION_COLOUR,
    RUN_CMAP,
    axes_or_new,
    figure_function,
    log_axis,
    log_norm,
)


def _rows(task_fit: Any, runs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows with the accuracy and the link's x, and their x and accuracy arrays."""
    if task_fit.task not in runs.columns:
        raise ScalingLabError(f"the run table has no {task_fit.task} column")
    acc = pd.to_numeric(runs[task_fit.task], errors="coerce").to_numpy(dtype=float)
    if task_fit.via == "compute":
        x = log10_compute(runs)
    else:
        column = task_fit.intermediate or intermediate_column(task_fit.via, task_fit.task, "loss")
        if column not in runs.columns:
            raise ScalingLabError(f"the run table has no {column} column (the link's loss)")
        x = pd.to_numeric(runs[column], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(acc)
    return runs.loc[ok], x[ok], acc[ok]


def _scatter_runs(fig: Figure, ax: Axes, rows: pd.DataFrame, x: np.ndarray, y: np.ndarray):
    if "n_params" in rows.columns and (rows["n_params"] > 0).all():
        n = rows["n_params"].to_numpy(dtype=float)
        norm = log_norm(n)
        ax.scatter(x, y, c=n, cmap=RUN_CMAP, norm=norm, s=16, alpha=0.85, edgecolors="none",
                   label=f"runs ({len(x)} rows)", zorder=2)
        fig.colorbar(ScalarMappable(norm=norm, cmap=RUN_CMAP), ax=ax, pad=0.02).set_label(
            LABELS["N"])
    else:
        ax.scatter(x, y, s=16, color=OKABE_ITO["blue"], alpha=0.85, label=f"runs ({len(x)} rows)")


@figure_function
def accuracy_vs_loss(task_fit: Any, runs: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The fitted link: accuracy (fraction) against loss (nats) or log10 compute (FLOPs)."""
    fig, ax = axes_or_new(ax, figsize=(6.6, 4.8))
    rows, x, y = _rows(task_fit, runs)
    _scatter_runs(fig, ax, rows, x, y)
    span = max(float(np.ptp(x)), 1e-9)
    grid = np.linspace(x.min() - 0.25 * span, x.max() + 0.25 * span, 200)
    floor = (f", floor {task_fit.link.floor:.3g}" if task_fit.link.floor < task_fit.chance
             else "")
    ax.plot(grid, task_fit.link.predict(grid), color=FIT_COLOUR, lw=2,
            label=f"fitted link ({task_fit.link.form}{floor})")
    if task_fit.link_draws is not None and len(task_fit.link_draws) >= 2:
        from scalinglab.fit.chain import link_band  # noqa: PLC0415

        band = link_band(task_fit, grid)
        lo, hi = np.quantile(band, [0.05, 0.95], axis=0)
        ax.fill_between(grid, lo, hi, color=FIT_COLOUR, alpha=BAND_ALPHA,
                        label=f"90% band of {len(band)} bootstrap links")
    ax.axhline(task_fit.chance, color=OKABE_ITO["vermillion"], ls="--", lw=1.2,
               label=f"chance {task_fit.chance:.3g}")
    if task_fit.via == "compute":
        ax.set_xlabel("log10 training compute C (FLOPs)")
    else:
        ax.set_xlabel(f"{task_fit.intermediate} (nats)")
        ax.invert_xaxis()                         # lower loss to the right, as compute grows
    ax.set_ylabel(f"{task_fit.task} (fraction correct)")
    ax.set_title("Accuracy against " + ("log10 compute" if task_fit.via == "compute" else
                                        "loss") + ": the fitted link")
    ax.legend(loc="best", fontsize="small")
    return fig


@figure_function
def accuracy_vs_compute(task_fit: Any, runs: pd.DataFrame, target: dict[str, float] | None = None,
                        ax: Axes | None = None) -> Figure:
    """Accuracy against training compute (FLOPs, 6ND) with the prediction at ``target``.

    ``target``: ``{"N": ..., "D": ...}`` (or ``{"C": ...}`` for a direct fit); its predicted
    accuracy is drawn with its run interval.
    """
    fig, ax = axes_or_new(ax, figsize=(6.6, 4.8))
    acc = pd.to_numeric(runs[task_fit.task], errors="coerce").to_numpy(dtype=float)
    logc = log10_compute(runs)
    ok = np.isfinite(acc) & np.isfinite(logc)
    _scatter_runs(fig, ax, runs.loc[ok], 10 ** logc[ok], acc[ok])
    if task_fit.via == "compute":
        grid = np.linspace(logc[ok].min(), logc[ok].max() + 1.0, 200)
        ax.plot(10 ** grid, task_fit.link.predict(grid), color=FIT_COLOUR, lw=2,
                label="direct fit in log10 compute")
    if target:
        out = task_fit.predict_interval(**target)
        c = target.get("C", 6.0 * target.get("N", np.nan) * target.get("D", np.nan))
        ax.errorbar([c], [out["accuracy"]], yerr=[[out["accuracy"] - out["low"]],
                                                  [out["high"] - out["accuracy"]]],
                    fmt="D", color=PREDICTION_COLOUR, capsize=4, ms=7, zorder=5,
                    label=f"prediction {out['accuracy']:.3f} "
                          f"[{out['low']:.3f}, {out['high']:.3f}] ({out['level']:.0%})")
    ax.axhline(task_fit.chance, color=OKABE_ITO["vermillion"], ls="--", lw=1.2,
               label=f"chance {task_fit.chance:.3g}")
    log_axis(ax, "x")
    ax.set_xlabel(LABELS["C"])
    ax.set_ylabel(f"{task_fit.task} (fraction correct)")
    ax.set_title(f"Accuracy against compute (via {task_fit.via})")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def task_figure_specs(inputs: Any) -> list[tuple[str, str, str, str | None, Callable]]:
    """The report's entries for a task fit (key, title, caption, reason missing, call)."""
    task_fit = getattr(inputs, "task_fit", None)
    if task_fit is None:
        return []
    runs = inputs.runs
    missing = None if runs is not None else "a task fit report needs its run table (--runs)"
    if inputs.task_target is None and runs is not None and \
            {"n_params", "tokens"} <= set(runs.columns):
        big = (runs["n_params"] * runs["tokens"]).astype(float).idxmax()
        grow = np.sqrt(10.0)           # 10x the costliest run's compute, N and D alike
        inputs.task_target = {"N": float(runs.loc[big, "n_params"]) * grow,
                              "D": float(runs.loc[big, "tokens"]) * grow}
    x_name = "log10 compute" if task_fit.via == "compute" else "loss"
    return [
        ("accuracy_vs_loss", f"Accuracy against {x_name}",
         "Every row's task accuracy against the loss the chain passes through (or log10 "
         "compute for the direct fit), the fitted sigmoid between its floor (chance, or fitted "
         "below it) and its ceiling, and "
         "the band of the bootstrap links; rows should scatter evenly about the curve.",
         missing, lambda f: f(task_fit, runs)),
        ("accuracy_vs_compute", "Accuracy against compute",
         "Every row's task accuracy against training compute, with the chance level and the "
         "chain's prediction at the target with its run interval.",
         missing, lambda f: f(task_fit, runs, inputs.task_target)),
    ]
