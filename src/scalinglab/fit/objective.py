"""The Approach-3 objective: the SUM of Huber losses of residuals in log loss.

Hoffmann et al. 2022 (App. D.2) minimise Huber(delta = 1e-3) of ``log L_hat - log L``.
Besiroglu et al. 2024 (Sec. 3) found that averaging instead of summing let L-BFGS stop early and
moved the published fit; we sum, and scale by 1/delta internally only to keep the optimiser's
absolute tolerances meaningful (a positive scale does not move the minimiser).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalinglab.laws.base import Law

DEFAULT_HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, App. D.2


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss, elementwise: r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_grad(r: np.ndarray, delta: float) -> np.ndarray:
    """d huber / d r = clip(r, -delta, delta)."""
    return np.clip(r, -delta, delta)


class LogHuberObjective:
    """sum_i w_i Huber(log L_hat(theta; x_i) - log y_i) / delta (+ optional Gaussian prior on E).

    ``theta`` is in the law's raw coordinates.  ``weights`` are per-row multiplicities (the
    bootstrap passes resampling counts here).
    """

    def __init__(self, law: Law, X: Mapping[str, np.ndarray], y: np.ndarray, delta: float,
                 weights: np.ndarray | None = None,
                 E_prior: tuple[float, float] | None = None) -> None:
        self.law, self.X, self.delta = law, X, float(delta)
        self.log_y = np.log(np.asarray(y, dtype=float))
        self.weights = np.ones_like(self.log_y) if weights is None else np.asarray(weights, float)
        self.E_prior = E_prior
        self.e_index = list(law.raw_names).index("e") if "e" in law.raw_names else None

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """log L_hat - log y for raw theta (k,) -> (n,), or (m, k) -> (m, n)."""
        return self.law.log_predict_raw(theta, self.X) - self.log_y

    def value(self, theta: np.ndarray) -> np.ndarray | float:
        """Objective for theta (k,) or a batch (m, k)."""
        r = self.residuals(theta)
        total = (huber(r, self.delta) * self.weights).sum(axis=-1) / self.delta
        return total + self._prior(np.asarray(theta))

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r = self.residuals(theta)
        value = float((huber(r, self.delta) * self.weights).sum() / self.delta)
        J = self.law.log_jacobian_raw(theta, self.X)
        grad = J.T @ (huber_grad(r, self.delta) * self.weights) / self.delta
        if self.E_prior is not None and self.e_index is not None:
            mean, sd = self.E_prior
            E = np.exp(theta[self.e_index])
            value += 0.5 * ((E - mean) / sd) ** 2
            grad = grad.copy()
            grad[self.e_index] += (E - mean) / sd**2 * E
        return value, grad

    def _prior(self, theta: np.ndarray) -> np.ndarray | float:
        if self.E_prior is None or self.e_index is None:
            return 0.0
        mean, sd = self.E_prior
        E = np.exp(theta[..., self.e_index])
        return 0.5 * ((E - mean) / sd) ** 2
