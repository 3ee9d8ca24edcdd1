"""Quantiles of the normal, Student's t and chi-squared distributions.

The same special functions :mod:`scipy.stats` evaluates (``ndtri``, ``stdtrit``,
``gammaincinv``), without importing :mod:`scipy.stats` (0.7 s at every command's start).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def central_z(level: float) -> float:
    """z of a central normal interval at ``level`` (1.645 at 90%)."""
    return float(special.ndtri(0.5 + level / 2))


def from_90_percent(level: float) -> float:
    """Factor taking a 90% half-width to the half-width at ``level`` (normal shape)."""
    return central_z(level) / central_z(0.9)


def student_t_ppf(p, dof):
    """Student's t quantile at probability ``p`` on ``dof`` degrees of freedom."""
    return special.stdtrit(dof, p)


def chi2_ppf(p, dof):
    """Chi-squared quantile at probability ``p`` on ``dof`` degrees of freedom."""
    return 2 * special.gammaincinv(np.asarray(dof) / 2, p)
