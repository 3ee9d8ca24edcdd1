"""Approach 3's optimiser: the law to fit, its bounds, the start screen, the polish, profiles.

The default (``method="varpro"``) screens a grid of exponents with the coefficients solved
exactly by batched NNLS (:mod:`scalinglab.fit.varpro`) -- :func:`screen_starts`, computed once
per fit and handed to the bootstrap and the calibration refits -- then polishes the best few
distinct candidates on the exact log-Huber objective with analytic gradients (:func:`polish`).
``method="hoffmann"`` runs Hoffmann et al.'s 4500-start grid (App. D.2) with one L-BFGS-B per
start, the reference the fast path is measured against (bench/fit_speed.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy.optimize import minimize

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.huber import first_pass_delta, is_auto, likelihood_factor, scaled_delta
from scalinglab.fit.objective import LogHuberObjective
from scalinglab.fit.settings import FitSettings
from scalinglab.fit.varpro import chinchilla_screen, power_screen
from scalinglab.laws.base import Law
from scalinglab.laws.forms import Chinchilla, PowerLaw
from scalinglab.laws.registry import LAW_FORMS

EXPONENT_BOUNDS = (0.0, 10.0)
LOG_E_FLOOR = np.log(1e-6)  # E >= 1e-6 nats/token: "E = 0" shows up as E at this floor
N_POLISH = 4                 # candidates polished after screening


# -- laws and bounds ----------------------------------------------------------------------------
def make_law(settings: FitSettings) -> Law:
    """An instance of the requested form with placeholder parameters (values are fitted)."""
    cls = LAW_FORMS[settings.law.lower()]  # the name is checked by FitSettings
    if cls is PowerLaw:
        variable = settings.variable or "C"
        params = {"E": 1.0, "A": 1.0, "alpha": 0.1} if settings.irreducible else \
            {"A": 1.0, "alpha": 0.1}
        return PowerLaw(variable=variable, irreducible=settings.irreducible, **params)
    placeholder = {n: 1.0 for n in cls.param_names}
    return cls(**placeholder)


def raw_bounds(law: Law, y: np.ndarray, settings: FitSettings) -> list[tuple[float | None, ...]]:
    """L-BFGS-B bounds in raw coordinates: exponents in [0, 10], E as the settings say."""
    bounds: list[tuple[float | None, float | None]] = []
    for name in law.raw_names:
        if name == "e":
            bounds.append(_log_E_bounds(y, settings))
        elif name.startswith("alpha") or name in ("beta", "eta") or name.startswith("R_"):
            bounds.append(EXPONENT_BOUNDS)
        else:
            bounds.append((None, None))
    return bounds


def _log_E_bounds(y: np.ndarray, settings: FitSettings) -> tuple[float, float | None]:
    if settings.E_fixed is not None:  # FitSettings checked E_fixed > 0 and the bounds' order
        value = float(np.log(settings.E_fixed))
        return value, value
    lo, hi = LOG_E_FLOOR, None
    if settings.E_bounds is not None:
        e_lo, e_hi = settings.E_bounds
        lo, hi = max(lo, float(np.log(max(e_lo, 1e-6)))), float(np.log(e_hi))
    if settings.bound_E_below_min_loss:
        cap = float(np.log(np.min(y)))
        hi = cap if hi is None else min(hi, cap)
        if hi <= lo:
            raise ScalingLabError("E bounds are empty once E is capped at the lowest loss")
    return lo, hi


# -- optimisation -------------------------------------------------------------------------------
def screen_starts(law: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
                  settings: FitSettings) -> np.ndarray:
    """Candidate raw starts, best first (variable projection where the form allows it)."""
    if isinstance(law, Chinchilla):
        starts, score = chinchilla_screen(np.log(X["N"]), np.log(X["D"]), y, w,
                                          E_fixed=settings.E_fixed)
    elif isinstance(law, PowerLaw):
        starts, score = power_screen(np.log(X[law.variable]), y, w, law.irreducible,
                                     E_fixed=settings.E_fixed)
    else:
        starts = law.default_starts(X, y)
        score = LogHuberObjective(law, X, y, first_pass_delta(settings.huber_delta),
                                  w).value(starts)
    score = np.where(np.isfinite(score), score, np.inf)
    return starts[np.argsort(score, kind="stable")]


def polish(objective: LogHuberObjective, theta0: np.ndarray,
           bounds: list[tuple[float | None, float | None]],
           method: str = "SLSQP", rescue: bool = True) -> tuple[np.ndarray, float]:
    """Local minimisation from theta0 on the exact objective, with analytic gradients.

    SLSQP (a dense quasi-Newton SQP) reaches the same optimum as L-BFGS-B on the Epoch data
    with ~2x fewer evaluations and far less per-iteration overhead for five parameters
    (bench/fit_speed.py); if it reports failure, L-BFGS-B continues from where it stopped.
    ``method="L-BFGS-B"`` is Hoffmann et al.'s optimiser, used by the 4500-start mode.
    """
    theta0 = _clip_to_bounds(np.asarray(theta0, dtype=float), bounds)
    if method == "SLSQP":
        res = minimize(objective.value_and_grad, theta0, jac=True, method="SLSQP",
                       bounds=bounds, options={"maxiter": 2000 if rescue else 300,
                                               "ftol": 1e-12})
        if res.success and np.all(np.isfinite(res.x)):
            return res.x, float(res.fun)
        if not rescue and np.all(np.isfinite(res.x)) and np.isfinite(res.fun):
            return res.x, float(res.fun)
        theta0 = _clip_to_bounds(res.x if np.all(np.isfinite(res.x)) else theta0, bounds)
    # After an SLSQP failure L-BFGS-B only finishes the job: on degenerate data (a bootstrap
    # resample of an 11-row curve) an uncapped run wandered for seconds per call.
    maxiter = 5000 if method == "L-BFGS-B" else 300
    res = minimize(objective.value_and_grad, theta0, jac=True, method="L-BFGS-B",
                   bounds=bounds, options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-9})
    return res.x, float(res.fun)


def _clip_to_bounds(theta: np.ndarray, bounds) -> np.ndarray:
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    return np.clip(theta, lo, hi)


def fit_arrays(law: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
               settings: FitSettings, starts: np.ndarray | None = None,
               n_polish: int = N_POLISH, rescue: bool = True,
               screened: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Best raw parameters and objective value for one dataset (rows weighted by ``w``).

    With ``starts`` given, exactly those raw starting points are polished (the bootstrap passes
    the full-data optimum and the best full-data screening candidate); otherwise the starts come
    from variable-projection screening (``varpro``) or Hoffmann's grid (``hoffmann``);
    ``screened`` is :func:`screen_starts` of these very arrays when the caller has it already.
    """
    if is_auto(settings.huber_delta):
        theta, value, _ = fit_scaled_delta(law, X, y, w, settings, starts=starts,
                                           n_polish=n_polish, rescue=rescue, screened=screened)
        return theta, value
    if starts is None and screened is None and not (
            settings.method == "hoffmann" and isinstance(law, Chinchilla)):
        screened = screen_starts(law, X, y, w, settings)
    objective = LogHuberObjective(law, X, y, settings.huber_delta, w, settings.E_prior)
    bounds = raw_bounds(law, y, settings)
    if starts is not None:
        candidates = list(np.atleast_2d(starts))
    elif settings.method == "hoffmann":
        starts = law.default_starts(X, y) if isinstance(law, Chinchilla) else screened
        if settings.E_fixed is not None:
            starts = starts.copy()
            starts[:, list(law.raw_names).index("e")] = np.log(settings.E_fixed)
        candidates = list(starts)
    else:  # varpro (FitSettings allows no other method)
        candidates = list(distinct_starts(screened, n_polish))
    local = "L-BFGS-B" if settings.method == "hoffmann" else "SLSQP"
    best_theta, best_value = None, np.inf
    for theta0 in candidates:
        theta, value = polish(objective, theta0, bounds, local, rescue=rescue)
        if best_theta is None or value < best_value - 1e-12 * abs(best_value):
            best_theta, best_value = theta, value
    if best_theta is None:
        raise FitError("the optimiser found no finite solution; check the data")
    return best_theta, best_value


#: Refits at most this often while delta (from the last fit's residuals) moves by more than
#: SCALE_TOLERANCE (a scale measured on residuals at one delta moves the fit, and so the
#: residuals, at the next).
SCALE_PASSES = 3
SCALE_TOLERANCE = 0.05


def fit_scaled_delta(law: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
                     settings: FitSettings, starts: np.ndarray | None = None,
                     n_polish: int = N_POLISH, rescue: bool = True,
                     screened: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """Fit at Huber's delta scaled to the residuals (:mod:`scalinglab.fit.huber`) when
    ``settings.huber_delta`` is ``"auto"``, else at the given delta.

    A first fit at the largest delta allowed gives the residuals; the law is refitted at 1.345
    x their robust sd (between 1e-3 and 1e-2), from the last optimum and the same starts, until
    delta settles (``SCALE_PASSES``, ``SCALE_TOLERANCE``).  Returns the raw parameters, the
    objective value and the delta used.
    """
    first = replace(settings, huber_delta=first_pass_delta(settings.huber_delta))
    theta, value = fit_arrays(law, X, y, w, first, starts=starts, n_polish=n_polish,
                              rescue=rescue, screened=screened)
    if not is_auto(settings.huber_delta):           # a fixed delta: nothing to scale
        return theta, value, first.huber_delta
    n_free = len(law.raw_names) - (settings.E_fixed is not None)
    others: list[np.ndarray] = []          # the first fit's starts, polished again after it
    if starts is not None:
        others = list(np.atleast_2d(starts))
    elif screened is not None:
        others = list(distinct_starts(screened, n_polish))
    delta = first.huber_delta
    for _ in range(SCALE_PASSES):
        new = scaled_delta(np.log(y) - law.log_predict_raw(theta, X), w, n_free)
        if abs(new - delta) <= SCALE_TOLERANCE * delta:
            break
        delta = new
        theta, value = fit_arrays(law, X, y, w, replace(settings, huber_delta=delta),
                                  starts=np.array([np.asarray(theta, dtype=float), *others]),
                                  rescue=rescue)
    return theta, value, delta


def distinct_starts(starts: np.ndarray, k: int) -> np.ndarray:
    """The first k starts that differ in their exponents (avoid polishing near-duplicates)."""
    chosen: list[np.ndarray] = []
    for s in starts:
        if all(np.max(np.abs(s - c)) > 0.05 for c in chosen):
            chosen.append(s)
        if len(chosen) == k:
            break
    return np.array(chosen)


#: Fractions of the lowest observed loss at which E is fixed to trace the profile of the fit.
PROFILE_FRACTIONS = (0.0, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92, 0.97)


def profile_E(template: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
              settings: FitSettings, theta: np.ndarray, n_eff: int) -> list[dict[str, Any]]:
    """Refits with E fixed along a grid: the flat direction the bootstrap may not explore.

    Each entry holds the raw parameters and a likelihood-ratio statistic f n log(S_E / S_min),
    with S the summed Huber objective, n the number of *runs* (rows of one run are not
    independent) and f between 1 (every residual inside delta: a Gaussian likelihood's sum of
    squares) and 2 (every residual beyond it: a Laplace likelihood's sum of absolute values),
    :func:`scalinglab.fit.huber.likelihood_factor`.  A fit whose statistic is below the
    chi-square(1) quantile of a level is as consistent with the data as the optimum: the spread
    of their predictions at a target is the identifiability part of the parameter uncertainty.
    """
    if "e" not in template.raw_names or settings.E_fixed is not None:
        return []
    objective = LogHuberObjective(template, X, y, settings.huber_delta, w, settings.E_prior)
    best = float(objective.value(theta))
    factor = likelihood_factor(objective.residuals(theta), objective.delta)
    lo, hi = _log_E_bounds(y, settings)
    grid = [max(f * float(np.min(y)), float(np.exp(lo))) for f in PROFILE_FRACTIONS]
    grid = [E for E in grid if hi is None or np.log(E) <= hi]
    out = [{"theta": [float(t) for t in theta], "lr": 0.0, "E": float(np.exp(theta[0]))}]
    e_index = list(template.raw_names).index("e")
    previous = np.asarray(theta, dtype=float)
    for E in sorted(grid, key=lambda v: abs(np.log(v) - theta[e_index])):
        fixed = replace(settings, E_fixed=E, E_bounds=None, bound_E_below_min_loss=False)
        starts = np.vstack([previous, theta]).copy()
        starts[:, e_index] = np.log(E)
        try:  # warm starts: the neighbouring profile point and the optimum
            th, value = fit_arrays(template, X, y, w, fixed, starts=starts)
        except (FitError, ScalingLabError):
            continue
        th = np.asarray(th, dtype=float)
        previous = th
        th[e_index] = np.log(E)
        value = float(objective.value(th))
        if not np.isfinite(value) or best <= 0:
            continue
        lr = factor * n_eff * max(np.log(value / best), 0.0)
        out.append({"theta": [float(t) for t in th], "lr": float(lr), "E": float(E)})
    return out


