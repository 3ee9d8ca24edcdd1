"""The data-manifold picture: measured intrinsic dimension against the theory's 4/alpha."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.report.style import OKABE_ITO, axes_or_new, figure_function

_COLOURS = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple",
                                   "sky", "yellow", "black") if k in OKABE_ITO]


def _points(result: Any) -> list[Any]:
    if hasattr(result, "points"):
        return list(result.points())
    if isinstance(result, (list, tuple)):
        out = []
        for item in result:
            out.extend(_points(item) if hasattr(item, "points") else [item])
        return out
    raise ScalingLabError("manifold_dimension needs a manifold result (or a list of them / "
                          "of DimensionPoint)")


@figure_function
def manifold_dimension(result: Any, ax: Axes | None = None) -> Figure:
    """Measured intrinsic dimension (y) against 4/alpha (x), both with their intervals.

    ``result`` is a teacher-student, LM or digits result from :mod:`scalinglab.manifold` (or a
    list of them, or of ``DimensionPoint``).  The diagonal ID = 4/alpha is the
    resolution-limited theory (Sharma & Kaplan 2022); a point below it has a faster-falling
    loss than its dimension allows the theory's bound; the known d of a synthetic manifold is
    drawn as an open square at (4/alpha, d).  Kaplan 2020's 4/alpha_N = 52.6 and
    4/alpha_D = 42.1 are marked on the x axis when an LM family is drawn.
    """
    points = [p for p in _points(result) if np.isfinite(p.four_over_alpha)
              and np.isfinite(p.dimension)]
    if not points:
        raise ScalingLabError("no point has both a finite intrinsic dimension and alpha > 0")
    fig, ax = axes_or_new(ax)
    families = list(dict.fromkeys(p.family for p in points))
    values = []
    for i, family in enumerate(families):
        colour = _COLOURS[i % len(_COLOURS)]
        members = [p for p in points if p.family == family]
        x = np.array([p.four_over_alpha for p in members])
        y = np.array([p.dimension for p in members])
        xlo, xhi = np.array([p.four_over_alpha_interval for p in members]).T
        ylo = np.array([p.dim_low for p in members])
        yhi = np.array([p.dim_high for p in members])
        xerr = np.vstack([np.where(np.isfinite(xlo), x - xlo, 0),
                          np.where(np.isfinite(xhi), xhi - x, 0)]).clip(min=0)
        yerr = np.vstack([np.where(np.isfinite(ylo), y - ylo, 0),
                          np.where(np.isfinite(yhi), yhi - y, 0)]).clip(min=0)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=colour, capsize=3,
                    label=family)
        for p, xi, yi in zip(members, x, y, strict=True):
            ax.annotate(p.label, (xi, yi), textcoords="offset points", xytext=(5, 4),
                        fontsize=8, color=colour)
            if p.true_dimension is not None:
                ax.plot([xi], [p.true_dimension], "s", mfc="none", color=colour, ms=7)
                values.append(p.true_dimension)
        values.extend(list(x) + list(y) + [v for v in np.concatenate([xhi, yhi])
                                           if np.isfinite(v)])
    if any(f.startswith("LM") for f in families):
        for name, value in (("Kaplan 4/alpha_N", 4 / 0.076), ("Kaplan 4/alpha_D", 4 / 0.095)):
            ax.axvline(value, color="0.6", ls=":", lw=1)
            ax.text(value, 0.02, name, rotation=90, transform=ax.get_xaxis_transform(),
                    fontsize=7, color="0.4", ha="right", va="bottom")
            values.append(value)
    top = 1.1 * max(values)
    ax.plot([0, top], [0, top], color="0.3", lw=1, ls="--", label="theory: ID = 4/alpha")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("4 / alpha (theory's dimension, from the fitted loss exponent)")
    ax.set_ylabel("measured intrinsic dimension")
    if any(p.true_dimension is not None for p in points):
        ax.plot([], [], "s", mfc="none", color="0.3", label="true d")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("data-manifold dimension vs 4/alpha")
    return fig
