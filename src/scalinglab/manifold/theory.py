"""The resolution-limited theory and what every manifold experiment shares.

Sharma & Kaplan (JMLR 23, 2022, "Scaling Laws from the Data Manifold Dimension") and Bahri et
al. (2021, "Explaining Neural Scaling Laws"): a model that resolves a d-dimensional data
manifold into cells of size s ~ D^(-1/d) (or N^(-1/d)) and interpolates piecewise linearly
between them errs by O(s^2) for a smooth target, so the squared loss falls as D^(-4/d) (and
N^(-4/d)): alpha ~ 4/d, i.e. d ~ 4/alpha.  A nearest-neighbour (piecewise-constant) model errs
by O(s), giving alpha = 2/d.

Exponents are fitted with scalinglab's own Approach-3 fitter (:func:`scalinglab.fit.fit_parametric`
with the ``power`` law, no irreducible term, bootstrap over points).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError

#: Kaplan et al. 2020 (arXiv:2001.08361), eqs. 1.1-1.2: L(N) = (N_c/N)^0.076, L(D) = (D_c/D)^0.095
KAPLAN_ALPHA_N = 0.076
KAPLAN_ALPHA_D = 0.095


def theory_dimension(alpha: float) -> float:
    """The manifold dimension 4/alpha the theory assigns to a loss exponent (NaN if alpha <= 0)."""
    return 4.0 / alpha if alpha > 0 and math.isfinite(alpha) else float("nan")


@dataclass
class Exponent:
    """A fitted power-law exponent alpha (dimensionless) in ``loss = A x^(-alpha)``.

    ``low``/``high`` are the bootstrap interval at ``level``; ``variable`` is N (parameters)
    or D (samples); ``points`` the (x, loss) pairs fitted; ``rmse_log`` the fit's RMSE of log
    loss.
    """

    alpha: float
    low: float
    high: float
    level: float
    variable: str
    A: float
    rmse_log: float
    points: list[tuple[float, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def four_over(self) -> tuple[float, float, float]:
        """(4/alpha, low, high): the dimension the theory infers, with its interval."""
        return (theory_dimension(self.alpha), theory_dimension(self.high),
                theory_dimension(self.low))


def fit_exponent(x: np.ndarray, loss: np.ndarray, variable: str = "D", *,
                 bootstrap: int = 200, level: float = 0.9, seed: int = 0) -> Exponent:
    """Fit ``loss = A x^(-alpha)`` with :func:`scalinglab.fit.fit_parametric` (power law, no E).

    ``x`` is parameters (``variable="N"``) or samples (``"D"``); ``loss`` any positive loss
    (here a mean squared error).  Needs at least 3 points.
    """
    from scalinglab.fit import fit_parametric  # noqa: PLC0415

    x = np.asarray(x, dtype=float)
    loss = np.asarray(loss, dtype=float)
    if len(x) < 3:
        raise ScalingLabError(f"an exponent needs at least 3 points, got {len(x)}")
    column = {"N": "n_params", "D": "tokens"}[variable]
    frame = pd.DataFrame({"run_id": [f"{variable}{i}" for i in range(len(x))],
                          column: x, "loss": loss})
    result = fit_parametric(frame, law="power", variable=variable, irreducible=False,
                            bootstrap=bootstrap, level=level, seed=seed)
    alpha = result.params["alpha"]
    low, high = result.intervals()["alpha"] if bootstrap else (float("nan"), float("nan"))
    return Exponent(alpha=float(alpha), low=float(low), high=float(high), level=level,
                    variable=variable, A=float(result.params["A"]),
                    rmse_log=float(result.residuals["rmse_log"]),
                    points=[(float(a), float(b)) for a, b in zip(x, loss, strict=True)])


@dataclass
class DimensionPoint:
    """One point of the ID-versus-4/alpha picture.

    ``dimension`` (with ``dim_low``/``dim_high``) is a measured intrinsic dimension;
    ``alpha`` (with ``alpha_low``/``alpha_high``) a fitted loss exponent; the theory puts the
    point on the diagonal ``dimension = 4/alpha``.  ``family`` groups points (teacher-student,
    interpolation, LM runs, ...); ``true_dimension`` is the known d of a synthetic manifold.
    """

    label: str
    family: str
    dimension: float
    dim_low: float
    dim_high: float
    alpha: float
    alpha_low: float
    alpha_high: float
    true_dimension: float | None = None

    @property
    def four_over_alpha(self) -> float:
        return theory_dimension(self.alpha)

    @property
    def four_over_alpha_interval(self) -> tuple[float, float]:
        return theory_dimension(self.alpha_high), theory_dimension(self.alpha_low)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        lo, hi = self.four_over_alpha_interval
        out.update({"four_over_alpha": self.four_over_alpha, "four_over_alpha_low": lo,
                    "four_over_alpha_high": hi})
        return out
