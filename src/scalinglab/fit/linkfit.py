"""Fitting the loss -> accuracy link (:mod:`scalinglab.laws.links`) to rows of a run table.

Least squares on accuracy (fractions) with bounds, from a small grid of starts; rows may carry
weights (the run multiplicities of a bootstrap resample).  The run-to-run scatter of accuracy
around the link is the weighted residual standard deviation, corrected for the fitted
parameters.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from scalinglab.errors import FitError
from scalinglab.laws.links import LINK_FORMS, link_values

#: Monte Carlo draws of loss and accuracy scatter per bootstrap resample
SCATTER_DRAWS = 64
#: refuse a target where the bootstrap links' 90% band is wider than this share of [chance, 1]
MAX_LINK_SPREAD = 0.5


class TaskRefusal(FitError):
    """The data cannot say what accuracy a run will reach (near chance, or links disagree)."""

#: the steepest link allowed: this many logits across the fitted x range (a step function
#: beyond it; the data cannot tell a steeper one apart)
MAX_LOGITS_ACROSS_RANGE = 60.0
#: the midpoint may lie this many fitted x ranges beyond the data on either side
MIDPOINT_RANGES = 20.0
#: a run scatter floor in accuracy (fraction): a 1000-item benchmark's binomial standard error
#: near 50% is 0.016; no scatter below 0.005 is believed
MIN_SCATTER = 0.005


def fit_link_params(x: np.ndarray, acc: np.ndarray, chance: float, form: str, decreasing: bool,
                    weights: np.ndarray | None = None, start: np.ndarray | None = None
                    ) -> np.ndarray:
    """Best (ceiling, slope, midpoint) of the link ``form`` to accuracies ``acc`` at ``x``.

    ``decreasing``: accuracy falls with x (x a loss), so the slope is negative; else positive.
    """
    x = np.asarray(x, dtype=float)
    acc = np.asarray(acc, dtype=float)
    w = np.ones_like(acc) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    x, acc, sw = x[keep], acc[keep], np.sqrt(w[keep])
    if len(x) < 3 or np.ptp(x) <= 0:
        raise FitError("the link needs at least 3 rows at different losses (or computes)")
    span = float(np.ptp(x))
    free_ceiling = LINK_FORMS[form]
    lo_c = min(max(float(acc.max()), chance + 1e-3), 1.0 - 1e-6)
    max_slope = MAX_LOGITS_ACROSS_RANGE / span
    slope_b = (-max_slope, -1e-6 / span) if decreasing else (1e-6 / span, max_slope)
    mid_b = (float(x.min()) - MIDPOINT_RANGES * span, float(x.max()) + MIDPOINT_RANGES * span)

    def unpack(theta: np.ndarray) -> np.ndarray:
        return theta if free_ceiling else np.array([1.0, theta[0], theta[1]])

    def residuals(theta: np.ndarray) -> np.ndarray:
        return sw * (link_values(unpack(theta), x, chance) - acc)

    lower = [slope_b[0], mid_b[0]]
    upper = [slope_b[1], mid_b[1]]
    if free_ceiling:
        lower, upper = [lo_c, *lower], [1.0, *upper]
    best, best_cost = None, np.inf
    for theta0 in _starts(x, acc, chance, free_ceiling, decreasing, span, start):
        theta0 = np.clip(theta0, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        sol = least_squares(residuals, theta0, bounds=(lower, upper), method="trf",
                            x_scale="jac", max_nfev=400)
        if sol.cost < best_cost:
            best, best_cost = sol.x, sol.cost
    return unpack(best)


def _starts(x, acc, chance, free_ceiling, decreasing, span, start):
    """A few starting points: the previous solution (if any) and a grid of slopes/midpoints."""
    sign = -1.0 if decreasing else 1.0
    ceiling = min(max(float(acc.max()) + 0.05, chance + 0.05), 1.0)
    out = []
    if start is not None:
        out.append(start if free_ceiling else start[1:])
    for logits in (2.0, 6.0, 15.0):
        for mid in (float(x.min()), float(np.median(x)), float(x.max()),
                    float(x.min()) - sign * span if decreasing else float(x.max()) + span):
            theta = [sign * logits / span, mid]
            out.append(np.array([ceiling, *theta]) if free_ceiling else np.array(theta))
    return out


def link_scatter(x: np.ndarray, acc: np.ndarray, params: np.ndarray, chance: float,
                 n_free: int) -> float:
    """Run-to-run scatter of accuracy around the link (fraction; residual sd, dof-corrected)."""
    resid = np.asarray(acc, dtype=float) - link_values(params, x, chance)
    dof = max(len(resid) - n_free, 1)
    return max(float(np.sqrt(np.sum(resid ** 2) / dof)), MIN_SCATTER)


def free_parameters(form: str) -> int:
    """Number of fitted parameters of a link form."""
    return 3 if LINK_FORMS[form] else 2
