"""The prediction made before training against the measurement (OpenAI 2023, GPT-4 report
Fig. 1)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.fit.rows import select_rows
from scalinglab.report.figures._common import (
    _band,
    _flops,
    _geom_grid,
    _legend_below,
    _level,
    _n_column,
    _require_chinchilla,
    _table,
)
from scalinglab.report.style import (
    BAND_ALPHA,
    FIT_COLOUR,
    LABELS,
    MEASURED_COLOUR,
    OKABE_ITO,
    PREDICTION_COLOUR,
    axes_or_new,
    figure_function,
    interval_label,
    log_axis,
    log_loss_axis,
)


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
