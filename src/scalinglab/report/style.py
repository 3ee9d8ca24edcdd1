"""One look for every figure: a colour-blind-safe palette, slide-sized fonts, unit labels.

Colours are the Okabe & Ito (2008) palette ("Color Universal Design"), distinguishable under
the common colour-vision deficiencies; continuous quantities (model size, loss, compute) use
``cividis`` (Nuñez, Anderton & Renslow 2018), designed to read the same with and without
deuteranopia.  Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas, never
through ``pyplot``: no display or global backend is needed, nothing accumulates in pyplot's
figure registry, and a notebook still shows a returned figure inline.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    LogFormatterSciNotation,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    ScalarFormatter,
)

#: Okabe-Ito, in the order used for categorical series (black last: reserved for fits).
OKABE_ITO = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}
PALETTE: tuple[str, ...] = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"],
                            OKABE_ITO["vermillion"], OKABE_ITO["sky"], OKABE_ITO["purple"],
                            OKABE_ITO["yellow"])
#: colour of fitted laws, frontiers and envelopes (the line the eye should follow).
FIT_COLOUR = OKABE_ITO["black"]
#: colour of predictions (before training) and of measurements that test them.
PREDICTION_COLOUR = OKABE_ITO["orange"]
MEASURED_COLOUR = OKABE_ITO["vermillion"]
#: colour map for continuous quantities (model size, loss, compute).
CMAP = "cividis"
#: the same, stopped before its palest yellow, for points and curves on a white background.
RUN_CMAP = mpl.colors.ListedColormap(mpl.colormaps["cividis"](np.linspace(0.0, 0.85, 256)),
                                     name="cividis_on_white")
#: published laws overlaid on a fit (orange, green, purple, sky, vermillion).
PRESET_COLOURS: tuple[str, ...] = (OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"],
                                   OKABE_ITO["sky"], OKABE_ITO["vermillion"])
#: alpha of uncertainty bands.
BAND_ALPHA = 0.22

#: one figure: 6.4 x 4.4 inches reads at slide size with 12-13 pt text.
SINGLE = (6.4, 4.4)
WIDE = (11.0, 4.2)

RC: dict[str, Any] = {
    "font.size": 11.5,
    "axes.titlesize": 12.5,
    "axes.labelsize": 12.5,
    "xtick.labelsize": 10.5,
    "ytick.labelsize": 10.5,
    "legend.fontsize": 10,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "lines.linewidth": 1.8,
    "savefig.dpi": 150,
    "svg.fonttype": "path",
}

#: axis labels, with units (loss in nats/token, compute in FLOPs, N in parameters, D in tokens).
LABELS = {
    "C": "training compute C (FLOPs)",
    "N": "parameters N",
    "D": "training tokens D",
    "loss": "loss (nats/token)",
    "tokens_per_param": "D_opt / N_opt (tokens/parameter)",
    "residual": "residual ln L̂ − ln L (dimensionless)",
}

F = TypeVar("F", bound=Callable[..., Figure])


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Apply the report style to everything drawn inside the block."""
    with mpl.rc_context(RC):
        yield


def figure_function(func: F) -> F:
    """Decorator: draw the figure under the report style."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with styled():
            return func(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def new_figure(figsize: tuple[float, float] = SINGLE) -> Figure:
    """A figure with constrained layout on an Agg canvas (no pyplot, no display)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def axes_or_new(ax: Axes | None, figsize: tuple[float, float] = SINGLE) -> tuple[Figure, Axes]:
    """The given axes and their figure, or a new single-panel figure."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


def axes_row(axes: Any, n: int, figsize: tuple[float, float] = WIDE) -> tuple[Figure, list[Axes]]:
    """``n`` side-by-side panels: the given sequence of axes, or a new figure."""
    if axes is not None:
        axes = list(np.ravel(axes))
        if len(axes) != n:
            raise ValueError(f"this figure needs {n} axes, got {len(axes)}")
        return axes[0].figure, axes
    fig = new_figure(figsize)
    # squeeze=False: one panel comes back as a 1x1 array, not a bare Axes
    return fig, list(np.ravel(fig.subplots(1, n, squeeze=False)))


def log_loss_axis(ax: Axes, axis: str = "y") -> None:
    """Log scale for loss, ticked at round numbers (1.8, 2, 2.2) rather than powers of ten.

    Loss rarely spans a decade, where a log axis would show one labelled tick or none.
    """
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(_RoundLogLocator())
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    target.set_major_formatter(fmt)
    target.set_minor_formatter(NullFormatter())


class _RoundLogLocator(MaxNLocator):
    """Round-number ticks on a log axis spanning less than a decade; 1-2-5 per decade beyond."""

    def __init__(self) -> None:
        super().__init__(nbins=6, steps=[1, 2, 2.5, 5, 10])

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        if vmin <= 0 or vmax / vmin > 10:
            return LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(max(vmin, 1e-12), vmax)
        return super().tick_values(vmin, vmax)


def log_axis(ax: Axes, axis: str = "x") -> None:
    """Log scale with 10^k tick labels."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(LogFormatterSciNotation())
    target.set_minor_formatter(NullFormatter())


def log_norm(values: np.ndarray) -> mpl.colors.LogNorm:
    """A log colour scale spanning ``values`` (a constant gets a small range around it)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (1.0, 10.0)
    if hi <= lo:
        lo, hi = lo / 1.5, hi * 1.5
    return mpl.colors.LogNorm(vmin=lo, vmax=hi)


def interval_label(level: float) -> str:
    return f"{level:.0%} interval"


def fmt_si(value: float, unit: str = "") -> str:
    """Compact number for legends: 1.2e+09 -> '1.2e9', 350.0 -> '3.5e2' (2 significant)."""
    text = f"{value:.2g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return f"{text} {unit}".strip()
