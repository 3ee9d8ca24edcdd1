"""IsoFLOP profiles (Hoffmann et al. 2022 Fig. 3, left)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.fit.isoflop import weighted_polyfit
from scalinglab.fit.rows import select_rows
from scalinglab.report.figures._common import (
    _column,
    _flops,
    _legend_below,
    _table,
)
from scalinglab.report.style import (
    FIT_COLOUR,
    LABELS,
    PALETTE,
    RUN_CMAP,
    axes_or_new,
    figure_function,
    fmt_si,
    log_axis,
    log_norm,
)

#: budgets named one by one in the legend; more get a colour bar of C instead
MAX_BUDGETS_IN_LEGEND = 7
#: matplotlib gid prefix of the scatters of a budget's runs (an SVG id: one per budget)
RUNS_GID = "isoflop-runs"


# ------------------------------------------------------------------------------------------------
# IsoFLOP profiles (Hoffmann Fig. 3, left)
# ------------------------------------------------------------------------------------------------
@figure_function
def isoflop_profiles(result: Any, runs: pd.DataFrame | str | Path | None = None,
                     ax: Axes | None = None) -> Figure:
    """Loss (nats/token) against N (parameters) per compute budget, with profiles and minima.

    ``result`` is an Approach-2 ``IsoFlopResult``.  With ``runs`` (the table it was fitted on)
    each budget's runs are drawn with the profile refitted to them exactly as the fit did
    (cubic or parabola in log10 N, the same rows, tolerance and window); without, only the
    minima.  Filled diamonds: minima that fed the exponent fit; open ones: extrapolated or
    unused minima.
    """
    budgets = getattr(result, "budgets", None)
    if budgets is None or len(budgets) == 0:
        raise ScalingLabError("isoflop_profiles needs an IsoFlopResult (Approach 2) with budgets")
    own = ax is None
    fig, ax = axes_or_new(ax, figsize=(9.2, 4.8))
    flops = budgets["flops"].to_numpy(dtype=float)
    colours = _budget_colours(flops)
    per_budget_legend = len(flops) <= MAX_BUDGETS_IN_LEGEND
    settings = getattr(result, "settings", {}) or {}
    members = _budget_members(result, runs, settings) if runs is not None else {}
    for k, row in enumerate(budgets.itertuples()):
        label = f"C = {fmt_si(row.flops)} FLOPs" if per_budget_legend else None
        group = members.get(k)
        if group is not None and len(group):
            _draw_profile(ax, group, row, colours[k], label, f"{RUNS_GID}-{k}")
            label = None
        if np.isfinite(row.n_opt):
            used = bool(row.used) and not bool(row.extrapolated)
            ax.scatter([row.n_opt], [row.loss_opt], marker="D", s=60, zorder=5,
                       facecolors=colours[k] if used else "white", edgecolors=FIT_COLOUR,
                       linewidths=1.2, label=label)
    if not per_budget_legend:  # a colour bar of the budgets instead of one entry each
        bar = fig.colorbar(ScalarMappable(norm=log_norm(flops), cmap=RUN_CMAP), ax=ax, pad=0.02)
        bar.set_label("compute budget C (FLOPs)")
        if members:
            ax.scatter([], [], s=24, color="0.45", label="runs of one budget (colour: C)")
    # legend proxies for the minimum markers
    ax.scatter([], [], marker="D", s=60, facecolors="white", edgecolors=FIT_COLOUR,
               label="profile minimum (N_opt); open: extrapolated or unused")
    log_axis(ax, "x")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["loss"])
    ax.set_title(f"IsoFLOP profiles ({settings.get('profile', 'cubic')} in log N)")
    if not own:
        ax.legend(loc="best")
    elif per_budget_legend:  # beside the axes: profiles fill the plot area corner to corner
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        _legend_below(fig, ax, own)
    return fig


def _draw_profile(ax: Axes, group: pd.DataFrame, row: Any, colour: Any, label: str | None,
                  gid: str) -> None:
    """One budget's runs and its profile, refitted exactly as the fit did (cubic or parabola
    in log10 N over the same rows)."""
    n, loss = group["n_params"].to_numpy(float), group["loss"].to_numpy(float)
    ax.scatter(n, loss, color=colour, s=24, alpha=0.85, edgecolors="none", zorder=3,
               label=label, gid=gid)
    degree = 3 if row.method == "cubic" else 2
    x = np.log10(n)
    centre = float(x.mean())
    coef = weighted_polyfit(x - centre, loss, np.ones((1, x.size)), degree)[0]
    if np.all(np.isfinite(coef)):
        xs = np.linspace(x.min() - 0.1, x.max() + 0.1, 120) - centre
        ax.plot(10 ** (xs + centre), np.polyval(coef[::-1], xs), color=colour, lw=1.6,
                zorder=2)


def _budget_colours(flops: np.ndarray) -> list[Any]:
    """The palette for a few budgets; beyond it, the run colour map on log C (as the bar)."""
    if len(flops) <= MAX_BUDGETS_IN_LEGEND:
        return list(PALETTE[:len(flops)])
    return [RUN_CMAP(v) for v in log_norm(flops)(flops)]


def _budget_members(result: Any, runs: Any, settings: dict[str, Any]) -> dict[int, pd.DataFrame]:
    """The rows each budget's profile was fitted on (same selection as ``fit_isoflop``)."""
    frame = _table(runs, "isoflop_profiles")
    _column(frame, "n_params", "isoflop_profiles")
    if settings.get("rows", "final") == "final":
        frame = select_rows(frame)
    logc = np.log10(_flops(frame))
    centres = np.log10(result.budgets["flops"].to_numpy(dtype=float))
    tolerance = float(settings.get("tolerance_dex", 0.05))
    distance = np.abs(logc[:, None] - centres[None, :])
    nearest = np.argmin(distance, axis=1)
    label = np.where(distance[np.arange(len(nearest)), nearest] <= tolerance + 1e-12, nearest, -1)
    window = settings.get("window_dex")
    out = {}
    for k in range(len(centres)):
        group = frame[label == k]
        if window is not None and len(group):
            log_n = np.log10(group["n_params"].to_numpy(dtype=float))
            best = log_n[int(np.argmin(group["loss"].to_numpy(dtype=float)))]
            group = group[np.abs(log_n - best) <= float(window) + 1e-12]
        out[k] = group
    return out
