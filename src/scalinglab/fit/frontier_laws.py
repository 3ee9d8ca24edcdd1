"""Shared by Approaches 1 and 2: the table they need, and the power laws of the frontier.

:func:`compute_table` gives a run table its compute column by
:func:`scalinglab.fit.rows.row_compute` (the ``flops`` column where finite, else C = 6 N D), so
Approaches 1 and 2 fit the same tables Approach 3 fits; :func:`fit_frontier_laws` fits
``N_opt = k_N C^a`` and ``D_opt = k_D C^b`` (log-linear least squares, vectorised over
bootstrap draws).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.errors import RunsError
from scalinglab.fit.rows import with_compute


def compute_table(runs: pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    """The run table with n_params, flops and loss checked (flops from 6 N D where missing).

    Returns the table and a note saying where compute came from ("" when every row had its
    own ``flops``).  A :class:`RunsError` names what is missing, in one line.
    """
    if not isinstance(runs, pd.DataFrame):
        raise RunsError(f"{what} needs a run table (a pandas DataFrame), got {type(runs).__name__}")
    table, note = with_compute(runs, "n_params")
    if "flops" not in table.columns:
        missing = [c for c in ("flops", "n_params", "tokens") if c not in runs.columns]
        raise RunsError(f"{what} needs a flops column, or n_params and tokens for C = 6 N D; "
                        f"missing {', '.join(missing)}; the table has "
                        f"{', '.join(map(str, runs.columns)) or 'no columns'}")
    require_columns(table, ("n_params", "flops", "loss"), what)
    return table, note


def fit_log_linear(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``y = intercept + slope x`` along the last axis, ignoring NaN in ``y``.

    ``y`` may be (n,) or (draws, n); rows with fewer than 2 finite points (or no spread in x)
    give NaN.  Returns (slope, intercept) with the leading shape of ``y``.
    """
    y = np.asarray(y, dtype=float)
    x = np.broadcast_to(np.asarray(x, dtype=float), y.shape)
    ok = np.isfinite(y)
    count = ok.sum(axis=-1)
    safe_n = np.maximum(count, 1)
    xm = np.where(ok, x, 0.0).sum(axis=-1) / safe_n
    ym = np.where(ok, y, 0.0).sum(axis=-1) / safe_n
    dx = np.where(ok, x - xm[..., None], 0.0)
    dy = np.where(ok, y - ym[..., None], 0.0)
    sxx = (dx * dx).sum(axis=-1)
    sxy = (dx * dy).sum(axis=-1)
    usable = (count >= 2) & (sxx > 0)
    slope = np.where(usable, sxy / np.where(usable, sxx, 1.0), np.nan)
    intercept = np.where(usable, ym - slope * xm, np.nan)
    return slope, intercept


def fit_frontier_laws(log10_c: np.ndarray, log10_n: np.ndarray,
                      log10_d: np.ndarray) -> dict[str, np.ndarray]:
    """Fit ``log10 N_opt = log10 k_N + a log10 C`` and the same for D (b, log10 k_D)."""
    a, log10_k_n = fit_log_linear(log10_c, log10_n)
    b, log10_k_d = fit_log_linear(log10_c, log10_d)
    return {"a": a, "log10_k_n": log10_k_n, "b": b, "log10_k_d": log10_k_d}


def require_columns(runs: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """Raise :class:`RunsError` naming the first missing column."""
    if not isinstance(runs, pd.DataFrame):
        raise RunsError(f"{what} needs a run table (a pandas DataFrame), got {type(runs).__name__}")
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise RunsError(f"{what} needs column(s) {', '.join(missing)}; the table has "
                        f"{', '.join(map(str, runs.columns)) or 'no columns'}")
    for col in columns:
        values = pd.to_numeric(runs[col], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise RunsError(f"column {col!r} must hold finite numbers > 0 for {what}")
