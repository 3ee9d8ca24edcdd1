"""Case bootstrap over runs.

Each resample draws runs (not rows) with replacement, so the rows of a loss curve or of a
run's cooldown branches move together; a run drawn k times enters the objective with weight k.
Every resample is polished from two starts: the full-data optimum and the best full-data
variable-projection candidate that differs from it.  (Measured on the 240 Epoch points: fresh
screening of each resample never found a better optimum than these two starts in 60 of 60
resamples, and costs ~5x more.)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law


def resample_weights(groups: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_rows) row multiplicities of a run-level case bootstrap."""
    n_groups = int(groups.max()) + 1
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    counts = np.zeros((n_resamples, n_groups))
    np.add.at(counts, (np.arange(n_resamples)[:, None], picks), 1.0)
    return counts[:, groups]


def bootstrap_fit(law: Law, X: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
                  groups: np.ndarray, settings, starts: np.ndarray, n_resamples: int,
                  seed: int = 0) -> pd.DataFrame:
    """Refit on ``n_resamples`` run-level resamples; one row of parameters per resample."""
    from scalinglab.fit.parametric import fit_arrays  # noqa: PLC0415

    if n_resamples < 0:
        raise ScalingLabError(f"bootstrap must be >= 0 resamples, got {n_resamples}")
    fast = replace(settings, method="varpro")
    rows = []
    for counts in resample_weights(groups, n_resamples, seed):
        mask = counts > 0
        Xb = {k: v[mask] for k, v in X.items()}
        theta, _ = fit_arrays(law, Xb, y[mask], (w * counts)[mask], fast, starts=starts)
        rows.append(law.from_raw(theta))
    return pd.DataFrame(rows, columns=list(law.param_names))
