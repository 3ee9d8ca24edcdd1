"""Loss against training compute (Kaplan et al. 2020 Fig. 1 / Hoffmann et al. 2022 Fig. 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.laws.forms import Chinchilla
from scalinglab.report.figures._common import (
    FitRows,
    _band,
    _column,
    _flops,
    _geom_grid,
    _legend_below,
    _level,
    _n_column,
    _table,
    dropped_rows,
)
from scalinglab.report.style import (
    BAND_ALPHA,
    FIT_COLOUR,
    LABELS,
    OKABE_ITO,
    RUN_CMAP,
    axes_or_new,
    figure_function,
    interval_label,
    log_axis,
    log_loss_axis,
    log_norm,
)


# ------------------------------------------------------------------------------------------------
# loss against compute (Kaplan Fig. 1, Hoffmann Fig. 2)
# ------------------------------------------------------------------------------------------------
@figure_function
def loss_vs_compute(runs: pd.DataFrame | str | Path | None = None, fit: FitResult | None = None,
                    envelope: Any = None, ax: Axes | None = None, level: float | None = None,
                    n_column: str | None = None,
                    c_range: tuple[float, float] | None = None) -> Figure:
    """Every run's loss (nats/token) against its training compute (FLOPs), coloured by N.

    Runs with several rows are drawn as curves, single-row runs as points; the colour bar is
    log N (parameters, ``n_column``, default the fit's N column).  ``fit``: a Chinchilla
    :class:`FitResult` draws its compute-optimal frontier L*(C) (C = 6ND) with its bootstrap
    band, an L(C) power law its curve, and the rows it dropped (its frontier filter) as
    crosses, counted apart; ``envelope``: an Approach-1 ``EnvelopeResult`` draws the envelope
    of the curves.  ``c_range`` (FLOPs) sets the frontier's span when there are no runs.

    With a Chinchilla fit (and no envelope) the runs are placed at the law's own compute,
    C = 6ND from the fit's N column, not at a ``flops`` column: the frontier L*(C) is a
    function of 6ND, and a flops column that counts embeddings and attention (3.6x 6ND for the
    demo's smallest models) would put every run to the right of where the law sees it.
    """
    if runs is None and fit is None and envelope is None:
        raise ScalingLabError("loss_vs_compute needs runs, a fit or an envelope to draw")
    own = ax is None
    fig, ax = axes_or_new(ax, figsize=(6.6, 5.0))
    spans: list[float] = []
    six_nd = runs_at_six_nd(fit, envelope)
    if runs is not None:
        spans += _draw_runs(fig, ax, _table(runs, "loss_vs_compute"), n_column or _n_column(fit),
                            dropped_rows(fit) if fit is not None else None, six_nd)
    if envelope is not None:
        env = envelope.envelope
        flops, loss = env["flops"].to_numpy(dtype=float), env["loss"].to_numpy(dtype=float)
        spans += [float(np.nanmin(flops)), float(np.nanmax(flops))]
        ax.plot(flops, loss, color=OKABE_ITO["vermillion"], lw=2.2, ls="--", zorder=4,
                label="Approach-1 envelope (lowest loss at each C)")
    if fit is not None:
        if c_range is not None:
            lo, hi = c_range
        elif spans:
            lo, hi = min(spans), max(spans)
        else:
            raise ScalingLabError("loss_vs_compute needs runs, an envelope or c_range to know "
                                  "the compute range of the fitted frontier")
        _draw_fit_curve(ax, fit, _geom_grid(lo, hi), _level(fit, level))
    log_axis(ax, "x")
    log_loss_axis(ax, "y")
    ax.autoscale_view()
    ax.set_xlabel(LABELS["C"] if not six_nd else "training compute C = 6ND (FLOPs)")
    ax.set_ylabel(LABELS["loss"])
    ax.set_title("Loss against training compute")
    _legend_below(fig, ax, own)
    return fig


def runs_at_six_nd(fit: FitResult | None, envelope: Any = None) -> bool:
    """Whether :func:`loss_vs_compute` places the runs at C = 6ND: it draws a Chinchilla
    frontier (a function of 6ND) and no Approach-1 envelope (whose compute is the table's)."""
    return envelope is None and fit is not None and isinstance(fit.law, Chinchilla)


def _draw_runs(fig: Figure, ax: Axes, frame: pd.DataFrame, ncol: str,
               dropped: pd.DataFrame | None, six_nd: bool = False) -> list[float]:
    """Curves (runs with several rows) and points, coloured by N; dropped rows as crosses.

    A table of compute and loss alone (a law in C) is drawn in one colour, without a colour
    bar.  ``six_nd``: place the runs at C = 6ND (N from ``ncol``) where the table has N and
    tokens, else at the fits' compute (a flops column first).  Returns the compute span drawn
    (FLOPs).
    """
    by_size = ncol in frame.columns or "flops" not in frame.columns
    n_values = (_column(frame, ncol, "loss_vs_compute (colour by N)") if by_size
                else np.ones(len(frame)))
    compute = (6.0 * n_values * frame["tokens"].to_numpy(dtype=float)
               if six_nd and ncol in frame.columns and "tokens" in frame.columns
               else _flops(frame, ncol))
    frame = frame.assign(_C=compute, _N=n_values).sort_values(["run_id", "_C"])
    norm, cmap, plain = log_norm(n_values), RUN_CMAP, OKABE_ITO["blue"]
    multi = frame.groupby("run_id", sort=False)["loss"].transform("size").to_numpy() >= 2
    curves = [g[["_C", "loss"]].to_numpy(dtype=float)
              for _, g in frame[multi].groupby("run_id", sort=False)]
    if curves:
        curve_n = frame[multi].groupby("run_id", sort=False)["_N"].first().to_numpy(float)
        colours = cmap(norm(curve_n)) if by_size else plain
        ax.add_collection(LineCollection(curves, colors=colours, linewidths=1.3,
                                         alpha=0.9, label=f"runs ({len(curves)} loss curves)"),
                          autolim=True)
    gone = (FitRows(frame.iloc[:0], dropped).is_dropped(frame) if dropped is not None
            else np.zeros(len(frame), dtype=bool))
    points = frame[~multi & ~gone]
    if len(points):
        colour = ({"c": points["_N"], "cmap": cmap, "norm": norm} if by_size
                  else {"color": plain})                    # the colour bar reads N's scale
        ax.scatter(points["_C"], points["loss"], s=20, alpha=0.9, edgecolors="none", zorder=2,
                   label=f"runs ({len(points)} final losses)", **colour)
    if gone.any():
        reason = dropped["reason"].iloc[0]
        ax.scatter(frame["_C"][gone], frame["loss"][gone], marker="x", s=34, linewidths=1.4,
                   color=OKABE_ITO["vermillion"], zorder=3,
                   label=f"dropped by the fit ({int(gone.sum())} rows): {reason}")
    if by_size:
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
        bar.set_label(LABELS["N"])
    return [float(frame["_C"].min()), float(frame["_C"].max())]


def _draw_fit_curve(ax: Axes, fit: FitResult, grid: np.ndarray, level: float) -> None:
    if isinstance(fit.law, Chinchilla):
        entry = fit.frontier(grid, level)["loss"]
        label = "fitted frontier L*(C) (optimal N, D; C = 6ND)"
    elif tuple(fit.law.variables) == ("C",):
        band = fit.predict_interval(level, C=grid) if fit.bootstrap_params is not None else {}
        entry = {"value": fit.predict(C=grid), **{k: band[k] for k in ("low", "high")
                                                  if k in band}}
        label = "fitted L(C)"
    else:
        raise ScalingLabError(f"loss_vs_compute draws the frontier of a Chinchilla L(N, D) or "
                              f"an L(C) law, not the {fit.law.name} law")
    value = np.asarray(entry["value"], dtype=float)
    ax.plot(grid, value, color=FIT_COLOUR, lw=2.4, label=label, zorder=5)
    band = _band(entry)
    if band is not None:
        ax.fill_between(grid, *band, color=FIT_COLOUR, alpha=BAND_ALPHA, lw=0, zorder=4,
                        label=f"{interval_label(level)} (bootstrap)")
