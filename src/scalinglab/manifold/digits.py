"""A real data set with no download: scikit-learn's 8x8 handwritten digits.

1,797 images, 64 pixels each (:func:`.datasets.load_digits_points`).  The experiment estimates
the intrinsic dimension of the images and runs a D-sweep of a simple learner: a fixed test set
of ``n_test`` images, training sets of each size drawn from the rest (``repeats`` seeded draws
per size, losses averaged), and fits loss ~ D^(-alpha_D) with scalinglab's fitter.

Learners (regressing the one-hot label, loss = mean squared error per image summed over the
10 outputs; the error rate is reported beside it):

* ``knn`` -- 1-nearest neighbour (piecewise constant): the theory's exponent is 2/d;
* ``ridge`` -- RBF kernel ridge regression (a smooth interpolant; gamma = 1/(64 var), alpha
  = 1e-3): closer to the 4/d of piecewise-linear models.

Classification error of a finite test set is coarse (397 test images: one error is 0.25%),
so the fitted exponent carries that noise; the bootstrap interval shows how much.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.manifold.datasets import load_digits_points
from scalinglab.manifold.intrinsic import IDResult, intrinsic_dimension
from scalinglab.manifold.theory import DimensionPoint, Exponent, fit_exponent

LEARNERS = ("knn", "ridge")


@dataclass
class DigitsResult:
    """The digits' ID, the learner's D-sweep and its exponent (intervals at ``level``)."""

    id: IDResult
    learner: str
    curve: list[dict[str, float]]
    exponent: Exponent
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def points(self) -> list[DimensionPoint]:
        e = self.exponent
        return [DimensionPoint(label=f"digits ({self.learner})", family="8x8 digits",
                               dimension=self.id.dimension, dim_low=self.id.low,
                               dim_high=self.id.high, alpha=e.alpha, alpha_low=e.low,
                               alpha_high=e.high)]

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": "digits", "id": self.id.to_dict(), "learner": self.learner,
                "curve": self.curve, "exponent": self.exponent.to_dict(),
                "four_over_id": 4.0 / self.id.dimension,
                "two_over_id": 2.0 / self.id.dimension,
                "points": [p.to_dict() for p in self.points()], "settings": self.settings,
                "warnings": self.warnings}


def _predict(learner: str, x: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    onehot = np.eye(10)[y]
    if learner == "knn":
        from sklearn.neighbors import KNeighborsRegressor  # noqa: PLC0415

        return KNeighborsRegressor(n_neighbors=1).fit(x, onehot).predict(test)
    from sklearn.kernel_ridge import KernelRidge  # noqa: PLC0415

    gamma = 1.0 / (x.shape[1] * x.var())
    return KernelRidge(alpha=1e-3, kernel="rbf", gamma=gamma).fit(x, onehot).predict(test)


def digits_experiment(sizes: tuple[int, ...] = (100, 200, 400, 800, 1400), *,
                      learner: str = "knn", n_test: int = 397, repeats: int = 5,
                      method: str = "twonn", bootstrap: int = 200, level: float = 0.9,
                      seed: int = 0) -> DigitsResult:
    """ID of the digits and the ``learner``'s loss ~ D^(-alpha_D) over training sizes."""
    if learner not in LEARNERS:
        raise ScalingLabError(f"unknown learner {learner!r}; use {' or '.join(LEARNERS)}")
    X, labels = load_digits_points()
    if not 1 <= n_test < len(X) - 1:
        raise ScalingLabError(f"n_test must be in [1, {len(X) - 2}], got {n_test}")
    pool = len(X) - n_test
    sizes = tuple(sorted(set(int(s) for s in sizes)))
    if len(sizes) < 3:
        raise ScalingLabError(f"need at least 3 distinct training sizes, got {list(sizes)}")
    if sizes[0] < 2 or sizes[-1] > pool:
        raise ScalingLabError(f"training sizes must be in [2, {pool}] (1797 images minus "
                              f"{n_test} for testing), got {list(sizes)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    test_idx, rest = order[:n_test], order[n_test:]
    truth = np.eye(10)[labels[test_idx]]
    curve = []
    for size in sizes:
        losses, errors = [], []
        for rep in range(repeats if size < pool else 1):
            pick = np.random.default_rng([seed, size, rep]).choice(rest, size, replace=False)
            pred = _predict(learner, X[pick], labels[pick], X[test_idx])
            losses.append(float(np.mean(np.sum((pred - truth) ** 2, axis=1))))
            errors.append(float(np.mean(pred.argmax(axis=1) != labels[test_idx])))
        curve.append({"samples": size, "loss": float(np.mean(losses)),
                      "error_rate": float(np.mean(errors))})
    losses = np.array([c["loss"] for c in curve])
    if np.any(losses <= 0):
        raise ScalingLabError("a training size reached zero test loss; use smaller sizes")
    exponent = fit_exponent(np.array(sizes, dtype=float), losses, "D", bootstrap=bootstrap,
                            level=level, seed=seed)
    estimate = intrinsic_dimension(X, method, bootstrap=bootstrap, level=level, seed=seed)
    notes = list(estimate.warnings)
    return DigitsResult(id=estimate, learner=learner, curve=curve, exponent=exponent,
                        settings={"sizes": list(sizes), "n_test": n_test, "repeats": repeats,
                                  "method": method, "bootstrap": bootstrap, "seed": seed},
                        warnings=notes)
