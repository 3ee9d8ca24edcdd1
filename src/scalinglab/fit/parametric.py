"""Approach 3: fit a parametric law to run rows by minimising the sum of log-Huber losses.

The default optimiser (``method="varpro"``) screens a grid of exponents with the coefficients
solved exactly by batched NNLS (:mod:`scalinglab.fit.varpro`), then polishes the best few
candidates jointly with L-BFGS-B on the exact objective, using analytic gradients.  The
``method="hoffmann"`` mode runs Hoffmann et al.'s 4500-start grid (App. D.2) with one L-BFGS-B
per start -- the reference the fast path is measured against (bench/fit_speed.py).

Uncertainty comes from a case bootstrap over *runs* (all rows of a run move together), see
:mod:`scalinglab.fit.bootstrap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.objective import DEFAULT_HUBER_DELTA, LogHuberObjective
from scalinglab.fit.result import FitResult
from scalinglab.fit.varpro import chinchilla_screen, power_screen
from scalinglab.laws.base import VARIABLE_COLUMNS, Law
from scalinglab.laws.forms import LAW_FORMS, Chinchilla, PowerLaw
from scalinglab.records import load_runs

EXPONENT_BOUNDS = (0.0, 10.0)
LOG_E_FLOOR = np.log(1e-6)  # E >= 1e-6 nats/token: "E = 0" shows up as E at this floor
N_POLISH = 4                 # candidates polished after screening


@dataclass
class FitSettings:
    """Every choice that moves an Approach-3 fit, recorded in the result."""

    law: str = "chinchilla"
    variable: str | None = None        # for the power law: N, D or C
    irreducible: bool = True           # power law with (True) or without (False) E
    n_column: str = "n_params"         # which parameter count is N
    huber_delta: float = DEFAULT_HUBER_DELTA
    method: str = "varpro"             # "varpro" (fast) or "hoffmann" (4500-start grid)
    E_fixed: float | None = None       # nats/token
    E_bounds: tuple[float, float] | None = None
    E_prior: tuple[float, float] | None = None   # Gaussian (mean, sd) on E, nats/token
    bound_E_below_min_loss: bool = False
    checkpoints_after: float | None = None       # use rows past this fraction of each run
    weights: str | None = None                   # name of a weights column, if any

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- rows ---------------------------------------------------------------------------------------
def select_rows(runs: pd.DataFrame, checkpoints_after: float | None = None) -> pd.DataFrame:
    """The rows a fit uses: each run's final rows, or every row past a fraction of its run.

    A run with several ``final`` rows (cooldown branches of a WSD run) contributes all of them.
    With ``checkpoints_after=f`` every row whose ``tokens`` is at least ``f`` times the run's
    largest token count is used (the Hitchhiker's Guide to scaling-law estimation recommends
    dropping the first ~10% of training).
    """
    if checkpoints_after is not None:
        if not 0 <= checkpoints_after < 1:
            raise ScalingLabError(f"checkpoints_after must be in [0, 1), got {checkpoints_after}")
        if "tokens" not in runs.columns:
            raise ScalingLabError("checkpoints_after needs a tokens column")
        longest = runs.groupby("run_id")["tokens"].transform("max")
        return runs[runs["tokens"] >= checkpoints_after * longest].reset_index(drop=True)
    if "final" in runs.columns and runs["final"].astype(bool).any():
        has_final = runs.groupby("run_id")["final"].transform(lambda s: s.astype(bool).any())
        chosen = runs[runs["final"].astype(bool) | ~has_final]
        # runs without any final row: their last row
        chosen = pd.concat([chosen[chosen["final"].astype(bool)],
                            _last_rows(chosen[~chosen["final"].astype(bool)])])
        return chosen.sort_index().reset_index(drop=True)
    return _last_rows(runs).reset_index(drop=True)


def _last_rows(runs: pd.DataFrame) -> pd.DataFrame:
    if runs.empty:
        return runs
    order = "tokens" if "tokens" in runs.columns else ("flops" if "flops" in runs.columns else None)
    if order is None or runs["run_id"].is_unique:
        return runs.groupby("run_id", sort=False).tail(1)
    return runs.sort_values(order).groupby("run_id", sort=False).tail(1).sort_index()


# -- laws and bounds ----------------------------------------------------------------------------
def make_law(settings: FitSettings) -> Law:
    """An instance of the requested form with placeholder parameters (values are fitted)."""
    name = settings.law.lower()
    if name not in LAW_FORMS:
        raise ScalingLabError(f"unknown law {settings.law!r}; choose one of {', '.join(LAW_FORMS)}")
    cls = LAW_FORMS[name]
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
        elif name.startswith("alpha") or name == "beta" or name.startswith("R_"):
            bounds.append(EXPONENT_BOUNDS)
        else:
            bounds.append((None, None))
    return bounds


def _log_E_bounds(y: np.ndarray, settings: FitSettings) -> tuple[float, float | None]:
    if settings.E_fixed is not None:
        if not settings.E_fixed > 0:
            raise ScalingLabError(f"fixed E must be > 0 nats/token, got {settings.E_fixed}")
        value = float(np.log(settings.E_fixed))
        return value, value
    lo, hi = LOG_E_FLOOR, None
    if settings.E_bounds is not None:
        e_lo, e_hi = settings.E_bounds
        if not 0 <= e_lo < e_hi:
            raise ScalingLabError(f"E bounds must satisfy 0 <= low < high, got {settings.E_bounds}")
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
        score = LogHuberObjective(law, X, y, settings.huber_delta, w).value(starts)
    score = np.where(np.isfinite(score), score, np.inf)
    return starts[np.argsort(score, kind="stable")]


def polish(objective: LogHuberObjective, theta0: np.ndarray,
           bounds: list[tuple[float | None, float | None]],
           method: str = "SLSQP") -> tuple[np.ndarray, float]:
    """Local minimisation from theta0 on the exact objective, with analytic gradients.

    SLSQP (a dense quasi-Newton SQP) reaches the same optimum as L-BFGS-B on the Epoch data
    with ~2x fewer evaluations and far less per-iteration overhead for five parameters
    (bench/fit_speed.py); if it reports failure, L-BFGS-B continues from where it stopped.
    ``method="L-BFGS-B"`` is Hoffmann et al.'s optimiser, used by the 4500-start mode.
    """
    theta0 = _clip_to_bounds(np.asarray(theta0, dtype=float), bounds)
    if method == "SLSQP":
        res = minimize(objective.value_and_grad, theta0, jac=True, method="SLSQP",
                       bounds=bounds, options={"maxiter": 2000, "ftol": 1e-12})
        if res.success and np.all(np.isfinite(res.x)):
            return res.x, float(res.fun)
        theta0 = _clip_to_bounds(res.x if np.all(np.isfinite(res.x)) else theta0, bounds)
    res = minimize(objective.value_and_grad, theta0, jac=True, method="L-BFGS-B",
                   bounds=bounds, options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-9})
    return res.x, float(res.fun)


def _clip_to_bounds(theta: np.ndarray, bounds) -> np.ndarray:
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    return np.clip(theta, lo, hi)


def fit_arrays(law: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
               settings: FitSettings, starts: np.ndarray | None = None,
               n_polish: int = N_POLISH) -> tuple[np.ndarray, float]:
    """Best raw parameters and objective value for one dataset (rows weighted by ``w``).

    With ``starts`` given, exactly those raw starting points are polished (the bootstrap passes
    the full-data optimum and the best full-data screening candidate); otherwise the starts come
    from variable-projection screening (``varpro``) or Hoffmann's grid (``hoffmann``).
    """
    objective = LogHuberObjective(law, X, y, settings.huber_delta, w, settings.E_prior)
    bounds = raw_bounds(law, y, settings)
    if starts is not None:
        candidates = list(np.atleast_2d(starts))
    elif settings.method == "hoffmann":
        starts = law.default_starts(X, y) if isinstance(law, Chinchilla) else \
            screen_starts(law, X, y, w, settings)
        if settings.E_fixed is not None:
            starts = starts.copy()
            starts[:, list(law.raw_names).index("e")] = np.log(settings.E_fixed)
        candidates = list(starts)
    elif settings.method == "varpro":
        candidates = list(_distinct(screen_starts(law, X, y, w, settings), n_polish))
    else:
        raise ScalingLabError(f"unknown method {settings.method!r}; use varpro or hoffmann")
    local = "L-BFGS-B" if settings.method == "hoffmann" else "SLSQP"
    best_theta, best_value = None, np.inf
    for theta0 in candidates:
        theta, value = polish(objective, theta0, bounds, local)
        if best_theta is None or value < best_value - 1e-12 * abs(best_value):
            best_theta, best_value = theta, value
    if best_theta is None:
        raise FitError("the optimiser found no finite solution; check the data")
    return best_theta, best_value


def _distinct(starts: np.ndarray, k: int) -> np.ndarray:
    """The first k starts that differ in their exponents (avoid polishing near-duplicates)."""
    chosen: list[np.ndarray] = []
    for s in starts:
        if all(np.max(np.abs(s - c)) > 0.05 for c in chosen):
            chosen.append(s)
        if len(chosen) == k:
            break
    return np.array(chosen)


# -- the public entry point ---------------------------------------------------------------------
def fit_parametric(
    runs: pd.DataFrame | str,
    law: str = "chinchilla",
    *,
    variable: str | None = None,
    irreducible: bool = True,
    n_column: str = "n_params",
    huber_delta: float = DEFAULT_HUBER_DELTA,
    method: str = "varpro",
    bootstrap: int = 0,
    level: float = 0.9,
    seed: int = 0,
    E_fixed: float | None = None,
    E_bounds: tuple[float, float] | None = None,
    E_prior: tuple[float, float] | None = None,
    bound_E_below_min_loss: bool = False,
    checkpoints_after: float | None = None,
    weights: str | None = None,
) -> FitResult:
    """Fit a law (``chinchilla``, ``kaplan``, ``power`` or another registered form) to runs.

    ``runs`` is a DataFrame with record columns (or a path read by :func:`load_runs`).  N comes
    from ``n_column`` (``n_params`` = non-embedding, ``n_params_total`` = all parameters), D from
    ``tokens``, C from ``flops``; losses are nats/token.  Returns a :class:`FitResult` with
    bootstrap draws when ``bootstrap > 0``.
    """
    from scalinglab.fit.bootstrap import bootstrap_fit  # noqa: PLC0415 (avoid an import cycle)
    from scalinglab.fit.diagnostics import diagnose  # noqa: PLC0415

    settings = FitSettings(law=law, variable=variable, irreducible=irreducible,
                           n_column=n_column, huber_delta=huber_delta, method=method,
                           E_fixed=E_fixed, E_bounds=E_bounds, E_prior=E_prior,
                           bound_E_below_min_loss=bound_E_below_min_loss,
                           checkpoints_after=checkpoints_after, weights=weights)
    if not huber_delta > 0:
        raise ScalingLabError(f"huber_delta must be > 0, got {huber_delta}")
    template = make_law(settings)
    frame = prepare_runs(runs, template, settings)
    X, y, w, groups = arrays_for(frame, template, settings)
    n_free = len(template.raw_names) - (1 if E_fixed is not None else 0)
    if len(y) <= n_free:
        raise FitError(f"{len(y)} points cannot determine {n_free} free parameters of the "
                       f"{template.name} law; need more than {n_free}")
    theta, value = fit_arrays(template, X, y, w, settings)
    fitted = template.with_params(template.from_raw(theta))
    boot = None
    if bootstrap:
        alternative = _distinct(screen_starts(template, X, y, w, settings), 1)
        boot = bootstrap_fit(template, X, y, w, groups, settings,
                             np.vstack([theta, alternative]), bootstrap, seed)
    residuals = residual_report(fitted, theta, X, y, frame)
    result = FitResult(law=fitted, columns=_columns_used(template, settings),
                       n_points=len(y), n_runs=int(len(np.unique(groups))),
                       objective=value * huber_delta, settings=settings.to_dict(),
                       residuals=residuals, bootstrap_params=boot, level=level)
    result.settings.update({"bootstrap": int(bootstrap), "seed": seed, "objective": "sum of Huber "
                            "on log-loss residuals"})
    diagnose(result, template, X, w, theta, raw_bounds(template, y, settings), settings)
    return result


def prepare_runs(runs: pd.DataFrame | str, law: Law, settings: FitSettings) -> pd.DataFrame:
    """Validated rows with the columns the law needs, after row selection."""
    needed = tuple(_column_for(v, settings) for v in law.variables) + ("loss",)
    frame = load_runs(runs, require=needed)
    return select_rows(frame, settings.checkpoints_after)


def arrays_for(frame: pd.DataFrame, law: Law, settings: FitSettings):
    """(X, y, w, groups) arrays from the selected rows."""
    X = {v: frame[_column_for(v, settings)].to_numpy(dtype=float) for v in law.variables}
    y = frame["loss"].to_numpy(dtype=float)
    if settings.weights is None:
        w = np.ones_like(y)
    else:
        if settings.weights not in frame.columns:
            raise ScalingLabError(f"weights column {settings.weights!r} not in the table")
        w = frame[settings.weights].to_numpy(dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise ScalingLabError("weights must be finite, >= 0 and not all zero")
    groups = pd.factorize(frame["run_id"].astype(str))[0]
    return X, y, w, groups


def _column_for(variable: str, settings: FitSettings) -> str:
    return settings.n_column if variable == "N" else VARIABLE_COLUMNS[variable]


def _columns_used(law: Law, settings: FitSettings) -> dict[str, str]:
    return {v: _column_for(v, settings) for v in law.variables}


def residual_report(law: Law, theta: np.ndarray, X: dict[str, np.ndarray], y: np.ndarray,
                    frame: pd.DataFrame, top: int = 5) -> dict[str, Any]:
    """RMSE of log loss and the largest residuals (log L_hat - log L) with their runs."""
    r = law.log_predict_raw(theta, X) - np.log(y)
    worst = np.argsort(-np.abs(r))[:top]
    return {
        "rmse_log": float(np.sqrt(np.mean(r**2))),
        "mae_log": float(np.mean(np.abs(r))),
        "max_abs_log": float(np.max(np.abs(r))),
        "largest": [{"run_id": str(frame["run_id"].iloc[i]), "loss": float(y[i]),
                     "predicted": float(y[i] * np.exp(r[i])), "residual_log": float(r[i])}
                    for i in worst],
    }
