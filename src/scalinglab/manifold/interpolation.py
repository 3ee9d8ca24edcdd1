"""The theory without a network: interpolate a smooth target from D samples.

Given D samples of a target on a d-dimensional manifold, predict each test point from its k
nearest samples:

* ``"nearest"`` -- the nearest sample's value (piecewise constant): error O(r), squared loss
  ~ D^(-2/d);
* ``"local-linear"`` -- a least-squares affine fit to the k nearest samples (k = 2d + 2 by
  default), evaluated at the test point: error O(r^2) for a smooth target, as for
  piecewise-linear interpolation, so squared loss ~ D^(-4/d) -- the exponent the
  resolution-limited theory assigns to networks.

The affine fits run in the ambient coordinates with a minimum-norm solve (the samples span only
the manifold's tangent directions, which is all the fit needs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError

METHODS = ("local-linear", "nearest")


def interpolate(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                method: str = "local-linear", k: int | None = None,
                chunk: int = 2048) -> np.ndarray:
    """Predictions at ``test_x`` (m, p) from samples ``train_x`` (n, p), ``train_y`` (n,)."""
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415 (optional extra)

    if method not in METHODS:
        raise ScalingLabError(f"unknown interpolation {method!r}; use {' or '.join(METHODS)}")
    if method == "nearest":
        k = 1
    elif k is None:
        k = min(len(train_x), 2 * train_x.shape[1] + 2)
    if len(train_x) < k:
        raise ScalingLabError(f"{len(train_x)} samples are too few for {k} neighbours")
    search = NearestNeighbors(n_neighbors=k).fit(train_x)
    out = np.empty(len(test_x))
    for start in range(0, len(test_x), chunk):
        x0 = test_x[start:start + chunk]
        _, idx = search.kneighbors(x0)
        if method == "nearest":
            out[start:start + chunk] = train_y[idx[:, 0]]
            continue
        local = train_x[idx] - x0[:, None, :]                     # (m, k, p)
        design = np.concatenate([np.ones(local.shape[:2] + (1,)), local], axis=2)
        coef = np.linalg.pinv(design, rcond=1e-10) @ train_y[idx][..., None]
        out[start:start + chunk] = coef[:, 0, 0]                 # the intercept: value at x0
    return out


@dataclass
class InterpolationPoint:
    """Test mean squared error of interpolating from ``samples`` samples."""

    samples: int
    mse: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interpolation_curve(sample_fn, sizes: list[int], n_test: int = 2000,
                        method: str = "local-linear", k: int | None = None,
                        seed: int = 0) -> list[InterpolationPoint]:
    """Test MSE for each training-set size; ``sample_fn(n, rng) -> (x, y)`` draws samples.

    The test set is drawn once; each size draws its own training set (nested seeds).
    """
    rng = np.random.default_rng(seed)
    test_x, test_y = sample_fn(n_test, rng)
    points = []
    for size in sizes:
        train_x, train_y = sample_fn(int(size), np.random.default_rng([seed, int(size)]))
        pred = interpolate(train_x, train_y, test_x, method=method, k=k)
        points.append(InterpolationPoint(int(size), float(np.mean((pred - test_y) ** 2))))
    return points
