"""Intrinsic-dimension estimation: known answers on spheres and cubes, the high-d bias, bad input."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skdim")
pytest.importorskip("sklearn")

from scalinglab.manifold import (  # noqa: E402
    ManifoldError,
    intrinsic_dimension,
    load_digits_points,
    sample_cube,
    sample_sphere,
)


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("method", ["twonn", "mle"])
def test_sphere_within_five_percent_for_small_d(d, method):
    X = sample_sphere(5000, d, ambient=128, seed=d)
    result = intrinsic_dimension(X, method, bootstrap=50, seed=0)
    assert result.dimension == pytest.approx(d, rel=0.05)
    assert result.low <= result.dimension <= result.high
    assert result.n_points == 5000 and result.n_features == 128


@pytest.mark.parametrize("d", [2, 3])
def test_cube_within_five_percent_for_small_d(d):
    result = intrinsic_dimension(sample_cube(5000, d, ambient=128, seed=d), bootstrap=0)
    assert result.dimension == pytest.approx(d, rel=0.05)
    assert np.isnan(result.low) and np.isnan(result.high)


def test_cube_boundary_pulls_the_estimate_down_at_d5():
    """A documented bias: the cube's boundary lowers TwoNN (at d = 5 by ~10%), the sphere's
    absence of boundary does not."""
    cube = intrinsic_dimension(sample_cube(5000, 5, seed=5), bootstrap=0).dimension
    sphere = intrinsic_dimension(sample_sphere(5000, 5, seed=5), bootstrap=0).dimension
    assert cube < 0.95 * 5 < sphere


@pytest.mark.parametrize("n", [5000, 10000])
def test_sphere_d10_between_9_and_10(n):
    result = intrinsic_dimension(sample_sphere(n, 10, ambient=128, seed=10), bootstrap=0)
    assert 9.0 <= result.dimension <= 10.0


@pytest.mark.parametrize("method", ["twonn", "mle"])
def test_known_low_bias_at_d50(method):
    """Both estimators are biased low at high d for 5k points: below 0.8 d at d = 50."""
    result = intrinsic_dimension(sample_sphere(5000, 50, ambient=128, seed=50), method,
                                 bootstrap=0)
    assert 10 < result.dimension < 0.8 * 50


def test_neighbour_path_matches_skdim_full_matrix_path():
    X = sample_sphere(1500, 4, ambient=64, seed=3)  # > 25 features: skdim sorts full rows
    fast = intrinsic_dimension(X, bootstrap=0, path="neighbours")
    full = intrinsic_dimension(X, bootstrap=0, path="skdim")
    assert fast.dimension == pytest.approx(full.dimension, rel=1e-9)
    mle_fast = intrinsic_dimension(X, "mle", bootstrap=0, path="neighbours")
    mle_full = intrinsic_dimension(X, "mle", bootstrap=0, path="skdim")
    assert mle_fast.dimension == pytest.approx(mle_full.dimension, rel=1e-9)


def test_deterministic_and_interval_depends_on_seed():
    X = sample_sphere(2000, 3, seed=1)
    a = intrinsic_dimension(X, bootstrap=40, seed=7)
    b = intrinsic_dimension(X, bootstrap=40, seed=7)
    c = intrinsic_dimension(X, bootstrap=40, seed=8)
    assert (a.dimension, a.low, a.high) == (b.dimension, b.low, b.high)
    assert a.dimension == c.dimension and (a.low, a.high) != (c.low, c.high)


def test_interval_narrows_with_more_points():
    small = intrinsic_dimension(sample_sphere(500, 3, seed=2), bootstrap=100)
    large = intrinsic_dimension(sample_sphere(5000, 3, seed=2), bootstrap=100)
    assert (large.high - large.low) < 0.6 * (small.high - small.low)


def test_duplicates_are_removed_and_counted():
    X = sample_sphere(1000, 2, ambient=16, seed=4)
    with_dups = np.vstack([X, X[:100]])
    result = intrinsic_dimension(with_dups, bootstrap=0)
    clean = intrinsic_dimension(X, bootstrap=0)
    assert result.n_duplicates == 100 and result.n_points == 1000 and result.n_input == 1100
    assert result.dimension == pytest.approx(clean.dimension)
    assert any("duplicate" in w for w in result.warnings)


def test_one_feature_column_is_a_line():
    x = np.random.default_rng(0).uniform(size=(3000, 1))
    assert intrinsic_dimension(x, bootstrap=0).dimension == pytest.approx(1.0, rel=0.05)


def test_digits_dimension_is_far_below_64_pixels():
    X, labels = load_digits_points()
    assert X.shape == (1797, 64) and set(labels) == set(range(10))
    result = intrinsic_dimension(X, bootstrap=50)
    assert 4 < result.dimension < 20


@pytest.mark.parametrize(("X", "message"), [
    (np.arange(100.0), "2-D array"),
    (np.ones((5, 3)), "1 distinct points"),
    (np.vstack([np.eye(4)] * 10), "4 distinct points (36 duplicates removed)"),
    (np.random.default_rng(0).normal(size=(8, 3)), "needs at least 10"),
    (np.where(np.eye(20, 5) > 0, np.nan, 1.0), "non-finite"),
    (np.where(np.eye(20, 5) > 0, np.inf, 1.0), "non-finite"),
    ([["a", "b"]] * 20, "numeric array"),
])
def test_bad_input_one_line_errors(X, message):
    with pytest.raises(ManifoldError, match="^[^\n]*$") as info:
        intrinsic_dimension(X)
    assert message in str(info.value)


def test_bad_settings():
    X = sample_sphere(100, 2, seed=0)
    for kwargs, text in [({"method": "pca"}, "unknown method"), ({"bootstrap": -1}, "bootstrap"),
                         ({"level": 1.5}, "level"), ({"path": "gpu"}, "unknown path"),
                         ({"method": "mle", "k": 200}, "needs at least 201"),
                         ({"max_points": 3}, "max_points")]:
        with pytest.raises(ManifoldError, match=text):
            intrinsic_dimension(X, **kwargs)
