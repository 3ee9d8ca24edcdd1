"""Intrinsic dimension (ID) of a point cloud: TwoNN and MLE via scikit-dimension.

Two estimators, both local (they only need each point's nearest-neighbour distances):

* **TwoNN** (Facco, d'Errico, Rodriguez & Laio, Sci. Rep. 7, 12140, 2017): the ratio
  mu = r2/r1 of each point's second to first neighbour distance follows a Pareto law with
  shape d; d is the slope of -log(1 - F(mu)) against log(mu) (the largest 10% of ratios are
  discarded, as in the paper).
* **MLE** (Levina & Bickel, NIPS 2004) with k neighbours, the per-point estimates combined by
  the harmonic mean (MacKay & Ghahramani's correction of the plain average).

The estimates themselves come from ``skdim`` (``skdim.id.TwoNN`` and ``skdim.id.MLE``).  What
this module adds is the *neighbour path*: the distances come from scikit-learn's
``NearestNeighbors`` and are handed to skdim (``TwoNN(dist=True)``, ``MLE(precomputed_knn_arrays)``)
instead of skdim's own TwoNN path, which sorts every row of the full n x n distance matrix when
the data have more than 25 features (O(n^2 log n); bench/manifold.py times both).

Intervals: a percentile bootstrap over points of the per-point quantities (the (r1, r2) pairs
for TwoNN, the per-point MLEs for MLE), with the neighbour graph held fixed.  It measures the
sampling spread of the estimator, not its bias -- and both estimators are biased low when d is
large for the number of points (at d = 50 with 5,000 points TwoNN returns well under 0.8 d;
tests/test_manifold_intrinsic.py checks this).  Exact duplicate points (r1 = 0, which breaks
TwoNN) are removed first and counted in the result.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError

METHODS = ("twonn", "mle")
PATHS = ("neighbours", "skdim")
MIN_POINTS = 10           # fewer points give no meaningful neighbour statistics
DEFAULT_MLE_K = 20        # skdim's default neighbourhood for MLE
DEFAULT_DISCARD = 0.1     # Facco et al. 2017 discard the largest 10% of ratios


class ManifoldError(ScalingLabError):
    """Bad input to an intrinsic-dimension or manifold experiment (one-line message)."""


@dataclass
class IDResult:
    """An intrinsic-dimension estimate (dimensionless) with a bootstrap interval.

    ``low``/``high`` bound the central ``level`` fraction of ``bootstrap`` resamples (NaN
    without bootstrap).  ``n_points`` distinct points were used out of ``n_input``
    (``n_duplicates`` exact duplicates removed); ``seconds`` is the wall time of the estimate
    (neighbour search included, bootstrap excluded).
    """

    dimension: float
    low: float
    high: float
    level: float
    method: str
    path: str
    n_points: int
    n_input: int
    n_features: int
    n_duplicates: int
    bootstrap: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)

    def __str__(self) -> str:
        ci = (f" ({self.level:.0%} interval {self.low:.3g}-{self.high:.3g})"
              if self.bootstrap else "")
        return (f"{self.method} intrinsic dimension {self.dimension:.3g}{ci} from "
                f"{self.n_points} points in {self.n_features} dimensions")


def validate_points(X: Any, name: str = "X", min_points: int = MIN_POINTS
                    ) -> tuple[np.ndarray, int]:
    """A finite float64 (n, p) array with exact duplicates removed, and how many were removed.

    Raises :class:`ManifoldError` for a non-2-D array, NaN/inf, or too few distinct points.
    """
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ManifoldError(f"{name} must be a numeric array of points") from None
    if array.ndim != 2:
        raise ManifoldError(f"{name} must be a 2-D array (points x features), got shape "
                            f"{array.shape}")
    if array.shape[1] < 1:
        raise ManifoldError(f"{name} has no features (shape {array.shape})")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ManifoldError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf), the "
                            f"first in row {row}")
    unique = np.unique(array, axis=0)
    n_dup = len(array) - len(unique)
    if len(unique) < min_points:
        dup = f" ({n_dup} duplicates removed)" if n_dup else ""
        raise ManifoldError(f"{name} has {len(unique)} distinct points{dup}; the estimator "
                            f"needs at least {min_points}")
    if n_dup:
        # np.unique sorts; keep the original order of first occurrences (determinism of
        # anything that subsamples afterwards does not depend on it, but users may)
        _, first = np.unique(array, axis=0, return_index=True)
        unique = array[np.sort(first)]
    if unique.shape[1] == 1:  # skdim needs two columns; a zero column changes no distance
        unique = np.hstack([unique, np.zeros_like(unique)])
    return unique, n_dup


def neighbour_distances(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances (n, k) and indices (n, k) of each point's k nearest other points (sklearn)."""
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415 (optional extra)

    search = NearestNeighbors(n_neighbors=k).fit(X)
    return search.kneighbors(return_distance=True)


def intrinsic_dimension(
    X: Any,
    method: str = "twonn",
    *,
    bootstrap: int = 200,
    level: float = 0.9,
    seed: int = 0,
    k: int = DEFAULT_MLE_K,
    discard_fraction: float = DEFAULT_DISCARD,
    path: str = "neighbours",
    max_points: int | None = None,
) -> IDResult:
    """Estimate the intrinsic dimension of the rows of ``X`` (n points x p features).

    ``method``: ``"twonn"`` (Facco et al. 2017, linear fit, ``discard_fraction`` of the largest
    ratios dropped) or ``"mle"`` (Levina & Bickel 2004 with ``k`` neighbours, harmonic-mean
    combination).  ``path``: ``"neighbours"`` (scikit-learn neighbour search fed to skdim, the
    default) or ``"skdim"`` (skdim's own path on the raw points; for TwoNN on more than 25
    features that is the full distance matrix).  ``max_points`` subsamples the distinct points
    (seeded).  ``bootstrap`` resamples give the ``level`` interval.
    """
    if method not in METHODS:
        raise ManifoldError(f"unknown method {method!r}; use {' or '.join(METHODS)}")
    if path not in PATHS:
        raise ManifoldError(f"unknown path {path!r}; use {' or '.join(PATHS)}")
    if bootstrap < 0:
        raise ManifoldError(f"bootstrap must be >= 0, got {bootstrap}")
    if not 0 < level < 1:
        raise ManifoldError(f"level must be in (0, 1), got {level}")
    if not 0 <= discard_fraction < 0.9:
        raise ManifoldError(f"discard_fraction must be in [0, 0.9), got {discard_fraction}")
    if method == "mle" and k < 3:
        raise ManifoldError(f"k must be >= 3 neighbours for MLE, got {k}")
    need = max(MIN_POINTS, k + 1) if method == "mle" else MIN_POINTS
    points, n_dup = validate_points(X, min_points=need)
    n_input = len(points) + n_dup
    rng = np.random.default_rng(seed)
    if max_points is not None:
        if max_points < need:
            raise ManifoldError(f"max_points must be >= {need}, got {max_points}")
        if len(points) > max_points:
            points = points[np.sort(rng.choice(len(points), max_points, replace=False))]
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skdim/sklearn chatter; our checks come first
        if method == "twonn":
            dimension, resample = _twonn(points, discard_fraction, path)
            settings = {"discard_fraction": discard_fraction, "fit": "linear (Facco 2017)"}
        else:
            dimension, resample = _mle(points, k, path)
            settings = {"k": k, "combination": "harmonic mean (MacKay & Ghahramani)"}
        seconds = time.perf_counter() - began
        draws = np.array([resample(rng.integers(0, len(points), len(points)))
                          for _ in range(bootstrap)])
    low = high = float("nan")
    if bootstrap:
        draws = draws[np.isfinite(draws)]
        if draws.size:
            tail = (1 - level) / 2
            low, high = (float(q) for q in np.quantile(draws, [tail, 1 - tail]))
    notes = []
    if n_dup:
        notes.append(f"{n_dup} exact duplicate point(s) removed (zero distances break TwoNN)")
    if not np.isfinite(dimension):
        raise ManifoldError("the estimate is not finite (degenerate neighbour distances)")
    settings.update({"seed": seed, "max_points": max_points})
    return IDResult(dimension=float(dimension), low=low, high=high, level=level, method=method,
                    path=path, n_points=len(points), n_input=n_input,
                    n_features=int(np.asarray(X).shape[1]), n_duplicates=n_dup,
                    bootstrap=int(bootstrap), seconds=seconds, settings=settings,
                    warnings=notes)


def _twonn(points: np.ndarray, discard: float, path: str):
    from skdim.id import TwoNN  # noqa: PLC0415 (optional extra)

    pairs: list[np.ndarray] = []
    if path == "skdim":
        dimension = TwoNN(discard_fraction=discard).fit(points).dimension_
    else:
        pairs.append(neighbour_distances(points, 2)[0])
        dimension = TwoNN(discard_fraction=discard, dist=True).fit(pairs[0]).dimension_

    def resample(rows: np.ndarray) -> float:
        if not pairs:  # the skdim path: the bootstrap still needs the (r1, r2) pairs
            pairs.append(neighbour_distances(points, 2)[0])
        return float(TwoNN(discard_fraction=discard, dist=True).fit(pairs[0][rows]).dimension_)
    return float(dimension), resample


def _mle(points: np.ndarray, k: int, path: str):
    from skdim.id import MLE  # noqa: PLC0415 (optional extra)

    estimator = MLE()
    if path == "skdim":
        estimator.fit(points, n_neighbors=k)
    else:
        dists, idx = neighbour_distances(points, k)
        estimator.fit(points, precomputed_knn_arrays=(dists, idx))
    local = np.asarray(estimator.dimension_pw_, dtype=float)

    def resample(rows: np.ndarray) -> float:
        return float(1.0 / np.mean(1.0 / local[rows]))
    return float(estimator.dimension_), resample
