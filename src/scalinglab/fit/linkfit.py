"""Fitting the loss -> accuracy link (:mod:`scalinglab.laws.links`) to rows of a run table.

Least squares on accuracy (fractions) with bounds, from a small grid of starts; rows may carry
weights (the run multiplicities of a bootstrap resample).  The default form's ceiling is the
mean of its profile likelihood over [best accuracy seen, 1] (:func:`mean_ceiling`).  The
run-to-run scatter of accuracy around the link is the weighted residual standard deviation,
corrected for the fitted parameters.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from scalinglab.errors import FitError
from scalinglab.laws.links import FITTED_FLOOR_FORMS, LINK_FORMS, link_values

#: Monte Carlo draws of loss and accuracy scatter per bootstrap resample
SCATTER_DRAWS = 64
#: refuse a target where the bootstrap links' 90% band is wider than this share of [chance, 1]
MAX_LINK_SPREAD = 0.5
#: fewer runs than this: resample rows instead of runs (as the loss fit does), and the scatter
#: around the link is the runs' checkpoint noise only (the few_runs guard says so)
MIN_RUNS_FOR_RUN_BOOTSTRAP = 3


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
                    weights: np.ndarray | None = None, start: np.ndarray | None = None,
                    units: np.ndarray | None = None) -> np.ndarray:
    """Best (ceiling, slope, midpoint, floor) of the link ``form`` to accuracies ``acc`` at ``x``.

    ``decreasing``: accuracy falls with x (x a loss), so the slope is negative; else positive.
    ``units``: the independent unit (run) of each row, for form ``sigmoid_pm`` (see
    :func:`mean_ceiling`); every row its own unit when None.
    """
    x = np.asarray(x, dtype=float)
    acc = np.asarray(acc, dtype=float)
    w = np.ones_like(acc) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    x, acc, w = x[keep], acc[keep], w[keep]
    if len(x) < 3 or np.ptp(x) <= 0:
        raise FitError("the link needs at least 3 rows at different losses (or computes)")
    lo_c = min(max(float(acc.max()), chance + 1e-3), 1.0 - 1e-6)
    lowest = lowest_floor(chance) if fits_floor(form, chance) else None
    problem = _LinkProblem(x, acc, np.sqrt(w), chance, decreasing, lowest)
    ceiling = LINK_FORMS[form]
    if ceiling == "one":
        return problem.fit_at(1.0, _starts(x, acc, chance, decreasing, start))[0]
    free = problem.fit_free(lo_c, _starts(x, acc, chance, decreasing, start))
    if ceiling == "fitted":
        return free
    unit_ids = (np.arange(len(x)) if units is None else np.asarray(units)[keep])
    return mean_ceiling(problem, lo_c, free, w, unit_ids)


#: ceilings on the grid of the likelihood's mean (form ``sigmoid_pm``), from the largest
#: accuracy seen to 1 (11 points moved the development MAE by 0.02 point: bench/README.md)
CEILING_GRID = 21
#: the runs in a table count as the independent evidence about the ceiling when there are at
#: least this many (as the bootstrap resamples runs, scalinglab.fit.chain); else the rows
MIN_RUNS_AS_EVIDENCE = 3


def mean_ceiling(problem: _LinkProblem, lo_c: float, free: np.ndarray, w: np.ndarray,
                 units: np.ndarray) -> np.ndarray:
    """The link with its ceiling at the mean of the ceiling's likelihood on [lo_c, 1].

    Small runs rarely identify the ceiling: their accuracies lie below the curve's bend, and
    least squares puts the ceiling at its lower bound (the best accuracy seen) as soon as they
    bend a little, so that it under-predicts larger runs.  Here the ceiling is profiled on a
    grid (slope and midpoint refitted at each), weighted by its Gaussian likelihood
    exp(-(RSS(c) - RSS_min) / (2 s^2)) under a flat prior, s^2 = RSS_min / (n - 3) (n - 4
    with a fitted floor), and set
    to the weighted mean; slope and midpoint are refitted there.  Checkpoints of one run share
    that run's offset from the link, so the evidence is counted by runs: the log-likelihood
    is scaled by runs / rows when the rows come from at least
    :data:`MIN_RUNS_AS_EVIDENCE` runs (with bootstrap weights, weighted counts).
    """
    grid = np.linspace(lo_c, 1.0, CEILING_GRID)
    fits, rss = [], []
    starts = [free]
    for c in grid:
        params, cost = problem.fit_at(float(c), starts)
        fits.append(params)
        rss.append(cost)
        starts = [params, free]
    rss = np.array(rss)
    n_rows = float(np.sum(w))
    s2 = max(float(rss.min()) / max(n_rows - problem.n_free - 1.0, 1.0), MIN_SCATTER ** 2)
    _, first = np.unique(units, return_index=True)
    evidence = (float(np.sum(w[first])) / n_rows if len(first) >= MIN_RUNS_AS_EVIDENCE
                else 1.0)
    loglik = -evidence * (rss - rss.min()) / (2.0 * s2)
    weights = np.exp(loglik - loglik.max())
    ceiling = float(np.sum(weights * grid) / np.sum(weights))
    nearest = np.argsort(np.abs(grid - ceiling))[:2]
    return problem.fit_at(ceiling, [fits[i] for i in nearest])[0]


class _LinkProblem:
    """Weighted least squares of the link to (x, acc) within the slope and midpoint bounds.

    The free parameters ``theta`` are (slope, midpoint) with the ceiling fixed, and the floor
    too when it is fitted (``floor_from`` given, below chance: the floor in [floor_from,
    chance])."""

    def __init__(self, x: np.ndarray, acc: np.ndarray, sw: np.ndarray, chance: float,
                 decreasing: bool, floor_from: float | None = None) -> None:
        self.x, self.acc, self.sw, self.chance = x, acc, sw, chance
        self.fit_floor = floor_from is not None
        span = float(np.ptp(x))
        max_slope = MAX_LOGITS_ACROSS_RANGE / span
        slope_b = (-max_slope, -1e-6 / span) if decreasing else (1e-6 / span, max_slope)
        mid_b = (float(x.min()) - MIDPOINT_RANGES * span, float(x.max()) + MIDPOINT_RANGES * span)
        lower, upper = [slope_b[0], mid_b[0]], [slope_b[1], mid_b[1]]
        if self.fit_floor:
            lower.append(float(floor_from))
            upper.append(chance)
        self.lower, self.upper = np.array(lower), np.array(upper)
        #: parameters fitted besides the ceiling's
        self.n_free = 2 + int(self.fit_floor)

    def _theta_starts(self, starts) -> list[np.ndarray]:
        """(slope, midpoint[, floor]) starts from (ceiling, slope, midpoint[, floor]) arrays."""
        out = []
        for t in starts:
            t = np.asarray(t, dtype=float)
            slope_mid = t[1:3]
            if not self.fit_floor:
                out.append(slope_mid)
                continue
            floors = ([t[3]] if len(t) >= 4 else
                      [self.chance, 0.5 * (self.chance + self.lower[2])])
            out.extend(np.array([*slope_mid, f]) for f in floors)
        return out

    def _solve(self, residuals, starts, lower, upper) -> tuple[np.ndarray, float]:
        best, best_cost = None, np.inf
        for theta0 in starts:
            theta0 = np.clip(theta0, lower + 1e-9, upper - 1e-9)
            sol = least_squares(residuals, theta0, bounds=(lower, upper), method="trf",
                                x_scale="jac", max_nfev=400)
            if sol.cost < best_cost:
                best, best_cost = sol.x, sol.cost
        return best, 2.0 * best_cost

    def _params(self, ceiling: float, theta: np.ndarray) -> np.ndarray:
        floor = theta[2] if self.fit_floor else self.chance
        return np.array([ceiling, theta[0], theta[1], floor])

    def fit_at(self, ceiling: float, starts) -> tuple[np.ndarray, float]:
        """(params, weighted RSS) with the ceiling fixed; ``starts``: parameter arrays
        (ceiling, slope, midpoint[, floor]), their ceilings ignored."""
        def residuals(theta):
            return self.sw * (link_values(self._params(ceiling, theta), self.x, self.chance)
                              - self.acc)
        theta, rss = self._solve(residuals, self._theta_starts(starts), self.lower, self.upper)
        return self._params(ceiling, theta), rss

    def fit_free(self, lo_c: float, starts) -> np.ndarray:
        """Least-squares (ceiling, slope, midpoint, floor) with the ceiling in [lo_c, 1]."""
        def residuals(theta):
            return self.sw * (link_values(self._params(theta[0], theta[1:]), self.x,
                                          self.chance) - self.acc)
        lower = np.array([lo_c, *self.lower])
        upper = np.array([1.0, *self.upper])
        full = [np.array([np.asarray(t)[0], *th]) for t in starts
                for th in self._theta_starts([t])]
        theta, _ = self._solve(residuals, full, lower, upper)
        return self._params(theta[0], theta[1:])


def _starts(x, acc, chance, decreasing, start):
    """A few starting points (ceiling, slope, midpoint): the previous solution (if any) and a
    grid of slopes/midpoints."""
    span = float(np.ptp(x))
    sign = -1.0 if decreasing else 1.0
    ceiling = min(max(float(acc.max()) + 0.05, chance + 0.05), 1.0)
    out = []
    if start is not None:
        out.append(np.asarray(start, dtype=float))
    for logits in (2.0, 6.0, 15.0):
        for mid in (float(x.min()), float(np.median(x)), float(x.max()),
                    float(x.min()) - sign * span if decreasing else float(x.max()) + span):
            out.append(np.array([ceiling, sign * logits / span, mid]))
    return out


def link_scatter(x: np.ndarray, acc: np.ndarray, params: np.ndarray, chance: float,
                 n_free: int) -> float:
    """Run-to-run scatter of accuracy around the link (fraction; residual sd, dof-corrected)."""
    resid = np.asarray(acc, dtype=float) - link_values(params, x, chance)
    dof = max(len(resid) - n_free, 1)
    return max(float(np.sqrt(np.sum(resid ** 2) / dof)), MIN_SCATTER)


def free_parameters(form: str, chance: float) -> int:
    """Number of fitted parameters of a link form (the ceiling counts unless fixed at 1, the
    floor when :func:`fits_floor`)."""
    return (2 if LINK_FORMS[form] == "one" else 3) + int(fits_floor(form, chance))


def fits_floor(form: str, chance: float) -> bool:
    """Whether the link's floor is fitted: the form fits it and its range [lowest_floor,
    chance] is not a point (it is for a task whose chance is 0, such as LAMBADA)."""
    return form in FITTED_FLOOR_FORMS and lowest_floor(chance) < chance


#: the lowest floor a fitted-floor link may take, as a fraction of chance
LOWEST_FLOOR_SHARE = 0.5


def lowest_floor(chance: float) -> float:
    """The lowest floor (fraction) of a fitted-floor form: a share of chance."""
    return LOWEST_FLOOR_SHARE * chance
