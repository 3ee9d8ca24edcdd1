"""Case bootstrap over runs.

Each resample draws runs (not rows) with replacement, so the rows of a loss curve or of a
run's cooldown branches move together; a run drawn k times enters the objective with weight k.
Every resample is polished from two starts: the full-data optimum and the best full-data
variable-projection candidate that differs from it.  (Measured on the 240 Epoch points: fresh
screening of each resample never found a better optimum than these two starts in 60 of 60
resamples, and costs ~5x more.)

For the Chinchilla and power-law forms all resamples are polished at once
(:func:`batched_newton`): a projected Newton method on the objective's exact Hessian
(:class:`~scalinglab.fit.objective.BatchedLogHuber`), vectorised over resamples.  The two
starts are first polished on the full data; when both reach the same optimum (they do on the
Epoch data) every resample is polished once, from it.  A resample whose best polish has not
met the convergence test after ``max_iter`` iterations, or stops where its reduced Hessian is
not positive semi-definite (to double precision: a direction the objective does not depend on,
such as E at its floor, counts as flat), is refitted the one-at-a-time way -- SciPy SLSQP from
both raw starts (:func:`scalinglab.fit.optimise.fit_arrays`), the path every other law form
takes.  On six real sweeps of ``../shared/data/scaling-dev`` the batched path now settles all
but 0-17% of resamples (18-100% before), and ``fit(bootstrap=1000)`` of the six took 57 s
instead of 240 s.

Both are local methods on a multi-modal objective (Huber with delta = 1e-3 far below the noise
is close to least absolute deviations): on the 240 Epoch points every one of 1000 resamples
reached the SciPy optimum to 1e-12 relative; on 40-point synthetic sweeps about 1 resample in
200 stops in a neighbouring local minimum whose objective is 1e-4 higher -- with either start,
as SciPy from the first start does too (tests/test_bootstrap_speed_equivalence.py).
``bench/fit_speed.py`` times both paths in one process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.objective import BatchedLogHuber, lse_design
from scalinglab.fit.optimise import fit_arrays, raw_bounds
from scalinglab.laws.base import Law

#: A reduced-Hessian eigenvalue above -FLAT_CURVATURE x the largest counts as a local minimum's:
#: positive, or zero to double precision along a direction the objective does not depend on.
FLAT_CURVATURE = 1e-12
#: Newton steps use |eigenvalue| floored at this share of the largest.  Real sweeps' fits are
#: often ill-conditioned (E at its floor, an exponent at its bound: smallest eigenvalues 1e-11
#: to 1e-16 of the largest); a floor of 1e-10 shortened every step along such a valley, and on
#: six scaling-dev tables 18-100% of resamples then fell back to the one-at-a-time SciPy polish
#: (20 s for 1000 resamples of Cerebras-GPT's 12 runs).  The damping's step test keeps the
#: longer steps safe.
STEP_CURVATURE_FLOOR = 1e-14
#: Newton iterations before a resample is handed to the SciPy polish.  Converged problems
#: cost nothing more; 300 lets crawls along flat valleys finish (fallbacks on the six tables:
#: 0-22 of 100, against 18-55 at 60 iterations).
MAX_NEWTON_ITERATIONS = 300


def resample_weights(groups: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_rows) row multiplicities of a run-level case bootstrap."""
    n_groups = int(groups.max()) + 1
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    counts = np.zeros((n_resamples, n_groups))
    np.add.at(counts, (np.arange(n_resamples)[:, None], picks), 1.0)
    return counts[:, groups]


@dataclass
class NewtonResult:
    """Outcome of :func:`batched_newton` for m problems."""

    theta: np.ndarray       # (m, k) raw parameters
    value: np.ndarray       # (m,) objective (sum of Huber / delta, plus prior)
    converged: np.ndarray   # (m,) bool: met the convergence test at a semi-definite point
    iterations: np.ndarray  # (m,) Newton iterations used
    remaining: np.ndarray   # (m,) decrease the last quadratic model still promised (0: converged)


def batched_newton(objective: BatchedLogHuber, theta0: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray, free: np.ndarray, max_iter: int = MAX_NEWTON_ITERATIONS,
                   rtol: float = 1e-13, damping: float = 0.0) -> NewtonResult:
    """Damped projected Newton (Levenberg-Marquardt) for m box-constrained problems at once.

    ``lo``/``hi`` (m, k) are bounds (+-inf where none), ``free`` (k,) marks the parameters
    that move (a fixed E is not free).  Each iteration pins the variables at a bound whose
    gradient points outward (Bertsekas 1982), and on the others solves
    ``(|H| + lambda I) s = -g``, |H| being the exact Hessian with its eigenvalues replaced by
    their absolute values; the step is projected onto the box.  lambda starts at ``damping``
    times the largest eigenvalue, shrinks 3x after a step that achieves at least 10% of the
    decrease its quadratic model predicts and grows 4x (retrying) otherwise -- so early steps
    follow the scaled gradient and stay in the start's basin, as a quasi-Newton method's do, and
    late steps are full Newton steps (quadratic convergence).  A problem has converged when its
    Newton decrement is below ``rtol * (1 + |f|)`` at a point whose reduced Hessian is positive
    definite; it is then left alone.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _newton(objective, theta0, lo, hi, free, max_iter, rtol, damping)


def _newton(objective, theta0, lo, hi, free, max_iter, rtol, damping) -> NewtonResult:
    theta = np.clip(np.array(theta0, dtype=float), lo, hi)
    m, k = theta.shape
    value, grad, hess = objective.derivatives(theta)
    converged = np.zeros(m, dtype=bool)
    iterations = np.zeros(m, dtype=int)
    remaining = np.zeros(m)
    lam = np.full(m, np.nan)
    eye = np.eye(k)
    for it in range(max_iter + 1):
        idx = np.flatnonzero(~converged)
        if idx.size == 0:
            break
        th, f, g, H = theta[idx], value[idx], grad[idx], hess[idx]
        lo_i, hi_i = lo[idx], hi[idx]
        pinned = ((th <= lo_i) & (g > 0)) | ((th >= hi_i) & (g < 0)) | ~free[None, :]
        moving = ~pinned
        g_red = np.where(moving, g, 0.0)
        H_red = H * moving[:, :, None] * moving[:, None, :] + eye * pinned[:, :, None]
        evals, evecs = np.linalg.eigh(H_red)
        scale = np.maximum(np.abs(evals).max(axis=1), 1e-300)
        positive = np.all(evals > -FLAT_CURVATURE * scale[:, None], axis=1)
        evals = np.maximum(np.abs(evals), STEP_CURVATURE_FLOOR * scale[:, None])
        coords = np.einsum("mki,mk->mi", evecs, g_red)
        decrement = np.einsum("mi,mi->m", coords, coords / evals)
        done = positive & (0.5 * decrement <= rtol * (1 + np.abs(f)))
        converged[idx[done]] = True
        remaining[idx] = np.where(done, 0.0, 0.5 * decrement)
        if it == max_iter:
            break
        active = ~done
        idx, th, f, g, scale = idx[active], th[active], f[active], g[active], scale[active]
        evals, evecs, coords = evals[active], evecs[active], coords[active]
        lo_i, hi_i = lo_i[active], hi_i[active]
        if idx.size == 0:
            break
        iterations[idx] += 1
        lam_i = np.where(np.isnan(lam[idx]), damping * scale, lam[idx])
        accepted = np.zeros(idx.size, dtype=bool)
        first = None                      # residuals at the first trials, reused when accepted
        for _retry in range(60):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            shrink = coords[todo] / (evals[todo] + lam_i[todo, None])
            trial = np.clip(th[todo] - np.einsum("mki,mi->mk", evecs[todo], shrink),
                            lo_i[todo], hi_i[todo])
            f_trial, terms = objective.value(trial, idx[todo])
            moved = trial - th[todo]
            z = np.einsum("mki,mk->mi", evecs[todo], moved)
            predicted = -(np.einsum("mk,mk->m", g[todo], moved)
                          + 0.5 * np.einsum("mi,mi->m", z * evals[todo], z))
            ok = np.isfinite(f_trial) & (f[todo] - f_trial >= 0.1 * predicted) & (predicted > 0)
            if first is None:
                first = (ok, terms)
            theta[idx[todo[ok]]] = trial[ok]
            accepted[todo[ok]] = True
            lam_i[todo[ok]] /= 3.0
            lam_i[todo[~ok]] = np.clip(lam_i[todo[~ok]] * 4.0, 1e-12 * scale[todo[~ok]],
                                       1e30 * scale[todo[~ok]])
        lam[idx] = lam_i
        ok0, (r0, ps0) = first
        at_first = idx[ok0]
        if at_first.size:
            value[at_first], grad[at_first], hess[at_first] = objective.derivatives(
                theta[at_first], at_first, (r0[ok0], [p[ok0] for p in ps0]))
        later = idx[accepted & ~ok0]
        if later.size:
            value[later], grad[later], hess[later] = objective.derivatives(theta[later], later)
        # no acceptable step: the point cannot be improved at double precision
        stuck = idx[~accepted]
        if stuck.size:
            converged[stuck] = _positive_at(hess[stuck], grad[stuck], theta[stuck], lo[stuck],
                                            hi[stuck], free)
            remaining[stuck[converged[stuck]]] = 0.0
    return NewtonResult(theta=theta, value=value, converged=converged, iterations=iterations,
                        remaining=remaining)


def _positive_at(H, g, theta, lo, hi, free) -> np.ndarray:
    """Whether the reduced Hessian (free variables off their bounds) is positive definite."""
    pinned = ((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)) | ~free[None, :]
    H_red = H * ~pinned[:, :, None] * ~pinned[:, None, :] + np.eye(H.shape[1]) * pinned[:, :, None]
    evals = np.linalg.eigvalsh(H_red)
    return np.all(evals > -FLAT_CURVATURE * np.abs(evals).max(axis=1, keepdims=True), axis=1)


def bootstrap_fit(law: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
                  groups: np.ndarray, settings, starts: np.ndarray, n_resamples: int,
                  seed: int = 0, batched: bool = True) -> pd.DataFrame:
    """Refit on ``n_resamples`` run-level resamples; one row of parameters per resample.

    ``starts`` (s, k) are the raw starting points every resample is polished from (the best
    result wins, the earlier start on ties).  ``batched=False`` forces the one-resample-at-a-
    time SciPy path (the reference the batched path is tested and benchmarked against).
    """
    if n_resamples < 0:
        raise ScalingLabError(f"bootstrap must be >= 0 resamples, got {n_resamples}")
    counts = resample_weights(groups, n_resamples, seed)
    T = lse_design(law, X) if batched else None
    if T is None or n_resamples == 0:
        thetas = [_scipy_fit(law, X, y, w, c, settings, starts)[0] for c in counts]
    else:
        thetas = list(batched_bootstrap(law, T, y, w, counts, settings, starts, X)[0])
    return pd.DataFrame([law.from_raw(t) for t in thetas], columns=list(law.param_names))


def batched_bootstrap(law: Law, T: np.ndarray, y: np.ndarray, w: np.ndarray,
                      counts: np.ndarray, settings, starts: np.ndarray,
                      X: dict[str, np.ndarray],
                      max_iter: int = MAX_NEWTON_ITERATIONS) -> tuple[np.ndarray, np.ndarray, int]:
    """Best raw parameters (r, k) and objective values (r,) of every resample, and how many
    resamples fell back to the SciPy polish.

    Each resample is polished by :func:`batched_newton` from the distinct full-data optima
    reached from ``starts``.  A resample is refitted the one-at-a-time way from the raw
    ``starts`` (what the SciPy path does for every resample) when its best polish did not
    converge, or when another start's polish stopped unconverged at a value that the decrease
    its quadratic model still promised could take below the best.
    """
    r = len(counts)
    names = list(law.raw_names)
    e_index = names.index("e") if "e" in names else None
    lo, hi = _bounds_matrix(raw_bounds(law, y, settings))
    free = lo < hi                                                    # a fixed E is not free
    raw_starts = np.atleast_2d(np.asarray(starts, dtype=float))
    full = BatchedLogHuber(T, y, settings.huber_delta, np.tile(w, (len(raw_starts), 1)),
                           settings.E_prior, e_index)
    starts = distinct_optima(full, raw_starts, lo, hi, free)
    s = len(starts)
    W = np.tile(counts * w[None, :], (s, 1))                          # start-major: (s*r, n)
    objective = BatchedLogHuber(T, y, settings.huber_delta, W, settings.E_prior, e_index)
    lo, hi = np.tile(lo, (s * r, 1)), np.tile(hi, (s * r, 1))
    if settings.bound_E_below_min_loss and e_index is not None:
        for i, c in enumerate(counts):                                 # the cap moves with the
            b_lo, b_hi = _bounds_matrix([raw_bounds(law, y[c > 0], settings)[e_index]])
            lo[i::r, e_index], hi[i::r, e_index] = b_lo[0], b_hi[0]   # resample's lowest loss
    result = batched_newton(objective, np.repeat(starts, r, axis=0), lo, hi, free, max_iter)
    theta, values = result.theta.reshape(s, r, -1), result.value.reshape(s, r)
    converged, remaining = result.converged.reshape(s, r), result.remaining.reshape(s, r)
    cols = np.arange(r)
    best = np.zeros(r, dtype=int)
    for j in range(1, s):                                  # the earlier start wins ties
        better = values[j] < values[best, cols] - 1e-12 * np.abs(values[best, cols])
        best[better] = j
    theta, value = theta[best, cols], values[best, cols]
    # settled: the best start converged, and no start left unconverged could still go below it
    # by what its last quadratic model promised
    could_beat = ~converged & (values - remaining < value[None, :])
    failed = np.flatnonzero(~converged[best, cols] | could_beat.any(axis=0))
    for i in failed:                                       # refit exactly the SciPy way
        theta[i], value[i] = _scipy_fit(law, X, y, w, counts[i], settings, raw_starts)
    return theta, value, int(failed.size)


def distinct_optima(objective: BatchedLogHuber, starts: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The distinct local optima reached from ``starts`` (s, k), in start order.

    ``objective`` holds the full data's weights once per start.

    Starts that the full-data polish takes to the same optimum (parameters within 1e-5) lie in
    one basin; resamples are then polished once from that optimum rather than from each start.
    A start whose polish does not converge is kept as it is.
    """
    s = len(starts)
    res = batched_newton(objective, starts, np.tile(lo, (s, 1)), np.tile(hi, (s, 1)), free)
    points = np.where(res.converged[:, None], res.theta, starts)
    chosen: list[np.ndarray] = []
    for p in points:
        if all(np.max(np.abs(p - c)) > 1e-5 for c in chosen):
            chosen.append(p)
    return np.array(chosen)


def _bounds_matrix(bounds) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds], dtype=float)
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds], dtype=float)
    return lo, hi


def _scipy_fit(law: Law, X, y, w, counts, settings, starts) -> tuple[np.ndarray, float]:
    """One resample the one-at-a-time way: SciPy polish from each start on the drawn rows."""
    mask = counts > 0
    Xb = {k: v[mask] for k, v in X.items()}
    # no L-BFGS-B rescue after an SLSQP failure: on degenerate resamples (a few distinct rows of
    # a short curve) it ran for seconds per resample; SLSQP's last finite point is the draw
    return fit_arrays(law, Xb, y[mask], (w * counts)[mask], replace(settings, method="varpro"),
                      starts=starts, rescue=False)
