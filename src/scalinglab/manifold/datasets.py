"""Point clouds with a known intrinsic dimension, and a real data set that needs no download.

* :func:`sample_cube` -- uniform points of the cube [-1, 1]^d, rotated into ``ambient``
  dimensions by a random orthogonal map (intrinsic dimension exactly d).
* :func:`sample_sphere` -- uniform points of the unit d-sphere S^d (a d-dimensional manifold
  in R^(d+1)), rotated into ``ambient`` dimensions.
* :func:`load_digits_points` -- scikit-learn's bundled 8x8 handwritten digits (1,797 images,
  64 pixel features, values 0-16; Alpaydin & Kaynak's UCI set, shipped inside scikit-learn,
  so nothing is downloaded).
"""

from __future__ import annotations

import numpy as np

from scalinglab.errors import ScalingLabError


def random_rotation(d: int, ambient: int, rng: np.random.Generator) -> np.ndarray:
    """A (d, ambient) matrix with orthonormal rows (QR of a Gaussian matrix)."""
    if ambient < d:
        raise ScalingLabError(f"ambient dimension {ambient} is below the manifold's {d}")
    q, r = np.linalg.qr(rng.standard_normal((ambient, d)))
    return (q * np.sign(np.diag(r))).T


def _check(n: int, d: int) -> None:
    if n < 1 or d < 1:
        raise ScalingLabError(f"need n >= 1 points and dimension d >= 1, got n={n}, d={d}")


def sample_cube(n: int, d: int, ambient: int = 128, seed: int = 0) -> np.ndarray:
    """``n`` uniform points of [-1, 1]^d embedded by a random rotation in R^ambient."""
    _check(n, d)
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, size=(n, d))
    return u @ random_rotation(d, ambient, rng)


def sample_sphere(n: int, d: int, ambient: int = 128, seed: int = 0) -> np.ndarray:
    """``n`` uniform points of the unit d-sphere (in R^(d+1)) embedded in R^ambient."""
    _check(n, d)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d + 1))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return g @ random_rotation(d + 1, ambient, rng)


def load_digits_points() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as (1797, 64) float pixels in [0, 1] and their labels 0-9."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 (optional extra)

    data = load_digits()
    return data.data.astype(np.float64) / 16.0, data.target.astype(np.int64)
