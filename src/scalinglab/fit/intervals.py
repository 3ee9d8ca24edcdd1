"""Run-level prediction intervals: how far the measured loss of a *new run* may fall from the law.

A bootstrap over runs gives the uncertainty of the fitted *mean law* (``kind="law"``).  A user
who asks "what loss will my run reach?" needs more (``kind="run"``): the loss of one run also
scatters around the law, and the law itself degrades the further it is pushed beyond the data.
In log-loss units the interval half-width at a target is about

    q * sqrt(s_run^2 + s_param^2 + (kappa * u)^2)

* ``s_param`` -- the parameter uncertainty at the target: the largest of the sd of the
  bootstrap's log predictions, the delta-method sd of the fit (``fit.uncertainty``; the only
  one without a bootstrap) and the spread along the profile of E (a flat direction neither
  explores, see ``profile_sd``).  Its delta-method part is scaled by q with the rest; what
  only the bootstrap or the profile sees enters at the Gaussian z (1.645 at 90%), as its own
  distribution: half-width^2 = q^2 (s_run^2 + s_delta^2 + (kappa u)^2) + z^2 (s_param^2 -
  s_delta^2).
* ``s_run`` -- run-to-run scatter: the sd of the per-run mean log-loss residuals of the fit,
  with a degrees-of-freedom correction (``fit.uncertainty.run_scatter``).
* ``u`` -- the extrapolation distance in decades: the largest of log10(x / x_max) over the
  law's inputs (N, D and C = 6ND, or the single variable of a power law), 0 inside the data.
* ``kappa`` -- the error per decade of extrapolation that the scatter and the parameters do
  not explain (the law's form missing the trend), and ``q`` the multiplier, both calibrated by
  backtests inside the user's own data: the fit is redone on nested subsets below several
  compute cuts and scored on the runs (or, for one or two loss curves, the rows) above each
  cut.  ``kappa`` comes from the second moment of those errors, E[e^2] = s_run^2 + p^2 +
  kappa^2 u^2 with p the delta-method sd of the refit below the cut at the held-out run (a
  fit on fewer levels extrapolates worse: without p, kappa charged the full fit with the
  refits' larger parameter error, and the 10x interval of a simulated sweep was 1.2x wider
  than its errors needed), less one standard error of kappa^2 (a slope the backtests cannot
  tell from zero is not charged).  ``q`` is the split-conformal quantile of the normalised errors
  |e| / sqrt(s_run^2 + p^2 + (kappa u)^2), each cut weighted equally (with too few scores to
  certify the level, the t-based Gaussian prediction multiplier of their RMS instead).
* Only held-out runs that the law fitted below a cut predicts near its own frontier (within
  ``CALIBRATION_FRONTIER_BAND``) score: the far ends of IsoFLOP valleys (a few tokens per
  parameter) are not the runs a user plans, and would set the width for every target.

Assumptions, stated so they can be checked: the errors of the nested backtests are
representative of the error at the target: the parameters' part grows as the bootstrap (or the
delta method) says, and the unexplained part linearly in the decades of extrapolation, as a
trend the law's form misses does.  (Fits saved before the parameter part was separated kept
it inside kappa, and grew it as sqrt(u u_c) beyond the backtests' reach u_c:
:meth:`RunIntervalModel.effective_distance`.)  Backtest errors of nested cuts are correlated,
so the conformal guarantee is approximate, not exact.  When fewer than
``MIN_SCORES`` backtest errors from at least two cuts are available, the interval falls back to
a documented default slope (``DEFAULT_SLOPE``, measured on the development library in
``bench/extrapolation.py``) and Student's t multiplier on the scatter's residual degrees of
freedom (:func:`uncalibrated_multiplier`), and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.cuts import plan_cuts
from scalinglab.fit.interval_text import describe_method
from scalinglab.fit.quantiles import (
    central_z,
    chi2_ppf,
    student_t_ppf,
    weighted_conformal_quantile,
)
from scalinglab.fit.uncertainty import MIN_SCATTER, parameter_sd

#: Fewer backtest errors than this (or fewer than two cuts) and the slope is not calibrated.
MIN_SCORES = 8
#: kappa^2 is its moment estimate less this many standard errors (``_moment_slope``):
#: measured at 0, 0.5 and 1 on bench/isoflop_simulation.py (5 seeds) and
#: bench/extrapolation.py (bench/README.md).
SLOPE_SHRINK_SE = 1.0
#: Fallback slope kappa (sd of log loss per decade of extrapolation) when the data cannot
#: calibrate one.  Chosen from the calibrated slopes on the development library and the Epoch
#: data (bench/extrapolation.py, bench/README.md): a conservative upper quartile.
DEFAULT_SLOPE = 0.03
#: A quantity counts as calibrated when some nested backtest extrapolated this far along it.
MIN_REACH_DECADES = 0.05
#: Runs needed to calibrate by held-out *runs*; with fewer, held-out *rows* of the curves.
MIN_RUNS_FOR_RUN_CUTS = 6
#: Held-out runs score the calibration only if the law fitted below the cut predicts them
#: within this fraction of its own frontier (the lowest loss it predicts at their compute):
#: runs like the ones a user plans.  Chosen by the outcome, a filter would bias the scores;
#: this one uses the design and the fitted law only.  Very undertrained points (a few tokens
#: per parameter at the far end of an IsoFLOP valley) are what it leaves out: the law misses
#: them by 5-12% on the KJV demo's sweep, near-frontier points by 0-3%.  Same value as the
#: fit's default frontier filter (``fit.settings.DEFAULT_FRONTIER_FILTER``).
CALIBRATION_FRONTIER_BAND = 0.1
FRONTIER_GRID = np.linspace(-2.0, 2.0, 81)  # decades of N around each held-out run

KINDS = ("run", "law")


@dataclass
class RunIntervalModel:
    """The calibrated pieces of a run-level interval (all in log-loss units).

    ``scatter`` (s_run), ``slope`` (kappa, per decade), the normalised backtest ``scores`` and
    their ``weights`` (for the conformal multiplier at any level), ``reference`` (largest fitted
    N in parameters, D in tokens, C in FLOPs = 6ND), ``calibrated`` (False: the default slope
    and the Gaussian multiplier are used), and ``details`` (cuts, counts, signed errors, the
    largest calibrated distance, why calibration was not possible).  ``parameter_cov``: the
    fit's delta-method covariance of its raw parameters; ``separates_parameters``: kappa and
    the scores exclude the parameters' error, which the interval adds at the target (False
    for fits saved before: the old combination, see the module docstring).
    """

    scatter: float
    scatter_source: str
    slope: float
    calibrated: bool
    reference: dict[str, float]
    scores: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    profile: list[dict[str, Any]] = field(default_factory=list)
    parameter_cov: list[list[float]] = field(default_factory=list)
    separates_parameters: bool = False

    # -- the interval -----------------------------------------------------------------------------
    def multiplier(self, level: float) -> float:
        """q: the conformal quantile of the normalised backtest errors (Gaussian if uncalibrated)."""
        if not self.calibrated or not self.scores:
            return uncalibrated_multiplier(level, self.details.get("scatter_dof"))
        return weighted_conformal_quantile(np.asarray(self.scores), np.asarray(self.weights),
                                           level)

    def distance(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Extrapolation distance u in decades (0 inside the data) for law inputs."""
        return extrapolation_distance(inputs, self.reference)

    def effective_distance(self, u: np.ndarray) -> np.ndarray:
        """u; for fits saved before the parameters' error was separated, sqrt(u u_c) beyond the
        farthest distance the backtests reached (u_c), as they were made (module docstring)."""
        u = np.asarray(u, dtype=float)
        reach = float(self.details.get("max_distance", 0.0)) if self.calibrated else 0.0
        if reach <= 0 or self.separates_parameters:
            return u
        return np.where(u > reach, np.sqrt(u * reach), u)

    def components(self, inputs: dict[str, np.ndarray], param_sd: np.ndarray | float,
                   level: float, delta_sd: np.ndarray | float = 0.0) -> dict[str, Any]:
        """Half-widths (log loss) of each source alone and combined, and their variance shares.

        ``param_sd``: the parameters' sd at the target (the largest measure); ``delta_sd``: its
        delta-method part, the kind the backtests' scores were normalised by.
        """
        u = self.distance(inputs)
        q = self.multiplier(level)
        s_param = np.broadcast_to(np.asarray(param_sd, dtype=float), np.shape(u))
        s_extra = self.slope * self.effective_distance(u)
        blind = self.uncalibrated_quantities()
        if blind:  # extrapolation along a quantity the nested backtests never moved in
            u_blind = extrapolation_distance(inputs, {k: self.reference[k] for k in blind})
            s_extra = np.sqrt(s_extra**2 + (DEFAULT_SLOPE * u_blind) ** 2)
        calibrated = np.sqrt(self.scatter**2 + s_extra**2)
        var = np.maximum(s_param**2 + calibrated**2, 1e-300)
        gauss = central_z(level)
        if self.separates_parameters:
            # q was calibrated on scatter + delta-method sd + kappa u; parameter spread that
            # only the bootstrap or the E profile sees (a flat direction) at the Gaussian z
            delta = np.minimum(np.broadcast_to(np.asarray(delta_sd, dtype=float), np.shape(u)),
                               s_param)
            total = np.sqrt(var)
            half = np.sqrt(q**2 * calibrated**2 + max(q, gauss) ** 2 * delta**2
                           + gauss**2 * (s_param**2 - delta**2))
            half = np.maximum(half, gauss * MIN_SCATTER)
            # poorly determined: the spread the delta method does not see sets most of the width
            dominate = s_param**2 - delta**2 > calibrated**2 + delta**2
        else:  # saved before: each source at its own multiplier, the larger rules
            dominate = s_param > calibrated
            total = np.maximum(calibrated, s_param)
            half = np.maximum(np.maximum(q * calibrated, gauss * s_param), gauss * MIN_SCATTER)
        return {
            "multiplier": q, "distance_decades": u, "total_sd_log": total,
            "half_width_log": half,
            "parameters_sd_log": s_param, "run_scatter_sd_log": np.full_like(u, self.scatter),
            "extrapolation_sd_log": s_extra,
            "parameters_dominate": dominate,
            "share": {"parameters": s_param**2 / var, "run_scatter": self.scatter**2 / var,
                      "extrapolation": s_extra**2 / var},
        }

    def uncalibrated_quantities(self) -> list[str]:
        """Quantities (N, D, C) along which no nested backtest extrapolated.

        Extrapolation along them gets the default slope on top: with one or two curves the
        backtests move in D only, and say nothing about a larger model.
        """
        reach = self.details.get("reach", {})
        if not self.calibrated or not reach:
            return []
        return [k for k in self.reference if reach.get(k, 0.0) < MIN_REACH_DECADES]

    # -- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"scatter": self.scatter, "scatter_source": self.scatter_source,
                "slope": self.slope, "calibrated": self.calibrated,
                "reference": dict(self.reference), "scores": list(self.scores),
                "weights": list(self.weights), "details": self.details,
                "profile": self.profile, "parameter_cov": self.parameter_cov,
                "separates_parameters": self.separates_parameters,
                "method": describe_method(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunIntervalModel:
        return cls(scatter=float(data["scatter"]), scatter_source=data["scatter_source"],
                   slope=float(data["slope"]), calibrated=bool(data["calibrated"]),
                   reference={k: float(v) for k, v in data["reference"].items()},
                   scores=[float(s) for s in data.get("scores", [])],
                   weights=[float(w) for w in data.get("weights", [])],
                   details=dict(data.get("details", {})),
                   profile=list(data.get("profile", [])),
                   parameter_cov=[list(map(float, row)) for row in data.get("parameter_cov", [])],
                   separates_parameters=bool(data.get("separates_parameters", False)))

    def delta_sd(self, law, X: dict[str, np.ndarray]) -> np.ndarray | float:
        """Delta-method sd (log loss) of the law's log prediction at ``X`` (0 without a
        covariance)."""
        if not self.parameter_cov:
            return 0.0
        theta = law.to_raw(law.params)
        return parameter_sd(law.log_jacobian_raw(theta, X), np.asarray(self.parameter_cov))

    def profile_sd(self, law, X: dict[str, np.ndarray], level: float) -> np.ndarray | float:
        """sd-equivalent (log loss) of the spread of predictions over the E profile.

        The range of log predictions of every profile fit whose likelihood-ratio statistic is
        below the chi-square(1) quantile at ``level``, divided by 2 z (a central ``level``
        range of a normal has width 2 z sd).
        """
        accepted = [p["theta"] for p in self.profile if p["lr"] <= chi2_ppf(level, 1)]
        if len(accepted) < 2:
            return 0.0
        preds = law.log_predict_raw(np.asarray(accepted, dtype=float), X)
        return (preds.max(axis=0) - preds.min(axis=0)) / (2 * central_z(level))


def uncalibrated_multiplier(level: float, dof: float | None) -> float:
    """Without backtests: Student's t at ``level`` on the scatter's residual degrees of freedom
    (runs minus free parameters; a scale estimated from 3 runs of a 2-parameter law is no
    Gaussian sd), Gaussian when they are unknown (a fit saved before they were recorded)."""
    if dof is None:
        return central_z(level)
    return float(student_t_ppf(0.5 + level / 2, max(float(dof), 1.0)))


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ScalingLabError(f"interval kind must be 'run' (a new run's measured loss) or "
                              f"'law' (the mean law, parameter uncertainty only), got {kind!r}")
    return kind


# -- pieces ---------------------------------------------------------------------------------------
def scale_inputs(law_variables: tuple[str, ...], X: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The quantities extrapolation is measured in: the law's inputs, plus C = 6ND for L(N, D)."""
    out = {v: np.asarray(X[v], dtype=float) for v in law_variables if v in X}
    if "N" in out and "D" in out:
        out["C"] = 6.0 * out["N"] * out["D"]
    return out


def reference_of(scaled: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.max(v)) for k, v in scaled.items()}


def extrapolation_distance(scaled: dict[str, np.ndarray], reference: dict[str, float]) -> np.ndarray:
    """max over quantities of log10(x / x_max), floored at 0 (decades beyond the data)."""
    parts = [np.log10(np.asarray(scaled[k], dtype=float) / ref)
             for k, ref in reference.items() if k in scaled]
    if not parts:
        raise ScalingLabError("no input to measure the extrapolation distance with")
    return np.maximum(np.max(np.broadcast_arrays(*parts), axis=0), 0.0)


# -- calibration ----------------------------------------------------------------------------------
#: law inputs -> log loss (the prediction), or its delta-method sd
Predictor = Callable[[dict[str, np.ndarray]], np.ndarray]
#: refit(frame_subset) -> (predicted log loss, its parameter sd or None) of the refit law
Refit = Callable[[pd.DataFrame], tuple[Predictor, Predictor | None]]


def calibrate(frame: pd.DataFrame, inputs_of: Callable[[pd.DataFrame], dict[str, np.ndarray]],
              law_variables: tuple[str, ...], refit: Refit, scatter: float, scatter_source: str,
              reference: dict[str, float], by_runs: bool | None = None,
              given_cuts: tuple[float, ...] | None = None,
              cut_on: np.ndarray | None = None,
              given_levels: tuple[float, ...] | None = None) -> RunIntervalModel:
    """Nested backtests inside ``frame`` (the fitted rows): the slope kappa and the scores.

    ``inputs_of(rows)`` gives the law inputs of rows, ``refit(rows)`` refits the law with the
    same settings and returns its log-loss predictor and its delta-method sd (or None).
    ``cut_on`` is the value of each row the cuts compare with (its FLOPs; default C = 6ND from
    the law's inputs, or its one variable).  The cuts (:func:`fit.cuts.plan_cuts`) lie between
    the compute levels of an IsoFLOP sweep -- detected, or ``given_levels`` [FLOPs] -- at
    ``given_cuts`` [FLOPs], or, for tables without levels, at fractions of the runs ordered by
    their largest compute; with fewer than :data:`MIN_RUNS_FOR_RUN_CUTS` runs the cuts split
    the rows of the curves instead.
    """
    quantity, size = _cut_quantity(scale_inputs(law_variables, inputs_of(frame)), cut_on)
    if by_runs is None:
        by_runs = frame["run_id"].nunique() >= MIN_RUNS_FOR_RUN_CUTS
    run_size, per_run = _run_sizes(frame, size, by_runs)
    plan = plan_cuts(per_run, by_runs, given_cuts, given_levels, quantity)
    scored: list[tuple[float, CutScores]] = []
    reach: dict[str, float] = {}
    for cut in plan.cuts:
        one = _score_cut(frame, run_size < cut, inputs_of, law_variables, refit, by_runs, reach)
        if one is not None:
            scored.append((float(cut), one))
    cuts = [cut for cut, _ in scored]
    details: dict[str, Any] = {"unit": "runs" if by_runs else "rows",
                               "cut_plan": plan.to_dict(cuts),
                               "cuts_given": None if given_cuts is None else list(given_cuts),
                               "n_cuts": len(cuts), "cuts": cuts, "reach": reach}
    return _run_interval_model([one for _, one in scored], details, scatter, scatter_source,
                               reference)


@dataclass
class CutScores:
    """One cut's held-out rows: ``errors`` ln L - ln L_hat (log loss), ``distances`` u (decades
    beyond the rows below the cut), ``weights`` (sum 1), ``run_ids`` (none by rows),
    ``parameter_sd`` (the refit's delta-method sd at each, log loss; None if not given)."""

    errors: np.ndarray
    distances: np.ndarray
    weights: np.ndarray
    run_ids: tuple = ()
    parameter_sd: np.ndarray | None = None


def _cut_quantity(scaled: dict[str, np.ndarray], cut_on: np.ndarray | None
                  ) -> tuple[str, np.ndarray]:
    """What the cuts compare with, and its value per row: ``cut_on`` (FLOPs) if given, else
    C = 6ND, else the law's one variable."""
    if cut_on is not None:
        return "compute (FLOPs)", np.asarray(cut_on, dtype=float)
    if "C" in scaled:
        return "compute (FLOPs)", scaled["C"]
    quantity = next(iter(scaled))
    return quantity, scaled[quantity]


def _run_sizes(frame: pd.DataFrame, size: np.ndarray, by_runs: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's size for the cut (its run's largest when cutting by runs) and the sizes the
    cut plan reads (one per run, or one per row)."""
    if not by_runs:
        return size, size
    groups = pd.Series(size).groupby(frame["run_id"].to_numpy())
    return groups.transform("max").to_numpy(), groups.max().to_numpy()


def _score_cut(frame: pd.DataFrame, below: np.ndarray,
               inputs_of: Callable[[pd.DataFrame], dict[str, np.ndarray]],
               law_variables: tuple[str, ...], refit: Refit, by_runs: bool,
               reach: dict[str, float]) -> CutScores | None:
    """Refit on the rows ``below`` the cut, score the held-out rows near its frontier.

    None when the cut cannot be used (too few rows either side, a failed refit, no held-out row
    near the frontier, a non-finite error).  ``reach`` (decades beyond the cut per quantity)
    is extended in place.
    """
    if below.sum() < 3 or (~below).sum() < 1:
        return None
    try:
        predict_log, sd_of = refit(frame[below].reset_index(drop=True))
    except (FitError, ScalingLabError, np.linalg.LinAlgError, ValueError):
        return None
    held = frame[~below]
    X_held = inputs_of(held)
    near = near_frontier(predict_log, X_held, CALIBRATION_FRONTIER_BAND)
    if not near.any():
        return None
    held = held[near]
    X_held = {k: v[near] for k, v in X_held.items()}
    errors = np.log(held["loss"].to_numpy(dtype=float)) - predict_log(X_held)
    ref_cut = reference_of(scale_inputs(law_variables, inputs_of(frame[below])))
    scaled_held = scale_inputs(law_variables, X_held)
    distances = extrapolation_distance(scaled_held, ref_cut)
    for k, ref in ref_cut.items():
        reach[k] = max(reach.get(k, 0.0), float(np.max(np.log10(scaled_held[k] / ref))))
    if not np.all(np.isfinite(errors)):
        return None
    run_ids = tuple(held["run_id"].unique()) if by_runs else ()
    sd = None if sd_of is None else np.asarray(sd_of(X_held), dtype=float)
    return CutScores(errors, distances, _held_weights(held, by_runs), run_ids, sd)


def _held_weights(held: pd.DataFrame, by_runs: bool) -> np.ndarray:
    """Each held-out run weighs the same within its cut (its rows share it); sum 1."""
    rid = held["run_id"].to_numpy() if by_runs else np.arange(len(held))
    counts = pd.Series(rid).map(pd.Series(rid).value_counts()).to_numpy(dtype=float)
    w = 1.0 / counts
    return w / w.sum()


def _run_interval_model(scored: list[CutScores], details: dict[str, Any], scatter: float,
                        scatter_source: str, reference: dict[str, float]) -> RunIntervalModel:
    """The slope and the normalised scores from the cuts' errors (each cut weighs 1), or an
    uncalibrated model (default slope) when there are too few cuts or errors."""
    n_errors = sum(len(one.errors) for one in scored)
    if len(scored) < 2 or n_errors < MIN_SCORES:
        details["reason"] = (f"{len(scored)} usable cut(s) and {n_errors} held-out "
                             f"{details['unit']}; need >= 2 cuts and >= {MIN_SCORES} errors")
        return RunIntervalModel(scatter=scatter, scatter_source=scatter_source,
                                slope=DEFAULT_SLOPE, calibrated=False, reference=reference,
                                details=details)
    e, u, w = (np.concatenate([getattr(one, name) for one in scored])
               for name in ("errors", "distances", "weights"))
    separates = all(one.parameter_sd is not None for one in scored)
    explained = np.sqrt(scatter**2 + (np.concatenate([one.parameter_sd for one in scored])
                                      if separates else 0.0) ** 2)
    slope = _moment_slope(e, u, w, explained)
    scores = np.abs(e) / np.sqrt(explained**2 + (slope * u) ** 2)
    details.update({"n_scores": int(len(e)), "n_runs_scored": len({r for one in scored for r in one.run_ids}),
                    "max_distance": float(u.max()),
                    "median_distance": float(np.median(u)),
                    "mean_signed_error_log": float(np.sum(w * e) / np.sum(w)),
                    "rms_error_log": float(np.sqrt(np.sum(w * e**2) / np.sum(w)))})
    return RunIntervalModel(scatter=scatter, scatter_source=scatter_source, slope=slope,
                            calibrated=True, reference=reference, scores=scores.tolist(),
                            weights=w.tolist(), details=details,
                            separates_parameters=separates)


def near_frontier(predict_log: Callable[[dict[str, np.ndarray]], np.ndarray],
                  X: dict[str, np.ndarray], band: float) -> np.ndarray:
    """Rows the law predicts within ``band`` (relative) of its lowest loss at their compute.

    The frontier at a row's C = 6ND is found on a grid of N over +-2 decades (D = C / 6N);
    laws without both N and D have no frontier, and every row counts.
    """
    if not {"N", "D"} <= set(X):
        return np.ones(len(next(iter(X.values()))), dtype=bool)
    N, D = X["N"], X["D"]
    grid_N = N[:, None] * 10.0 ** FRONTIER_GRID[None, :]
    grid_D = (N * D)[:, None] / grid_N
    grid = {k: np.broadcast_to(v[:, None], grid_N.shape).ravel() for k, v in X.items()
            if k not in ("N", "D")}
    grid.update({"N": grid_N.ravel(), "D": grid_D.ravel()})
    lowest = predict_log(grid).reshape(grid_N.shape).min(axis=1)
    with np.errstate(invalid="ignore"):
        return predict_log(X) <= lowest + np.log1p(band)


def _moment_slope(e: np.ndarray, u: np.ndarray, w: np.ndarray,
                  explained: np.ndarray | float) -> float:
    """kappa from E[e^2] = explained^2 + kappa^2 u^2 (``explained``: the scatter and the
    refits' parameter sd), weighted least squares through the origin, less
    :data:`SLOPE_SHRINK_SE` standard errors of kappa^2 (floored at 0).

    The plain positive part max(kappa^2, 0) charges every table whose backtests drew a few
    large errors by chance with a slope: where the law's form is right (true kappa = 0) it is
    positive in about half the tables.  Less one standard error, a slope the backtests cannot
    tell from zero is not charged; the multiplier q is calibrated afterwards on the errors
    normalised by this slope, so the interval still covers the backtests' own errors.
    """
    u2 = u**2
    denom = float(np.sum(w * u2 * u2))
    if denom <= 0:
        return 0.0
    excess = e**2 - np.square(explained)
    k2 = float(np.sum(w * u2 * excess)) / denom
    n = len(e)
    if n > 1:  # sandwich variance of the weighted least-squares estimate
        residual = excess - k2 * u2
        variance = float(np.sum((w * u2 * residual) ** 2)) / denom**2 * n / (n - 1)
        k2 -= SLOPE_SHRINK_SE * np.sqrt(variance)
    return float(np.sqrt(max(k2, 0.0)))
