"""Approach 3: fit a parametric law to run rows by minimising the sum of log-Huber losses.

The pipeline of one fit, each step in its own module: the settings (:mod:`.settings`, checked
once), the rows (:mod:`.rows`: checkpoints, the frontier filter, a row's compute), the law and
its optimiser (:mod:`.optimise`: bounds, the start screen, the polish, profiles), the case
bootstrap over *runs* (:mod:`.bootstrap`), the run-interval calibration (:mod:`.intervals`)
and the identifiability checks (:mod:`.diagnostics`).  The start screen runs once per fit: the
point fit, the bootstrap and the calibration refits all start from it.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit import bootstrap as bootstrap_module
from scalinglab.fit.diagnostics import diagnose, residual_report
from scalinglab.fit.intervals import calibrate as calibrate_runs
from scalinglab.fit.intervals import reference_of, scale_inputs
from scalinglab.fit.optimise import (
    distinct_starts,
    fit_arrays,
    fit_scaled_delta,
    make_law,
    profile_E,
    raw_bounds,
    screen_starts,
)
from scalinglab.fit.plausibility import attach_fit_guards, check_table
from scalinglab.fit.result import FitProcedure, FitResult
from scalinglab.fit.rows import arrays_for, column_for, columns_used, prepare_runs, row_compute
from scalinglab.fit.settings import FitSettings
from scalinglab.fit.uncertainty import (
    free_parameters,
    parameter_covariance,
    parameter_sd,
    run_scatter,
    scatter_dof,
)
from scalinglab.laws.base import Law
from scalinglab.laws.forms import Chinchilla

OBJECTIVE = "sum of Huber on log-loss residuals"


def fit_parametric(runs: pd.DataFrame | str, settings: FitSettings | None = None,
                   **overrides: Any) -> FitResult:
    """Fit a law (``chinchilla``, ``kaplan``, ``power`` or another registered form) to runs.

    ``runs`` is a DataFrame with record columns (or a path read by :func:`load_runs`).  N comes
    from ``n_column`` (``n_params`` = non-embedding, ``n_params_total`` = all parameters), D from
    ``tokens``, C from ``flops``; losses are nats/token.  ``settings`` is a
    :class:`~scalinglab.fit.FitSettings` (default: its defaults) and ``overrides`` replace
    fields of it by name (``law="power"``, ``bootstrap=1000``, ``E_fixed=1.7`` ...; every field
    with its unit is listed on :class:`FitSettings`).  Returns a :class:`FitResult` with
    bootstrap draws when ``bootstrap > 0`` and, with ``calibrate``, the calibrated pieces of
    its run-level prediction intervals (:mod:`scalinglab.fit.intervals`).

    Defaults that use what the data offer (each reported in ``result.procedure.rows``):
    ``checkpoints_after="auto"`` fits loss curves past 10% of each run when the table has them
    (final rows otherwise); ``frontier_filter=0.1`` drops rows more than 10% above the best
    loss at the same compute (listed in ``result.rows`` and ``result.diagnostics["dropped"]``);
    a Chinchilla fit to a table with a single model size becomes L(D) = E + B/D^beta, and says so.
    """
    if isinstance(settings, str):   # fit_parametric(runs, "power", ...): the law by position
        overrides = {"law": settings, **overrides}
        settings = None
    settings = FitSettings.build(settings, **overrides)
    template = make_law(settings)
    frame, row_notes = prepare_runs(runs, template, settings)
    template, settings, reduced = _reduce_degenerate_design(template, settings, frame)
    X, y, w, groups = arrays_for(frame, template, settings)
    n_free = len(template.raw_names) - (1 if settings.E_fixed is not None else 0)
    if len(y) <= n_free:
        raise FitError(f"{len(y)} points cannot determine {n_free} free parameters of the "
                       f"{template.name} law; need more than {n_free}")
    table_guards = check_table(frame, settings.n_column, settings.E_fixed,
                               tuple(template.variables))
    screened = screen_starts(template, X, y, w, settings)   # once: fit, bootstrap, calibration
    theta, value, delta = fit_scaled_delta(template, X, y, w, settings, screened=screened)
    settings = replace(settings, huber_delta=delta)   # the bootstrap and the cuts use it too
    fitted = template.with_params(template.from_raw(theta))
    n_runs = int(len(np.unique(groups)))
    boot_groups = groups if n_runs >= MIN_RUNS_FOR_RUN_BOOTSTRAP else np.arange(len(y))
    starts = np.vstack([theta, distinct_starts(screened, 1)])
    boot = None
    if settings.bootstrap:
        # looked up on the module at call time (bench/fit_speed.py times it by wrapping it)
        boot = bootstrap_module.bootstrap_fit(template, X, y, w, boot_groups, settings, starts,
                                              settings.bootstrap, settings.seed)
    run_model = None
    if settings.calibrate:
        run_model = _run_interval_model(template, settings, frame, X, y, groups, theta, n_free,
                                        starts)
    procedure = FitProcedure(
        objective=OBJECTIVE, rows=row_notes["rows"],
        bootstrap_unit=("runs" if boot_groups is groups else
                        f"rows (only {n_runs} run(s): resampling runs cannot vary the fit)"))
    result = FitResult(law=fitted, columns=columns_used(template, settings),
                       n_points=len(y), n_runs=n_runs,
                       objective=value * settings.huber_delta, settings=settings,
                       residuals=residual_report(fitted, theta, X, y, frame),
                       bootstrap_params=boot, level=settings.level, run_interval=run_model,
                       procedure=procedure, rows=row_notes["table"])
    diagnose(result, template, X, w, theta, raw_bounds(template, y, settings), settings)
    result.diagnostics["dropped"] = row_notes["dropped"]
    attach_fit_guards(result, frame, settings.n_column, table_guards)
    notes = list(row_notes["table_warnings"])
    notes += [row_notes["dropped_message"]] if row_notes["dropped"] else []
    envelope = row_notes["envelope"]
    if envelope is not None:
        result.diagnostics["hparam_envelope"] = asdict(envelope)
        notes.insert(0, envelope.message())
    if reduced:
        notes.append(reduced)
    result.warnings = notes + result.warnings
    return result


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
                        theta: np.ndarray, n_free: int, starts: np.ndarray):
    """Scatter of runs around the law and the nested-backtest calibration of extrapolation.

    Every refit below a cut is polished from ``starts`` -- the full-data optimum and the best
    distinct candidate of the full data's start screen, as in the bootstrap -- not from a
    screen of its own subset.
    """
    residual = np.log(y) - template.log_predict_raw(theta, X)
    scatter, source = run_scatter(residual, groups, n_free)
    reference = reference_of(scale_inputs(template.variables, X))

    def covariance(theta_at, Xs, ys, ws, gs) -> np.ndarray:
        free = free_parameters(theta_at, raw_bounds(template, ys, settings))
        return parameter_covariance(template.log_jacobian_raw(theta_at, Xs), ws, gs, scatter,
                                    free)

    def inputs_of(rows: pd.DataFrame) -> dict[str, np.ndarray]:
        return {v: rows[column_for(v, settings)].to_numpy(dtype=float)
                for v in template.variables}

    def refit(rows: pd.DataFrame):
        Xs, ys, ws, gs = arrays_for(rows, template, settings)
        if len(ys) <= n_free + 1:
            raise FitError("too few rows below the cut")
        if "N" in template.variables and len(np.unique(Xs["N"])) < 3:
            raise FitError("fewer than 3 model sizes below the cut")
        theta_cut, _ = fit_arrays(template, Xs, ys, ws, settings, starts=starts)
        cov = covariance(theta_cut, Xs, ys, ws, gs)
        return (lambda Xh: template.log_predict_raw(theta_cut, Xh),
                lambda Xh: parameter_sd(template.log_jacobian_raw(theta_cut, Xh), cov))

    # the cuts compare with each row's FLOPs (flops column, else 6ND)
    cut_on = row_compute(frame, settings.n_column)
    if cut_on is not None and not np.all(np.isfinite(cut_on) & (cut_on > 0)):
        cut_on = None  # some rows lack compute: the law's own inputs place the cuts
    if cut_on is None and (settings.calibration_cuts is not None or settings.levels is not None):
        given = "calibration_cuts" if settings.calibration_cuts is not None else "levels"
        raise ScalingLabError(f"{given} need a flops column or N and tokens")
    model = calibrate_runs(frame, inputs_of, template.variables, refit, scatter, source,
                           reference, given_cuts=settings.calibration_cuts, cut_on=cut_on,
                           given_levels=settings.levels)
    w = np.ones_like(y) if settings.weights is None else \
        frame[settings.weights].to_numpy(dtype=float)
    model.profile = profile_E(template, X, y, w, settings, theta,
                              n_eff=int(len(np.unique(groups))))
    model.details["scatter_dof"] = scatter_dof(groups, n_free)
    model.parameter_cov = covariance(theta, X, y, w, groups).tolist()
    return model
