"""Quantiles of the normal, Student's t and chi-squared distributions.

The same special functions :mod:`scipy.stats` evaluates (``ndtri``, ``stdtrit``,
``gammaincinv``), without importing :mod:`scipy.stats` (0.7 s at every command's start).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def normal_ppf(p):
    """Standard normal quantile at probability ``p``."""
    return special.ndtri(p)


def student_t_ppf(p, dof):
    """Student's t quantile at probability ``p`` on ``dof`` degrees of freedom."""
    return special.stdtrit(dof, p)


def chi2_ppf(p, dof):
    """Chi-squared quantile at probability ``p`` on ``dof`` degrees of freedom."""
    return 2 * special.gammaincinv(np.asarray(dof) / 2, p)
