"""Huber's delta scaled to the table's own residuals (``huber_delta="auto"``, the default).

Hoffmann et al. (2022, App. D.2) fit with Huber delta = 1e-3 on log-loss residuals, a fixed
number in log units.  Whether that is robust or wasteful depends on the table: where runs
scatter by ~1% (0.01 in log loss) almost every residual lies beyond 1e-3, and the objective
is in effect the sum of absolute residuals -- robust to outliers, but an estimator with about
64% of least squares' efficiency under Gaussian noise (the sample-median efficiency, 2/pi).
The textbook remedy is to measure delta in units of the residuals' scale: delta = 1.345 sigma
keeps 95% efficiency at the normal and still bounds each outlier's influence (Huber 1964;
Holland & Welsch 1977; the default of scikit-learn's ``HuberRegressor`` and R's
``MASS::rlm``).

The scale sigma is the robust one (1.4826 x the median absolute deviation) of the residuals
of a first fit at the largest delta allowed; the law is then refitted at delta = 1.345 sigma,
never below Hoffmann's 1e-3 (a table that the law fits to better than 0.1% is fitted as
before) and never above 1e-2 (``MAX_DELTA``: scatter beyond ~0.75% is misfit, not seed noise).
On 40 simulated IsoFLOP sweeps with 1% noise (bench/isoflop_simulation.py) the RMS error of
the prediction 10x beyond the data fell from 2.06 to 1.81 noise sd and 100x beyond from 2.74
to 2.21 (bench/README.md: the table, and the development library's).
"""

from __future__ import annotations

import numpy as np

from scalinglab.fit.objective import DEFAULT_HUBER_DELTA
from scalinglab.fit.uncertainty import robust_sd

#: delta in units of the residuals' robust sd: 95% asymptotic efficiency at the normal
#: (Huber 1964; Holland & Welsch 1977).
HUBER_TUNING = 1.345
#: Upper limit of delta (log loss): 1.345 x 0.75%, the largest seed-to-seed sd of a run's loss
#: measured on this project's own sweeps (bench/seed_noise.py: 0.75-0.87% on the KJV demo's
#: ladder; Epoch's Chinchilla runs scatter by 0.5%).  Residuals that scatter more than that
#: are the law missing the runs (plateaus, badly tuned runs), not noise, and stay
#: down-weighted as Hoffmann's delta does; without the limit the gzip-compressibility sweeps
#: of the development library were extrapolated 2-10x worse (bench/README.md).
MAX_DELTA = 1e-2
AUTO = "auto"


def is_auto(delta: object) -> bool:
    """True for the scaled default (``"auto"``), False for a fixed delta."""
    return isinstance(delta, str) and delta.lower() == AUTO


def first_pass_delta(delta: object) -> float:
    """The delta of the first fit: ``MAX_DELTA`` for ``"auto"``, else the given number.

    Starting from the largest delta allowed (close to least squares at the scatter of real
    runs) gives residuals that measure the scatter: a first fit near least absolute deviations
    passes exactly through as many points as it has parameters, and with few runs those zero
    residuals make the median absolute deviation zero.
    """
    return MAX_DELTA if is_auto(delta) else float(delta)  # type: ignore[arg-type]


def scaled_delta(residual_log: np.ndarray, weights: np.ndarray | None = None,
                 n_free: int = 0) -> float:
    """1.345 x the robust sd of log-loss residuals, between Hoffmann's 1e-3 and ``MAX_DELTA``.

    Rows with zero weight (outside a resample or a cut) do not count.  Residuals of a fit with
    ``n_free`` parameters scatter less than the runs do; the sd is scaled by sqrt(n / (n - p))
    as a residual variance is.
    """
    r = np.asarray(residual_log, dtype=float)
    if weights is not None:
        r = r[np.asarray(weights, dtype=float) > 0]
    r = r[np.isfinite(r)]
    if r.size <= n_free:
        return DEFAULT_HUBER_DELTA
    sd = robust_sd(r) * float(np.sqrt(r.size / (r.size - n_free)))
    return float(np.clip(HUBER_TUNING * sd, DEFAULT_HUBER_DELTA, MAX_DELTA))


def likelihood_factor(residual_log: np.ndarray, delta: float) -> float:
    """The multiplier of n log(S_E / S_min) in the profile's likelihood-ratio statistic.

    The summed Huber objective is a Gaussian likelihood's sum of squares where residuals lie
    inside delta (statistic n log ratio) and a Laplace likelihood's sum of absolute values
    where they lie beyond it (2 n log ratio); between the two, the share of residuals beyond
    delta interpolates.
    """
    r = np.abs(np.asarray(residual_log, dtype=float))
    r = r[np.isfinite(r)]
    if r.size == 0:
        return 2.0
    return 1.0 + float(np.mean(r > delta))
