"""The figures of the scaling-law literature, drawn for your own runs and fits.

Every function takes a result (or a run table), optionally the matplotlib ``Axes`` to draw on
(``ax=None``: a new figure), and returns the ``Figure``.  Units are on every axis: loss in
nats/token, compute C in FLOPs, N in parameters, D in tokens; compute, N and D are on log
axes, as in the papers.  Which picture each one is:

* :func:`loss_vs_compute` -- Kaplan et al. 2020 Fig. 1 / Hoffmann et al. 2022 Fig. 2;
* :func:`isoflop_profiles` -- Hoffmann Fig. 3 (left);
* :func:`optimal_allocation` -- Hoffmann Fig. 3 (centre, right) and Fig. 1's published laws;
* :func:`loss_contours` -- Hoffmann Fig. 4 (left);
* :func:`prediction_vs_measurement` -- OpenAI 2023 (GPT-4 technical report) Fig. 1;
* :func:`residuals`, :func:`backtest`, :func:`budget_curve` -- diagnostics and the planner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.isoflop import weighted_polyfit
from scalinglab.fit.result import FitResult
from scalinglab.fit.rows import select_rows
from scalinglab.laws.base import VARIABLE_COLUMNS, Law
from scalinglab.laws.forms import Chinchilla
from scalinglab.laws.presets import get_preset
from scalinglab.records import load_runs
from scalinglab.report.style import (
    BAND_ALPHA,
    CMAP,
    FIT_COLOUR,
    LABELS,
    MEASURED_COLOUR,
    OKABE_ITO,
    PALETTE,
    PREDICTION_COLOUR,
    PRESET_COLOURS,
    RUN_CMAP,
    axes_or_new,
    axes_row,
    figure_function,
    fmt_si,
    interval_label,
    log_axis,
    log_loss_axis,
    log_norm,
)
from scalinglab.results import PowerFrontier

DEFAULT_PRESETS = ("hoffmann2022", "besiroglu2024", "kaplan2020")
#: smallest error drawn on the backtest's log axis (%).
ARE_FLOOR_PERCENT = 0.01


# ------------------------------------------------------------------------------------------------
# reading inputs
# ------------------------------------------------------------------------------------------------
def _table(runs: pd.DataFrame | str | Path, what: str) -> pd.DataFrame:
    """A run table with canonical columns (a path is read, a DataFrame copied and checked)."""
    if runs is None:
        raise ScalingLabError(f"{what} needs a run table")
    frame = load_runs(runs, require=("loss",))
    if "run_id" not in frame.columns:
        frame["run_id"] = [f"run{i}" for i in range(len(frame))]
    return frame


def _flops(frame: pd.DataFrame, n_column: str = "n_params") -> np.ndarray:
    """Training compute per row (FLOPs): the flops column, else Kaplan's 6 N D."""
    if "flops" in frame.columns:
        return frame["flops"].to_numpy(dtype=float)
    if {n_column, "tokens"} <= set(frame.columns):
        return 6.0 * frame[n_column].to_numpy(dtype=float) * frame["tokens"].to_numpy(dtype=float)
    raise ScalingLabError("the run table needs a flops column (or n_params and tokens for "
                          "C = 6ND)")


def _column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in frame.columns:
        raise ScalingLabError(f"{what} needs column {name!r}; the table has "
                              f"{', '.join(map(str, frame.columns))}")
    return frame[name].to_numpy(dtype=float)


def _n_column(fit: FitResult | None, default: str = "n_params") -> str:
    return fit.columns.get("N", default) if isinstance(fit, FitResult) else default


def _level(result: Any, level: float | None) -> float:
    return float(level if level is not None else getattr(result, "level", 0.9))


def _band(entry: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    if "low" not in entry or "high" not in entry:
        return None
    low, high = np.asarray(entry["low"], dtype=float), np.asarray(entry["high"], dtype=float)
    if not (np.isfinite(low).any() and np.isfinite(high).any()):
        return None
    return low, high


def _require_chinchilla(fit: FitResult, what: str) -> None:
    if not isinstance(fit, FitResult):
        raise ScalingLabError(f"{what} needs a FitResult, got {type(fit).__name__}")
    if not {"N", "D"} <= set(fit.law.variables):
        raise ScalingLabError(f"{what} needs a law of N and D (e.g. chinchilla), not the "
                              f"{fit.law.name} law of {', '.join(fit.law.variables)}")


def law_frontier(law: Law, C: np.ndarray) -> dict[str, np.ndarray]:
    """Compute-optimal N (parameters), D (tokens) and loss of any L(N, D) law under C = 6ND.

    Closed form for the Chinchilla form (Hoffmann et al. 2022, App. D.2); otherwise L is
    minimised numerically over tokens per parameter r = D/N in [1e-3, 1e5] on a log grid
    (801 points, 0.01 decades apart) refined by a parabola through the three best points, so
    N_opt is exact to well under 1%.  NaN where the minimum sits at the edge of that range.
    """
    C = np.atleast_1d(np.asarray(C, dtype=float))
    if isinstance(law, Chinchilla):
        f = law.frontier(C)
        return {k: np.atleast_1d(np.asarray(f[k], dtype=float))
                for k in ("N_opt", "D_opt", "tokens_per_param", "loss")}
    if not {"N", "D"} <= set(law.variables):
        raise ScalingLabError(f"the {law.name} law is not a law of N and D: no frontier")
    log_r = np.linspace(-3.0, 5.0, 801)
    N = np.sqrt(C[:, None] / (6.0 * 10.0 ** log_r[None, :]))
    D = N * 10.0 ** log_r[None, :]
    loss = np.log(np.asarray(law.predict(N=N, D=D), dtype=float))
    best = np.argmin(loss, axis=1)
    inner = (best > 0) & (best < log_r.size - 1)
    b = np.clip(best, 1, log_r.size - 2)
    rows = np.arange(C.size)
    y0, y1, y2 = loss[rows, b - 1], loss[rows, b], loss[rows, b + 1]
    curvature = y0 - 2 * y1 + y2
    step = log_r[1] - log_r[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature > 0, 0.5 * (y0 - y2) / curvature, 0.0)
    r = 10.0 ** np.where(inner, log_r[b] + np.clip(shift, -1, 1) * step, np.nan)
    n_opt = np.sqrt(C / (6.0 * r))
    d_opt = n_opt * r
    return {"N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": r,
            "loss": np.asarray(law.predict(N=np.nan_to_num(n_opt, nan=1.0),
                                           D=np.nan_to_num(d_opt, nan=1.0)), dtype=float)
            * np.where(inner, 1.0, np.nan)}


def fitted_rows(fit: FitResult, runs: pd.DataFrame | str | Path) -> pd.DataFrame:
    """The rows ``fit`` was fitted on, in record columns (run_id, N's column, tokens, flops, loss).

    Read from ``fit.rows`` (the rows the fit used); a fit read from a version-1 file carries no
    rows, and then its row selection is re-applied to ``runs`` by the fitter's ``prepare_runs``.
    """
    if fit.rows is not None:
        used = fit.rows[fit.rows["used"].astype(bool)]
        return pd.DataFrame({"run_id": used["run_id"].to_numpy(),
                             fit.columns.get("N", "n_params"): used["N"].to_numpy(),
                             "tokens": used["D"].to_numpy(), "flops": used["C"].to_numpy(),
                             "loss": used["loss"].to_numpy()})
    from scalinglab.fit.rows import prepare_runs  # noqa: PLC0415

    return prepare_runs(_table(runs, "the fit's rows"), fit.law, fit.settings)[0]


def _geom_grid(lo: float, hi: float, n: int = 200) -> np.ndarray:
    return np.geomspace(lo, hi, n)


def _legend_below(fig: Figure, ax: Axes, own: bool, ncol: int = 2) -> None:
    """Legend under the axes when the figure is ours (nothing hidden); else the best corner."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if own:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)
    else:
        ax.legend(loc="best")


def _legend(ax: Axes, **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kw)


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
    band, an L(C) power law its curve; ``envelope``: an Approach-1 ``EnvelopeResult`` draws the
    envelope of the curves.  ``c_range`` (FLOPs) sets the frontier's span when there are no runs.
    """
    if runs is None and fit is None and envelope is None:
        raise ScalingLabError("loss_vs_compute needs runs, a fit or an envelope to draw")
    own = ax is None
    fig, ax = axes_or_new(ax, figsize=(6.6, 5.0))
    spans: list[float] = []
    if runs is not None:
        frame = _table(runs, "loss_vs_compute")
        ncol = n_column or _n_column(fit)
        n_values = _column(frame, ncol, "loss_vs_compute (colour by N)")
        frame = frame.assign(_C=_flops(frame, ncol), _N=n_values).sort_values(["run_id", "_C"])
        spans += [float(frame["_C"].min()), float(frame["_C"].max())]
        norm, cmap = log_norm(n_values), RUN_CMAP
        curves, curve_n, points = [], [], []
        for _, group in frame.groupby("run_id", sort=False):
            if len(group) >= 2:
                curves.append(group[["_C", "loss"]].to_numpy(dtype=float))
                curve_n.append(float(group["_N"].iloc[0]))
            else:
                points.append(group[["_C", "loss", "_N"]].to_numpy(dtype=float)[0])
        if curves:
            lines = LineCollection(curves, colors=cmap(norm(np.asarray(curve_n))),
                                   linewidths=1.3, alpha=0.9,
                                   label=f"runs ({len(curves)} loss curves)")
            ax.add_collection(lines, autolim=True)
        if points:
            p = np.asarray(points)
            ax.scatter(p[:, 0], p[:, 1], c=p[:, 2], cmap=cmap, norm=norm, s=20, alpha=0.9,
                       edgecolors="none", label=f"runs ({len(points)} final losses)", zorder=2)
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
        bar.set_label(LABELS["N"])
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
    ax.set_xlabel(LABELS["C"])
    ax.set_ylabel(LABELS["loss"])
    ax.set_title("Loss against training compute")
    _legend_below(fig, ax, own)
    return fig


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
    colours = _budget_colours(len(flops))
    settings = getattr(result, "settings", {}) or {}
    members = _budget_members(result, runs, settings) if runs is not None else {}
    for k, row in enumerate(budgets.itertuples()):
        colour = colours[k]
        label = f"C = {fmt_si(row.flops)} FLOPs"
        group = members.get(k)
        if group is not None and len(group):
            n, loss = group["n_params"].to_numpy(float), group["loss"].to_numpy(float)
            ax.scatter(n, loss, color=colour, s=24, alpha=0.85, edgecolors="none", zorder=3,
                       label=label)
            degree = 3 if row.method == "cubic" else 2
            x = np.log10(n)
            centre = float(x.mean())
            coef = weighted_polyfit(x - centre, loss, np.ones((1, x.size)), degree)[0]
            if np.all(np.isfinite(coef)):
                xs = np.linspace(x.min() - 0.1, x.max() + 0.1, 120) - centre
                ax.plot(10 ** (xs + centre), np.polyval(coef[::-1], xs), color=colour, lw=1.6,
                        zorder=2)
            label = None
        if np.isfinite(row.n_opt):
            used = bool(row.used) and not bool(row.extrapolated)
            ax.scatter([row.n_opt], [row.loss_opt], marker="D", s=60, zorder=5,
                       facecolors=colour if used else "white", edgecolors=FIT_COLOUR,
                       linewidths=1.2, label=label)
    # legend proxies for the minimum markers
    ax.scatter([], [], marker="D", s=60, facecolors="white", edgecolors=FIT_COLOUR,
               label="profile minimum (N_opt); open: extrapolated or unused")
    log_axis(ax, "x")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["loss"])
    ax.set_title(f"IsoFLOP profiles ({settings.get('profile', 'cubic')} in log N)")
    if own:  # beside the axes: profiles fill the plot area from corner to corner
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(loc="best")
    return fig


def _budget_colours(n: int) -> list[Any]:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [RUN_CMAP(v) for v in np.linspace(0.0, 1.0, n)]


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
    Runs are points coloured by their measured loss on the same colour scale as the contours;
    the efficient frontier (N_opt, D_opt for each C) is the line; dashed lines are iso-FLOP
    lines (C = 6ND).  Ranges come from the runs (0.3 decades of margin) or ``n_range``/
    ``d_range``; without either, from the frontier between 1e18 and 1e24 FLOPs.
    """
    _require_chinchilla(fit_result, "loss_contours")
    if plane not in ("ND", "NC"):
        raise ScalingLabError(f"plane must be 'ND' or 'NC', not {plane!r}")
    fig, ax = axes_or_new(ax, figsize=(6.8, 5.0))
    ncol = _n_column(fit_result)
    dcol = fit_result.columns.get("D", "tokens")
    frame = None
    if runs is not None:
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
    bar.set_label("fitted loss L(N, D) (nats/token)")
    c_lo, c_hi = 6 * N.min() * D.min(), 6 * N.max() * D.max()
    iso_label = "iso-FLOP lines, every 100x (C = 6ND)"
    for c in 10.0 ** np.arange(np.ceil(np.log10(c_lo)), np.log10(c_hi) + 1e-9, 2):
        n_line = N[(c / (6 * N) >= D.min()) & (c / (6 * N) <= D.max())]
        if n_line.size < 2:
            continue
        xy = (n_line, c / (6 * n_line)) if plane == "ND" else (np.full(2, c), n_line[[0, -1]])
        ax.plot(*xy, color="0.82", lw=0.9, ls="--", label=iso_label)
        iso_label = None
    front = law_frontier(fit_result.law, np.geomspace(c_lo, c_hi, 200))
    ok = ((front["N_opt"] >= N.min()) & (front["N_opt"] <= N.max())
          & (front["D_opt"] >= D.min()) & (front["D_opt"] <= D.max()))
    fx = front["N_opt"][ok] if plane == "ND" else 6 * front["N_opt"][ok] * front["D_opt"][ok]
    fy = front["D_opt"][ok] if plane == "ND" else front["N_opt"][ok]
    ax.plot(fx, fy, color=OKABE_ITO["vermillion"], lw=2.6, label="efficient frontier N_opt, D_opt")
    if frame is not None:
        px = n_pts if plane == "ND" else 6 * n_pts * d_pts
        py = d_pts if plane == "ND" else n_pts
        ax.scatter(px, py, c=frame["loss"].to_numpy(float), cmap=cmap, norm=norm, s=26,
                   edgecolors="white", linewidths=0.7, zorder=5,
                   label=f"runs ({len(frame)}), coloured by measured loss")
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
    _legend(ax, loc="upper left", framealpha=0.9, fontsize=9)
    return fig


# ------------------------------------------------------------------------------------------------
# the prediction made before training, and what was measured (GPT-4 report Fig. 1)
# ------------------------------------------------------------------------------------------------
@figure_function
def prediction_vs_measurement(fit_result: FitResult, sweep_runs: pd.DataFrame | str | Path,
                              prediction: Mapping[str, Any] | str | Path,
                              measured: float | None = None, ax: Axes | None = None,
                              level: float | None = None,
                              interval_kw: Mapping[str, Any] | None = None) -> Figure:
    """The sweep, the law extrapolated to the validation run, its prediction and measurement.

    ``prediction``: the demo's ``prediction.json`` (or its dict): loss, low, high, level (the
    interval), tokens, flops and n_params / n_params_total of the validation run.  The law is
    drawn along the validation run's direction -- N and D both scaled by sqrt(C / C_val), so
    tokens per parameter stay those of the validation run and the curve passes through it --
    with its interval (``interval_kw`` goes to ``FitResult.predict_interval``).  x: compute C
    (FLOPs); y: loss (nats/token).  The shaded region is beyond the largest sweep point.
    """
    _require_chinchilla(fit_result, "prediction_vs_measurement")
    if not isinstance(prediction, Mapping):
        import json
        path = Path(prediction)
        if not path.is_file():
            raise ScalingLabError(f"prediction file {str(path)!r} does not exist")
        prediction = json.loads(path.read_text())
    ncol = _n_column(fit_result)
    try:
        n_val = float(prediction.get(ncol, prediction.get("N")))
        d_val = float(prediction["tokens"])
        point = float(prediction["loss"])
    except (KeyError, TypeError) as exc:
        raise ScalingLabError(f"the prediction lacks {exc} (needs loss, tokens and {ncol})") \
            from None
    c_val = float(prediction.get("flops") or 6.0 * n_val * d_val)
    level = float(prediction.get("level", _level(fit_result, level)))
    frame = select_rows(_table(sweep_runs, "prediction_vs_measurement"))
    flops = _flops(frame, ncol)
    own = ax is None
    fig, ax = axes_or_new(ax, figsize=(7.0, 6.4))
    grid = _geom_grid(flops.min() / 1.5, c_val * 2.5, 200)
    scale = np.sqrt(grid / c_val)
    N, D = n_val * scale, d_val * scale
    law = np.asarray(fit_result.predict(N=N, D=D), dtype=float)
    ax.axvspan(flops.max(), grid.max(), color="0.5", alpha=0.08, lw=0,
               label="beyond the largest sweep run")
    ax.scatter(flops, frame["loss"].to_numpy(float), s=30, color=OKABE_ITO["blue"], alpha=0.85,
               edgecolors="white", linewidths=0.5, zorder=3,
               label=f"sweep runs ({len(frame)}), fitted")
    ax.plot(grid, law, color=FIT_COLOUR, lw=2.2, zorder=4,
            label=f"fitted law at the validation run's D/N = {d_val / n_val:.3g} tokens/param")
    kw = dict(interval_kw or {})
    if "kind" not in kw and prediction.get("kind") is not None:
        kw["kind"] = prediction["kind"]  # the band means what the prediction's interval means
    interval = _law_interval(fit_result, level, N, D, kw)
    band = _band(interval)
    if band is not None:
        meaning = {"run": "for a run (parameters + scatter + extrapolation)",
                   "law": "of the law (parameters only)"}.get(interval.get("kind"),
                                                                   "(bootstrap)")
        ax.fill_between(grid, *band, color=FIT_COLOUR, alpha=BAND_ALPHA, lw=0, zorder=2,
                        label=f"{interval_label(level)} {meaning}")
    low, high = prediction.get("low"), prediction.get("high")
    has_interval = low is not None and high is not None and np.isfinite([low, high]).all()
    yerr = [[point - float(low)], [float(high) - point]] if has_interval else None
    ax.errorbar([c_val], [point], yerr=yerr, fmt="o", ms=8, color=PREDICTION_COLOUR,
                mec=FIT_COLOUR, capsize=6, elinewidth=2, zorder=6,
                label=f"predicted before training: {point:.4f}"
                + (f" [{float(low):.4f}, {float(high):.4f}]" if has_interval else ""))
    if measured is None:
        measured = prediction.get("measured_loss")
    if measured is not None and np.isfinite(measured):
        error = (point - float(measured)) / float(measured)
        ax.scatter([c_val], [float(measured)], marker="*", s=260, color=MEASURED_COLOUR,
                   edgecolors=FIT_COLOUR, linewidths=0.8, zorder=7,
                   label=f"measured: {float(measured):.4f} (prediction error {error:+.2%})")
    log_axis(ax, "x")
    log_loss_axis(ax, "y")
    ax.set_xlim(grid.min(), grid.max())
    ax.set_xlabel(LABELS["C"])
    ax.set_ylabel(LABELS["loss"])
    ax.set_title(f"Prediction at {c_val / flops.max():.3g}x the largest sweep run")
    _legend_below(fig, ax, own, ncol=1)
    return fig


def _law_interval(fit: FitResult, level: float, N: np.ndarray, D: np.ndarray,
                  kw: dict[str, Any]) -> dict[str, Any]:
    """``fit.predict_interval`` along the curve; {} when the fit can give no interval.

    A fit without the calibration a run-level interval needs falls back to the law's
    (bootstrap) interval, and the legend says which one is drawn.
    """
    try:
        return fit.predict_interval(level, N=N, D=D, **kw)
    except FitError:
        if fit.bootstrap_params is None:
            return {}
        return fit.predict_interval(level, N=N, D=D, kind="law")


# ------------------------------------------------------------------------------------------------
# residuals, backtest, budget
# ------------------------------------------------------------------------------------------------
@figure_function
def residuals(fit_result: FitResult, runs: pd.DataFrame | str | Path,
              axes: Any = None) -> Figure:
    """Residuals ln L̂ − ln L of the fitted rows against N (parameters) and D (tokens).

    A FitResult does not carry its rows, so pass the table it was fitted on (``runs``; the
    fit's own row selection is re-applied by :func:`fitted_rows`).  Dots: rows; line: median in 8 log-spaced bins (a
    trend means the law's form misses something); dashed: ± the RMSE.  A law of one variable
    gets one panel.
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
