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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.intervals import calibrate as calibrate_runs
from scalinglab.fit.intervals import reference_of, run_scatter, scale_inputs
from scalinglab.fit.objective import DEFAULT_HUBER_DELTA, LogHuberObjective
from scalinglab.fit.result import FitResult
from scalinglab.fit.varpro import chinchilla_screen, power_screen
from scalinglab.laws.base import VARIABLE_COLUMNS, Law
from scalinglab.laws.forms import LAW_FORMS, Chinchilla, PowerLaw
from scalinglab.records import load_runs

EXPONENT_BOUNDS = (0.0, 10.0)
#: Default row filter (see :func:`frontier_mask`): a run whose final loss is more than 10% above
#: the best final loss at the same or less compute lies far from the compute-optimal frontier
#: -- badly undertrained, mis-tuned or failed -- where the law is not meant to hold.  Measured
#: with bench/extrapolation.py (median ARE of the Epoch backtests with no hand-dropped points,
#: cut 1e21 / 3e20 FLOPs; gzip family mean ARE):  none 1.36% / 1.47%, 144.5%;  0.05: 0.94% /
#: 0.71%, 17.2% (but 1e21 run-interval coverage 70%);  0.1: 0.81% / 0.65%, 102.9%;  0.2: 0.92% /
#: 0.94%, 103.5%.  Epoch's "drop the 5 highest losses" by hand gives 0.87% at 1e21.
DEFAULT_FRONTIER_FILTER = 0.1
FRONTIER_WINDOW_DEX = 0.05
#: With ``checkpoints_after="auto"``: when the table holds loss curves, use every row past this
#: fraction of its run.  Choshen et al. 2024 (the Hitchhiker's Guide) drop the first ~10%; on the
#: curve families of the development library (bench/extrapolation.py, bench/README.md) mean ARE
#: over families was 4.02% using every row, 3.32% past 10%, 3.06% past 25% (best on 4 of 6),
#: and past 50% left too few rows for some curves.
AUTO_CHECKPOINT_FRACTION = 0.25
#: A run with at least this many rows counts as a loss curve.
MIN_CURVE_ROWS = 3
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
    checkpoints_after: float | str | None = "auto"  # rows past this fraction of each run
    frontier_filter: float | None = DEFAULT_FRONTIER_FILTER  # drop rows this far above the best
    weights: str | None = None                   # name of a weights column, if any
    calibrate: bool = True                       # nested backtests for run-level intervals
    calibration_cuts: tuple[float, ...] | None = None  # FLOPs; None: at CUT_FRACTIONS of runs

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- rows ---------------------------------------------------------------------------------------
def has_curves(runs: pd.DataFrame) -> bool:
    """True when some run has at least :data:`MIN_CURVE_ROWS` rows (a loss curve)."""
    if "run_id" not in runs.columns or runs.empty:
        return False
    return bool(runs.groupby("run_id").size().max() >= MIN_CURVE_ROWS)


def resolve_checkpoints(runs: pd.DataFrame, checkpoints_after: float | str | None
                        ) -> tuple[float | None, str]:
    """The fraction actually used for ``checkpoints_after`` and a sentence saying why.

    ``"auto"``: final rows when no run has a curve; every row past
    :data:`AUTO_CHECKPOINT_FRACTION` of its run when curves are present -- except runs with a
    ``wsd`` schedule, whose stable-phase rows are at peak learning rate and are replaced by
    their cooled-down (final) rows (handled in :func:`select_rows`).
    """
    if checkpoints_after != "auto":
        if checkpoints_after is None:
            return None, "final rows of each run"
        return float(checkpoints_after), f"rows past {checkpoints_after:g} of each run"
    if has_curves(runs) and "tokens" in runs.columns:
        return AUTO_CHECKPOINT_FRACTION, (f"loss curves present: rows past "
                                          f"{AUTO_CHECKPOINT_FRACTION:g} of each run's tokens "
                                          f"(cooled-down rows only for WSD runs)")
    return None, "final rows of each run"


def select_rows(runs: pd.DataFrame, checkpoints_after: float | str | None = None) -> pd.DataFrame:
    """The rows a fit uses: each run's final rows, or every row past a fraction of its run.

    A run with several ``final`` rows (cooldown branches of a WSD run) contributes all of them.
    With ``checkpoints_after=f`` every row whose ``tokens`` is at least ``f`` times the run's
    largest token count is used (the Hitchhiker's Guide to scaling-law estimation recommends
    dropping the first ~10% of training); runs whose ``schedule`` is ``wsd`` still contribute
    only their final (cooled-down) rows.  ``"auto"`` chooses, see :func:`resolve_checkpoints`.
    """
    fraction, _ = resolve_checkpoints(runs, checkpoints_after)
    if fraction is not None:
        if not 0 <= fraction < 1:
            raise ScalingLabError(f"checkpoints_after must be in [0, 1), got {fraction}")
        if "tokens" not in runs.columns:
            raise ScalingLabError("checkpoints_after needs a tokens column")
        longest = runs.groupby("run_id")["tokens"].transform("max")
        keep = runs["tokens"] >= fraction * longest
        if "schedule" in runs.columns and "final" in runs.columns:
            wsd = runs["schedule"].astype(str).str.lower().eq("wsd")
            keep &= ~wsd | runs["final"].astype(bool)
        return runs[keep].reset_index(drop=True)
    return final_rows(runs)


def final_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's final rows (all cooldown branches), or its last row when none is marked."""
    if "final" in runs.columns and runs["final"].astype(bool).any():
        has_final = runs.groupby("run_id")["final"].transform(lambda s: s.astype(bool).any())
        chosen = runs[runs["final"].astype(bool) | ~has_final]
        # runs without any final row: their last row
        chosen = pd.concat([chosen[chosen["final"].astype(bool)],
                            _last_rows(chosen[~chosen["final"].astype(bool)])])
        return chosen.sort_index().reset_index(drop=True)
    return _last_rows(runs).reset_index(drop=True)


def frontier_mask(loss: np.ndarray, compute: np.ndarray, excess: float,
                  window_dex: float = FRONTIER_WINDOW_DEX) -> np.ndarray:
    """True for rows within ``excess`` (relative) of the compute frontier at their compute.

    The frontier at compute C is the lowest loss of any row with compute up to C x 10^window
    (FLOPs): compute spent well never buys a worse loss than less compute, so a row far above
    every row of the same or less compute is undertrained, mis-tuned or failed -- off the
    compute-optimal frontier the law describes.  The window (0.05 dex, the IsoFLOP grouping
    tolerance) makes rows of one IsoFLOP budget compete with each other.  O(n log n).
    """
    order = np.argsort(compute, kind="stable")
    c_sorted = np.log10(compute[order])
    running_best = np.minimum.accumulate(loss[order])
    reach = np.searchsorted(c_sorted, c_sorted + window_dex, side="right") - 1
    best = np.empty_like(running_best)
    best[order] = running_best[reach]
    return np.log(loss) - np.log(best) <= np.log1p(excess) + 1e-12


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
        elif name.startswith("alpha") or name in ("beta", "eta") or name.startswith("R_"):
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
               n_polish: int = N_POLISH, rescue: bool = True) -> tuple[np.ndarray, float]:
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
        theta, value = polish(objective, theta0, bounds, local, rescue=rescue)
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
    checkpoints_after: float | str | None = "auto",
    frontier_filter: float | None = DEFAULT_FRONTIER_FILTER,
    weights: str | None = None,
    calibrate: bool = True,
    calibration_cuts: Sequence[float] | None = None,
) -> FitResult:
    """Fit a law (``chinchilla``, ``kaplan``, ``power`` or another registered form) to runs.

    ``runs`` is a DataFrame with record columns (or a path read by :func:`load_runs`).  N comes
    from ``n_column`` (``n_params`` = non-embedding, ``n_params_total`` = all parameters), D from
    ``tokens``, C from ``flops``; losses are nats/token.  Returns a :class:`FitResult` with
    bootstrap draws when ``bootstrap > 0`` and, with ``calibrate``, the calibrated pieces of
    its run-level prediction intervals (:mod:`scalinglab.fit.intervals`).

    Defaults that use what the data offer (each reported in ``result.settings["rows"]``):
    ``checkpoints_after="auto"`` fits loss curves past 25% of each run when the table has them
    (final rows otherwise); ``frontier_filter=0.1`` drops rows more than 10% above the best
    loss at the same compute (listed in ``result.diagnostics["dropped"]``); a Chinchilla fit
    to a table with a single model size becomes L(D) = E + B/D^beta, and says so.
    """
    from scalinglab.fit.bootstrap import bootstrap_fit  # noqa: PLC0415 (avoid an import cycle)
    from scalinglab.fit.diagnostics import diagnose  # noqa: PLC0415

    settings = FitSettings(law=law, variable=variable, irreducible=irreducible,
                           n_column=n_column, huber_delta=huber_delta, method=method,
                           E_fixed=E_fixed, E_bounds=E_bounds, E_prior=E_prior,
                           bound_E_below_min_loss=bound_E_below_min_loss,
                           checkpoints_after=checkpoints_after,
                           frontier_filter=frontier_filter, weights=weights,
                           calibrate=calibrate,
                           calibration_cuts=_check_cuts(calibration_cuts))
    if not huber_delta > 0:
        raise ScalingLabError(f"huber_delta must be > 0, got {huber_delta}")
    if frontier_filter is not None and not (np.isfinite(frontier_filter) and frontier_filter > 0):
        raise ScalingLabError(f"frontier_filter must be a number > 0 (a relative excess over "
                              f"the best loss at the same compute) or None, got {frontier_filter}")
    template = make_law(settings)
    frame, row_notes = prepare_runs(runs, template, settings)
    template, settings, reduced = _reduce_degenerate_design(template, settings, frame)
    X, y, w, groups = arrays_for(frame, template, settings)
    n_free = len(template.raw_names) - (1 if E_fixed is not None else 0)
    if len(y) <= n_free:
        raise FitError(f"{len(y)} points cannot determine {n_free} free parameters of the "
                       f"{template.name} law; need more than {n_free}")
    theta, value = fit_arrays(template, X, y, w, settings)
    fitted = template.with_params(template.from_raw(theta))
    n_runs = int(len(np.unique(groups)))
    boot_groups = groups if n_runs >= MIN_RUNS_FOR_RUN_BOOTSTRAP else np.arange(len(y))
    boot = None
    if bootstrap:
        alternative = _distinct(screen_starts(template, X, y, w, settings), 1)
        boot = bootstrap_fit(template, X, y, w, boot_groups, settings,
                             np.vstack([theta, alternative]), bootstrap, seed)
    residuals = residual_report(fitted, theta, X, y, frame)
    run_model = None
    if calibrate:
        run_model = _run_interval_model(template, settings, frame, X, y, groups, theta, n_free)
    result = FitResult(law=fitted, columns=_columns_used(template, settings),
                       n_points=len(y), n_runs=n_runs,
                       objective=value * huber_delta, settings=settings.to_dict(),
                       residuals=residuals, bootstrap_params=boot, level=level,
                       run_interval=run_model)
    result.settings.update({
        "bootstrap": int(bootstrap), "seed": seed,
        "objective": "sum of Huber on log-loss residuals",
        "bootstrap_unit": ("runs" if boot_groups is groups else
                           f"rows (only {n_runs} run(s): resampling runs cannot vary the fit)"),
        "rows": row_notes["rows"]})
    diagnose(result, template, X, w, theta, raw_bounds(template, y, settings), settings)
    result.diagnostics["dropped"] = row_notes["dropped"]
    notes = []
    if row_notes["dropped"]:
        notes.append(row_notes["dropped_message"])
    if reduced:
        notes.append(reduced)
    result.warnings = notes + result.warnings
    return result


def _check_cuts(cuts: Sequence[float] | None) -> tuple[float, ...] | None:
    """Calibration cuts as sorted FLOPs > 0 (one-line error otherwise)."""
    if cuts is None:
        return None
    values = np.asarray(list(cuts), dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise ScalingLabError(f"calibration_cuts must be FLOP counts > 0, got {list(cuts)}")
    return tuple(float(v) for v in np.unique(values))


#: Below this many runs the bootstrap resamples rows instead of runs.
MIN_RUNS_FOR_RUN_BOOTSTRAP = 8


def _reduce_degenerate_design(template: Law, settings: FitSettings, frame: pd.DataFrame):
    """Reduce a Chinchilla fit the design cannot support to the law it can, and say so.

    * one model size: E and A/N^alpha are one constant, so L(D) = E' + B/D^beta;
    * one token count, or every run at the same tokens per parameter (N and D collinear):
      the D term is a constant or a function of N, so L(N) = E' + A/N^alpha;
    With exactly 3 points the reduced law with E would fit them exactly (no residual left to
    estimate the scatter, and E is unidentified), so the law fitted is Kaplan et al.'s (2020)
    form without an irreducible term, L = (x_c / x)^alpha (2 parameters), and the note says
    that it ignores saturation.  With fewer points nothing is reduced and the fit stops.
    """
    if not isinstance(template, Chinchilla) or settings.E_fixed is not None:
        return template, settings, ""
    N = frame[settings.n_column].to_numpy(dtype=float)
    D = frame["tokens"].to_numpy(dtype=float)
    n_sizes, n_tokens = len(np.unique(N)), len(np.unique(D))
    if n_sizes == 1:
        variable = "D"
        why = (f"the table has a single model size (N = {N[0]:.3g}): E and A/N^alpha cannot be "
               f"separated, so the law fitted is L(D) = E' + B/D^beta (E' = E + A/N^alpha), "
               f"valid for this model size only")
    elif n_tokens == 1:
        variable = "N"
        why = (f"every row has the same token count (D = {D[0]:.3g}): E and B/D^beta cannot be "
               f"separated, so the law fitted is L(N) = E' + A/N^alpha, valid at this D only")
    elif _collinear(np.log(N), np.log(D)):
        variable = "N"
        ratio = float(np.median(D / N))
        why = (f"every run has about the same tokens per parameter ({ratio:.3g}): N and D move "
               f"together and their terms cannot be separated, so the law fitted is "
               f"L(N) = E' + A/N^alpha, valid along D/N = {ratio:.3g} only")
    else:
        return template, settings, ""
    if len(frame) < 3:  # even the 2-parameter law would fit exactly: leave the error to the caller
        return template, settings, ""
    irreducible = len(frame) > 3
    if not irreducible:
        why += (f"; with only {len(frame)} points E cannot be determined either, so the law "
                f"fitted is L = ({variable}_c/{variable})^alpha without an irreducible term "
                f"(Kaplan et al. 2020): it assumes no saturation and predicts too low if the "
                f"loss is flattening")
    reduced = replace(settings, law="power", variable=variable, irreducible=irreducible)
    return make_law(reduced), reduced, why


def _collinear(x: np.ndarray, y: np.ndarray) -> bool:
    """log N and log D rising together on one line (r > 0.999): fixed tokens per parameter.

    (r = -1 is one IsoFLOP budget: N and D still vary separately along it.)
    """
    if np.std(x) == 0 or np.std(y) == 0:
        return False
    return float(np.corrcoef(x, y)[0, 1]) > 0.999


def _run_interval_model(template: Law, settings: FitSettings, frame: pd.DataFrame,
                        X: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray,
                        theta: np.ndarray, n_free: int):
    """Scatter of runs around the law and the nested-backtest calibration of extrapolation."""
    residual = np.log(y) - template.log_predict_raw(theta, X)
    scatter, source = run_scatter(residual, groups, n_free)
    reference = reference_of(scale_inputs(template.variables, X))

    def inputs_of(rows: pd.DataFrame) -> dict[str, np.ndarray]:
        return {v: rows[_column_for(v, settings)].to_numpy(dtype=float)
                for v in template.variables}

    # warm starts, as in the bootstrap: the full-data optimum and the best distinct candidate
    w_all = np.ones_like(y) if settings.weights is None else \
        frame[settings.weights].to_numpy(dtype=float)
    starts = np.vstack([theta, _distinct(screen_starts(template, X, y, w_all, settings), 1)])

    def refit(rows: pd.DataFrame):
        Xs, ys, ws, _ = arrays_for(rows, template, settings)
        if len(ys) <= n_free + 1:
            raise FitError("too few rows below the cut")
        if "N" in template.variables and len(np.unique(Xs["N"])) < 3:
            raise FitError("fewer than 3 model sizes below the cut")
        theta_cut, _ = fit_arrays(template, Xs, ys, ws, settings, starts=starts)
        return lambda Xh: template.log_predict_raw(theta_cut, Xh)

    cut_on = None
    if settings.calibration_cuts is not None:
        cut_on = _flops_of(frame, settings)
    model = calibrate_runs(frame, inputs_of, template.variables, refit, scatter, source,
                           reference, given_cuts=settings.calibration_cuts, cut_on=cut_on)
    model.profile = profile_E(template, X, y, w_all, settings, theta,
                              n_eff=int(len(np.unique(groups))))
    return model


def _flops_of(frame: pd.DataFrame, settings: FitSettings) -> np.ndarray:
    """Training FLOPs of each row for the calibration cuts: the ``flops`` column where known
    (exact FLOPs of a sweep's points, on the same scale as its levels), else
    :func:`_compute_of` (6 N D)."""
    fallback = _compute_of(frame, settings)
    if "flops" not in frame.columns:
        if fallback is None:
            raise ScalingLabError("calibration_cuts need a flops column or N and tokens")
        return fallback
    flops = pd.to_numeric(frame["flops"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(flops) & (flops > 0)
    return flops if fallback is None else np.where(known, flops, fallback)


#: Fractions of the lowest observed loss at which E is fixed to trace the profile of the fit.
PROFILE_FRACTIONS = (0.0, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92, 0.97)


def profile_E(template: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
              settings: FitSettings, theta: np.ndarray, n_eff: int) -> list[dict[str, Any]]:
    """Refits with E fixed along a grid: the flat direction the bootstrap may not explore.

    Each entry holds the raw parameters and a likelihood-ratio statistic 2 n log(S_E / S_min),
    with S the summed Huber objective (close to the sum of absolute log residuals at the
    default delta, i.e. a Laplace likelihood) and n the number of *runs* (rows of one run are
    not independent).  A fit whose statistic is below the chi-square(1) quantile of a level is
    as consistent with the data as the optimum: the spread of their predictions at a target is
    the identifiability part of the parameter uncertainty.
    """
    if "e" not in template.raw_names or settings.E_fixed is not None:
        return []
    objective = LogHuberObjective(template, X, y, settings.huber_delta, w, settings.E_prior)
    best = float(objective.value(theta))
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
        lr = 2.0 * n_eff * max(np.log(value / best), 0.0)
        out.append({"theta": [float(t) for t in th], "lr": float(lr), "E": float(E)})
    return out


def prepare_runs(runs: pd.DataFrame | str, law: Law,
                 settings: FitSettings) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validated rows with the columns the law needs, after row selection and filtering.

    Returns the rows and notes: which rows were used and why, and every dropped row.
    """
    needed = tuple(_column_for(v, settings) for v in law.variables) + ("loss",)
    frame = load_runs(runs, require=needed)
    fraction, rows_note = resolve_checkpoints(frame, settings.checkpoints_after)
    frame = select_rows(frame, fraction)  # resolved once: "auto" is already a fraction or None
    notes: dict[str, Any] = {"rows": rows_note, "dropped": [], "dropped_message": ""}
    if settings.frontier_filter is None:
        return frame, notes
    compute = _compute_of(frame, settings)
    if compute is None:
        return frame, notes
    keep = _on_frontier(frame, compute, settings.frontier_filter)
    n_free = len(law.raw_names)
    if keep.all() or keep.sum() <= n_free + 1:
        return frame, notes
    dropped = frame[~keep]
    notes["dropped"] = [{"run_id": str(r.run_id), "loss": float(r.loss),
                         "compute": float(c)} for r, c in zip(dropped.itertuples(),
                                                               compute[~keep], strict=True)]
    runs_dropped = sorted({d["run_id"] for d in notes["dropped"]})
    notes["dropped_message"] = (
        f"dropped {int((~keep).sum())} of {len(frame)} rows ({len(runs_dropped)} run(s)) whose "
        f"final loss is more than {settings.frontier_filter:.0%} above the best final loss at "
        f"the same or less compute (window {FRONTIER_WINDOW_DEX} dex): far from the "
        f"compute-optimal frontier (undertrained, mis-tuned or failed runs): "
        f"{', '.join(runs_dropped[:8])}{' ...' if len(runs_dropped) > 8 else ''} (keep them "
        f"with frontier_filter=None)")
    return frame[keep].reset_index(drop=True), notes


def _on_frontier(frame: pd.DataFrame, compute: np.ndarray, excess: float) -> np.ndarray:
    """Row mask of the frontier filter, judged on each run's final rows.

    A final row (a run's end, or a cooldown branch) off the frontier is dropped; a run none of
    whose final rows is on the frontier is dropped with all its checkpoint rows.  Checkpoints
    are never judged alone: mid-run losses sit above the frontier by construction.
    """
    is_final = _final_mask(frame)
    keep_final = np.ones(len(frame), dtype=bool)
    keep_final[is_final] = frontier_mask(frame["loss"].to_numpy(dtype=float)[is_final],
                                         compute[is_final], excess)
    run = frame["run_id"].astype(str).to_numpy()
    good_runs = set(run[is_final & keep_final])
    in_good_run = np.isin(run, list(good_runs))
    return np.where(is_final, keep_final, in_good_run)


def _final_mask(frame: pd.DataFrame) -> np.ndarray:
    """True on each run's final rows (``final`` flags, else its last row by tokens)."""
    run = frame["run_id"].astype(str)
    flagged = (frame["final"].astype(bool) if "final" in frame.columns
               else pd.Series(False, index=frame.index))
    has_flag = flagged.groupby(run).transform("any")
    order = frame["tokens"] if "tokens" in frame.columns else pd.Series(
        np.arange(len(frame)), index=frame.index)
    is_last = order.eq(order.groupby(run).transform("max"))
    return np.where(has_flag, flagged, is_last).astype(bool)


def _compute_of(frame: pd.DataFrame, settings: FitSettings) -> np.ndarray | None:
    """Training compute of each row in FLOPs: 6ND when N and D are known, else the flops column."""
    if settings.n_column in frame.columns and "tokens" in frame.columns:
        return 6.0 * frame[settings.n_column].to_numpy(dtype=float) * \
            frame["tokens"].to_numpy(dtype=float)
    if "flops" in frame.columns:
        return frame["flops"].to_numpy(dtype=float)
    return None


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
