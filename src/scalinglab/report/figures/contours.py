"""Contours of the fitted loss over (N, D) (Hoffmann et al. 2022 Fig. 4, left)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.report.figures._common import (
    _column,
    _legend_below,
    _n_column,
    _require_chinchilla,
    fitted_rows,
    law_frontier,
)
from scalinglab.report.style import (
    CMAP,
    FIT_COLOUR,
    LABELS,
    OKABE_ITO,
    axes_or_new,
    figure_function,
    log_axis,
)


# ------------------------------------------------------------------------------------------------
# loss contours over (N, D) (Hoffmann Fig. 4, left)
# ------------------------------------------------------------------------------------------------
@figure_function
def loss_contours(fit_result: FitResult, runs: pd.DataFrame | str | Path | None = None,
                  ax: Axes | None = None, plane: str = "ND",
                  n_range: tuple[float, float] | None = None,
                  d_range: tuple[float, float] | None = None, n_levels: int = 14) -> Figure:
    """Contours of the fitted L (nats/token) over N (parameters) and D (tokens), log axes.

    ``plane="NC"`` puts compute C = 6ND (FLOPs) on x and N on y, as Hoffmann Fig. 4 does.
    The rows the fit used (``fit_result.rows``; a version-1 fit: re-selected from ``runs``) are
    points filled with their measured loss on the contours' colour scale;
    the efficient frontier (N_opt, D_opt for each C) is the line; dashed lines are iso-FLOP
    lines (C = 6ND).  Ranges come from the runs (0.3 decades of margin) or ``n_range``/
    ``d_range``; without either, from the frontier between 1e18 and 1e24 FLOPs.
    """
    _require_chinchilla(fit_result, "loss_contours")
    if plane not in ("ND", "NC"):
        raise ScalingLabError(f"plane must be 'ND' or 'NC', not {plane!r}")
    own = ax is None
    fig, ax = axes_or_new(ax, figsize=(6.8, 5.6))
    ncol = _n_column(fit_result)
    dcol = fit_result.columns.get("D", "tokens")
    frame = None
    if runs is not None or fit_result.rows is not None:
        frame = fitted_rows(fit_result, runs)
        n_pts, d_pts = _column(frame, ncol, "loss_contours"), _column(frame, dcol, "loss_contours")
        n_range = n_range or (n_pts.min() / 2, n_pts.max() * 2)
        d_range = d_range or (d_pts.min() / 2, d_pts.max() * 2)
    if n_range is None or d_range is None:
        ref = law_frontier(fit_result.law, np.array([1e18, 1e24]))
        n_range = n_range or (ref["N_opt"][0] / 10, ref["N_opt"][1] * 10)
        d_range = d_range or (ref["D_opt"][0] / 10, ref["D_opt"][1] * 10)
    N = np.geomspace(*n_range, 220)
    D = np.geomspace(*d_range, 220)
    NN, DD = np.meshgrid(N, D)
    L = np.asarray(fit_result.predict(N=NN, D=DD), dtype=float)
    if frame is not None:
        lo_l = min(float(L.min()), float(frame["loss"].min()))
    else:
        lo_l = float(L.min())
    hi_l = float(np.quantile(L, 0.92))
    levels = np.geomspace(lo_l, hi_l, n_levels)
    norm = Normalize(vmin=lo_l, vmax=hi_l)
    cmap = colormaps[CMAP]
    X, Y = (NN, DD) if plane == "ND" else (6.0 * NN * DD, NN)
    filled = ax.contourf(X, Y, L, levels=levels, cmap=cmap, norm=norm, extend="max")
    ax.contour(X, Y, L, levels=levels, colors="white", linewidths=0.5, alpha=0.6)
    bar = fig.colorbar(filled, ax=ax, pad=0.02)
    bar.set_ticks([t for t in MaxNLocator(6).tick_values(lo_l, hi_l) if lo_l <= t <= hi_l])
    bar.set_label("loss (nats/token): contours fitted, runs measured")
    c_lo, c_hi = 6 * N.min() * D.min(), 6 * N.max() * D.max()
    _iso_flop_lines(ax, N, D, plane)
    front = law_frontier(fit_result.law, np.geomspace(c_lo, c_hi, 200))
    ok = ((front["N_opt"] >= N.min()) & (front["N_opt"] <= N.max())
          & (front["D_opt"] >= D.min()) & (front["D_opt"] <= D.max()))
    fx = front["N_opt"][ok] if plane == "ND" else 6 * front["N_opt"][ok] * front["D_opt"][ok]
    fy = front["D_opt"][ok] if plane == "ND" else front["N_opt"][ok]
    ax.plot(fx, fy, color=OKABE_ITO["vermillion"], lw=2.6, label="efficient frontier N_opt, D_opt")
    if frame is not None:
        px = n_pts if plane == "ND" else 6 * n_pts * d_pts
        py = d_pts if plane == "ND" else n_pts
        ax.scatter(px, py, c=frame["loss"].to_numpy(float), cmap=cmap, norm=norm, s=30,
                   edgecolors=FIT_COLOUR, linewidths=0.6, zorder=5,
                   label=f"fitted runs ({len(frame)}), filled with their measured loss")
    log_axis(ax, "x")
    log_axis(ax, "y")
    if plane == "ND":
        ax.set_xlabel(LABELS["N"])
        ax.set_ylabel(LABELS["D"])
        ax.set_xlim(N.min(), N.max())
        ax.set_ylim(D.min(), D.max())
    else:
        ax.set_xlabel("training compute C = 6ND (FLOPs)")
        ax.set_ylabel(LABELS["N"])
    ax.grid(False)
    ax.set_title("Fitted loss over model size and data")
    _legend_below(fig, ax, own)
    return fig


def _iso_flop_lines(ax: Axes, N: np.ndarray, D: np.ndarray, plane: str) -> None:
    """Dashed lines of constant C = 6ND (FLOPs), every 100x, across the drawn (N, D) range."""
    c_lo, c_hi = 6 * N.min() * D.min(), 6 * N.max() * D.max()
    iso_label = "iso-FLOP lines, every 100x (C = 6ND)"
    for c in 10.0 ** np.arange(np.ceil(np.log10(c_lo)), np.log10(c_hi) + 1e-9, 2):
        n_line = N[(c / (6 * N) >= D.min()) & (c / (6 * N) <= D.max())]
        if n_line.size < 2:
            continue
        xy = (n_line, c / (6 * n_line)) if plane == "ND" else (np.full(2, c), n_line[[0, -1]])
        ax.plot(*xy, color="0.82", lw=0.9, ls="--", label=iso_label)
        iso_label = None
