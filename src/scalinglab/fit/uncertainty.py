"""The two measured noise sources of a run interval: run-to-run scatter and parameter error.

Both are in log-loss units (ln nats/token).  :mod:`scalinglab.fit.intervals` combines them with
the extrapolation term its nested backtests calibrate.

* ``run_scatter`` -- the sd of the runs around the fitted law: the root mean square of the
  per-run mean residuals with the degrees-of-freedom correction of a residual variance,
  sqrt(sum r^2 / (n - p)), after setting aside gross outliers (beyond
  :data:`OUTLIER_ROBUST_SDS` robust sds, :func:`robust_sd`, from the median).  Under Gaussian
  run noise this is the efficient, nearly unbiased estimate; the median absolute deviation
  alone (used before) has 37% of its efficiency and, with 20 residual degrees of freedom, read
  0.88 of the true sd on the median simulated IsoFLOP sweep (0.98 for this one;
  bench/README.md).  An
  underestimated scatter is an interval too narrow in the data and a slope too steep beyond
  it.
* ``parameter_sd`` -- the delta-method sd of the law's log prediction,
  sqrt(g' Cov g) with Cov = s^2 (J' W J)^+ over the fitted rows (each run weighs one
  observation, its rows sharing the weight: rows of one loss curve are not independent), g
  and J the gradients of log L in the raw parameters.  Parameters at an active bound (E at its
  floor, a fixed E) are held fixed, and directions the rows do not determine
  (eigenvalues below :data:`RCOND` of the largest) are dropped: there the bootstrap and the
  profile of E (``fit.intervals``) measure the spread instead.  On simulated IsoFLOP sweeps
  it matches the RMS error of refits below a compute cut to 2% (bench/README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Floor on the run-to-run scatter (log loss): losses are rarely reproducible to better than
#: this across seeds, and a zero scatter (an exactly fitted table) must not give zero width.
MIN_SCATTER = 1e-3
#: Residuals beyond this many robust sds (1.4826 x MAD) are gross outliers -- a broken run,
#: a mislabelled row -- and do not set the scatter.  Far out on purpose: the MAD of a few dozen
#: residuals of a Huber fit reads low (0.6-0.9 of the sd on simulated sweeps), and at 3 robust
#: sds one or two honest runs of 25 were set aside, the scatter read 0.6-0.85 of the truth.
OUTLIER_ROBUST_SDS = 5.0
#: Relative eigenvalue below which a parameter direction counts as undetermined.
RCOND = 1e-10
#: The median absolute deviation times this is a consistent sd at the normal.
MAD_TO_SD = 1.4826


def robust_sd(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation from the median: an sd that outliers do not move."""
    v = np.asarray(values, dtype=float)
    return MAD_TO_SD * float(np.median(np.abs(v - np.median(v))))


def run_scatter(residual_log: np.ndarray, groups: np.ndarray, n_free: int) -> tuple[float, str]:
    """sd (log loss) of per-run mean residuals, or of rows when there are < 3 runs.

    The RMS of the values within :data:`OUTLIER_ROBUST_SDS` robust sds of their median, with
    the residual degrees-of-freedom correction sqrt(n / (n - p)), at least
    :data:`MIN_SCATTER`.  Returns the sd and a sentence on what it was measured on.
    """
    frame = pd.DataFrame({"r": residual_log, "g": groups})
    per_run = frame.groupby("g")["r"].mean().to_numpy()
    if len(per_run) >= 3:
        values, source = per_run, f"residuals by run ({len(per_run)} runs)"
    else:
        values, source = residual_log, (f"residuals by row ({len(residual_log)} rows of "
                                        f"{len(per_run)} run(s): run-to-run scatter is not "
                                        f"measurable)")
    values = np.asarray(values, dtype=float)
    spread = robust_sd(values)
    kept = values
    if spread > 0:
        inside = np.abs(values - np.median(values)) <= OUTLIER_ROBUST_SDS * spread
        if inside.sum() < len(values):
            kept = values[inside]
            source += f"; {len(values) - len(kept)} outlying value(s) set aside"
    rms = float(np.sqrt(np.mean(np.square(kept))))
    n = len(kept)
    dof = n / (n - n_free) if n > n_free + 1 else 2.0
    return max(rms * np.sqrt(dof), MIN_SCATTER), source


def scatter_dof(groups: np.ndarray, n_free: int) -> int:
    """Residual degrees of freedom of :func:`run_scatter`: its values (runs, or rows below 3
    runs) minus the law's free parameters, at least 1."""
    n_runs = len(np.unique(groups))
    return max((n_runs if n_runs >= 3 else len(groups)) - n_free, 1)


def parameter_covariance(jacobian: np.ndarray, weights: np.ndarray, groups: np.ndarray,
                         scatter: float, free: np.ndarray) -> np.ndarray:
    """Delta-method covariance (k, k) of the raw parameters; zero rows/columns where not free.

    ``jacobian`` (n, k) is d log L / d theta at the fitted rows, ``weights`` their fit weights,
    ``groups`` their run, ``scatter`` the run scatter (log loss), ``free`` a (k,) mask of the
    parameters not held at a bound.  Each run is one observation; with fewer than 3 runs each
    row is, as the scatter is then measured on rows (:func:`run_scatter`).
    """
    J = np.asarray(jacobian, dtype=float)
    k = J.shape[1]
    cov = np.zeros((k, k))
    if not np.any(free) or not np.all(np.isfinite(J)):
        return cov
    if len(np.unique(groups)) < 3:
        groups = np.arange(len(J))
    runs = pd.Series(groups)
    w = np.asarray(weights, dtype=float) / runs.map(runs.value_counts()).to_numpy(dtype=float)
    w = w * (runs.nunique() / max(float(np.sum(w)), 1e-300))  # one observation per run
    Jf = J[:, free]
    info = (Jf * w[:, None]).T @ Jf
    cov[np.ix_(free, free)] = scatter**2 * np.linalg.pinv(info, rcond=RCOND, hermitian=True)
    return cov


def parameter_sd(jacobian: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """sd (log loss) of the log prediction at each row of ``jacobian`` (m, k): sqrt(g' Cov g)."""
    G = np.asarray(jacobian, dtype=float)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, cov, G), 0.0))


def free_parameters(theta: np.ndarray, bounds: list[tuple[Any, Any]],
                    tol: float = 1e-8) -> np.ndarray:
    """(k,) mask: True for raw parameters strictly inside their bounds (not fixed, not at one)."""
    free = np.ones(len(theta), dtype=bool)
    for i, (lo, hi) in enumerate(bounds):
        scale = tol * max(1.0, abs(float(theta[i])))
        if lo is not None and theta[i] <= lo + scale:
            free[i] = False
        if hi is not None and theta[i] >= hi - scale:
            free[i] = False
    return free
