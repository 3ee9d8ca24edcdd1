"""Compute-optimal allocation (Hoffmann et al. 2022 Fig. 3 centre/right, with published laws)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.laws.forms import Chinchilla
from scalinglab.laws.presets import get_preset
from scalinglab.report.figures._common import (
    DEFAULT_PRESETS,
    _band,
    _flops,
    _geom_grid,
    _level,
    _n_column,
    _require_chinchilla,
    _table,
    law_frontier,
)
from scalinglab.report.style import (
    BAND_ALPHA,
    FIT_COLOUR,
    LABELS,
    OKABE_ITO,
    PRESET_COLOURS,
    axes_row,
    figure_function,
    fmt_si,
    interval_label,
    log_axis,
)
from scalinglab.results import PowerFrontier


# ------------------------------------------------------------------------------------------------
# compute-optimal allocation (Hoffmann Fig. 3 centre/right, with the published laws)
# ------------------------------------------------------------------------------------------------
@figure_function
def optimal_allocation(result: Any, target_compute: float | None = None,
                       presets: Sequence[str] = DEFAULT_PRESETS,
                       runs: pd.DataFrame | str | Path | None = None,
                       c_range: tuple[float, float] | None = None, axes: Any = None,
                       level: float | None = None) -> Figure:
    """N_opt(C) (parameters), D_opt(C) (tokens) and D/N against C (FLOPs), three panels.

    ``result``: a Chinchilla :class:`FitResult` or an Approach 1/2 result.  Solid where the data
    are, dashed where the law is extrapolated (up to ``target_compute``, marked by a vertical
    line, its values in the panel titles); bands are the bootstrap interval at ``level``.
    ``presets`` are overlaid as dotted lines (their frontier under C = 6ND; note that a preset's
    N may count different parameters than yours).  For ``kaplan2020`` that is the frontier of
    its joint L(N, D) (Eq. 1.5), N_opt ~ C^(alpha_D/(alpha_N+alpha_D)) = C^0.58; Kaplan's own
    N_opt ~ C^0.73 comes from the learning-curve fit L(N, S_min) (Sec. 6) and is not drawn.  The data's compute range comes from the
    result (budgets, envelope) or from ``runs``, or ``c_range`` (FLOPs).
    """
    if isinstance(result, FitResult):
        _require_chinchilla(result, "optimal_allocation")
        if not isinstance(result.law, Chinchilla):
            raise ScalingLabError("optimal_allocation needs a Chinchilla fit (closed-form frontier "
                                  "with bootstrap bands)")
    elif not isinstance(result, PowerFrontier):
        raise ScalingLabError(f"optimal_allocation needs a FitResult, IsoFlopResult or "
                              f"EnvelopeResult, got {type(result).__name__}")
    level = _level(result, level)
    lo, hi, points = _data_range(result, runs, c_range)
    top = max(hi, target_compute or hi) * 1.5
    grid = _geom_grid(lo / 1.5, top, 240)
    frontier = result.frontier(grid, level)
    fig, panels = axes_row(axes, 3, figsize=(13.0, 4.6))
    keys = (("N_opt", "N"), ("D_opt", "D"), ("tokens_per_param", "tokens_per_param"))
    inside = grid <= hi * 1.0001
    for ax, (key, label) in zip(panels, keys, strict=True):
        entry = frontier[key]
        value = np.asarray(entry["value"], dtype=float) * np.ones_like(grid)
        ax.plot(grid[inside], value[inside], color=FIT_COLOUR, lw=2.4,
                label="this fit (within the data)")
        if (~inside).any():
            ax.plot(grid[~inside | np.roll(~inside, -1)], value[~inside | np.roll(~inside, -1)],
                    color=FIT_COLOUR, lw=2.0, ls="--", label="this fit, extrapolated")
        band = _band(entry)
        if band is not None:
            ax.fill_between(grid, *band, color=FIT_COLOUR, alpha=BAND_ALPHA, lw=0,
                            label=f"{interval_label(level)} (bootstrap)")
        if points is not None and key in points:
            ax.scatter(points["C"], points[key], s=26, color=OKABE_ITO["sky"],
                       edgecolors=FIT_COLOUR, linewidths=0.6, zorder=5, label=points["label"])
        for j, name in enumerate(presets):
            preset = get_preset(name)
            ref = law_frontier(preset.law, grid)
            ax.plot(grid, ref[key], color=PRESET_COLOURS[j % len(PRESET_COLOURS)], lw=1.8, ls=":",
                    label=f"{preset.name} (published; N = {preset.n_convention})")
        if target_compute is not None:
            ax.axvline(target_compute, color="0.35", lw=1.0, ls="-.",
                       label=f"target C = {fmt_si(target_compute)} FLOPs")
            ax.set_title(_target_title(result, key, target_compute, level), fontsize=10.5)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel(LABELS["C"])
        ax.set_ylabel({"N": "compute-optimal N_opt (parameters)",
                       "D": "compute-optimal D_opt (tokens)",
                       "tokens_per_param": LABELS["tokens_per_param"]}[label])
    handles, labels = panels[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)),
               frameon=False)
    return fig


def _data_range(result: Any, runs: Any, c_range: tuple[float, float] | None
                ) -> tuple[float, float, dict[str, Any] | None]:
    """Compute span of the data (FLOPs) and the per-budget/envelope points to draw, if any."""
    points = None
    if hasattr(result, "budgets"):
        b = result.budgets[result.budgets["used"].astype(bool)]
        points = {"C": b["flops"].to_numpy(float), "N_opt": b["n_opt"].to_numpy(float),
                  "D_opt": b["d_opt"].to_numpy(float), "label": "IsoFLOP minima (Approach 2)"}
    elif hasattr(result, "envelope"):
        e = result.envelope[result.envelope["used"].astype(bool)]
        points = {"C": e["flops"].to_numpy(float), "N_opt": e["n_opt"].to_numpy(float),
                  "D_opt": e["d_opt"].to_numpy(float), "label": "envelope winners (Approach 1)"}
    if points is not None:
        points["tokens_per_param"] = points["D_opt"] / points["N_opt"]
    if c_range is not None:
        return float(c_range[0]), float(c_range[1]), points
    if points is not None and len(points["C"]):
        return float(points["C"].min()), float(points["C"].max()), points
    if runs is not None:
        frame = _table(runs, "optimal_allocation")
        flops = _flops(frame, _n_column(result))
        return float(flops.min()), float(flops.max()), points
    raise ScalingLabError("optimal_allocation needs runs= or c_range= (FLOPs) to know the "
                          "compute range of the data behind this fit")


def _target_title(result: Any, key: str, target: float, level: float) -> str:
    entry = result.frontier(target, level)[key]
    text = f"{fmt_si(float(entry['value']))}"
    band = _band(entry)
    if band is not None:
        text += f" [{fmt_si(float(band[0]))}, {fmt_si(float(band[1]))}]"
    name = {"N_opt": "N_opt", "D_opt": "D_opt", "tokens_per_param": "D/N"}[key]
    return f"{name} at {fmt_si(target)} FLOPs: {text}"
