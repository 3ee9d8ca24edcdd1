"""Gadre et al. 2024: a law for over-trained models, whose data term depends on tokens per parameter.

Source: Gadre, Smyrnis, Shankar, Gururangan, Wortsman, Shao, Mercat, Fang, Li, Keh, Xin,
Nezhurina, Vasiljevic, Jitsev, Dimakis, Ilharco, Song, Kollar, Carmon, Dave, Heckel,
Muennighoff & Schmidt, "Language models scale reliably with over-training and on downstream
tasks" (arXiv:2403.08540), Sec. 2 (Eq. 4).  Losses in nats/token.

With C = 6 N D training FLOPs and M = D / N tokens per parameter::

    L(C, M) = E + (a M^eta + b M^(-eta)) C^(-eta)

It is the Chinchilla form with tied exponents: substituting C and M gives
``E + a 6^-eta / N^(2 eta) + b 6^-eta / D^(2 eta)``, i.e. ``alpha = beta = 2 eta``.  One
exponent fewer than Chinchilla makes it better determined on sweeps whose N and D move
together (the over-trained runs of Gadre et al. follow the compute-optimal slope in C at every
fixed M).  Raw coordinates: ``(e, log a, log b, eta)``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scalinglab.laws.base import Law, logsumexp_terms

LOG6 = float(np.log(6.0))


def _batched(theta: np.ndarray) -> np.ndarray:
    theta = np.asarray(theta, dtype=float)
    return theta[:, None, :] if theta.ndim == 2 else theta


class OverTrain(Law):
    """``L(N, D) = E + (a M^eta + b M^-eta) (6 N D)^-eta`` with ``M = D / N`` (Gadre et al. 2024)."""

    name: ClassVar[str] = "overtrain"
    param_names: ClassVar[tuple[str, ...]] = ("E", "a", "b", "eta")
    raw_names: ClassVar[tuple[str, ...]] = ("e", "log_a", "log_b", "eta")
    units: ClassVar[dict[str, str]] = {"E": "nats/token", "a": "nats/token * FLOPs^eta",
                                       "b": "nats/token * FLOPs^eta", "eta": "dimensionless"}
    variables = ("N", "D")

    @classmethod
    def to_raw(cls, params):
        return np.array([np.log(params["E"]), np.log(params["a"]), np.log(params["b"]),
                         params["eta"]])

    @classmethod
    def from_raw(cls, theta):
        e, la, lb, eta = (float(v) for v in np.asarray(theta, dtype=float))
        return {"E": float(np.exp(e)), "a": float(np.exp(la)), "b": float(np.exp(lb)),
                "eta": eta}

    @staticmethod
    def _terms(t, logN, logD):
        eta = t[..., 3]
        term_n = t[..., 1] - eta * LOG6 - 2.0 * eta * logN
        term_d = t[..., 2] - eta * LOG6 - 2.0 * eta * logD
        return term_n, term_d

    def log_predict_raw(self, theta, X):
        t = _batched(theta)
        logN, logD = np.log(X["N"]), np.log(X["D"])
        term_n, term_d = self._terms(t, logN, logD)
        out, _ = logsumexp_terms([term_n, term_d, np.broadcast_to(t[..., 0], term_n.shape)])
        return out

    def log_jacobian_raw(self, theta, X):
        t = np.asarray(theta, dtype=float)
        logN, logD = np.log(X["N"]), np.log(X["D"])
        term_n, term_d = self._terms(t, logN, logD)
        _, (w_n, w_d, w_e) = logsumexp_terms([term_n, term_d, np.full_like(term_n, t[0])])
        d_eta = -w_n * (LOG6 + 2.0 * logN) - w_d * (LOG6 + 2.0 * logD)
        return np.stack([w_e, w_n, w_d, d_eta], axis=1)

    def lse_design(self, X) -> np.ndarray:
        """Terms (3, n, 4) linear in the raw parameters: log L = LSE_j(T[j] @ theta).

        Lets the bootstrap polish every resample at once with exact Hessians
        (:func:`scalinglab.fit.objective.lse_design`).
        """
        logN, logD = np.log(X["N"]), np.log(X["D"])
        one, zero = np.ones_like(logN), np.zeros_like(logN)
        return np.stack([np.stack([zero, one, zero, -(LOG6 + 2.0 * logN)], axis=1),
                         np.stack([zero, zero, one, -(LOG6 + 2.0 * logD)], axis=1),
                         np.stack([one, zero, zero, zero], axis=1)])

    def default_starts(self, X, y):
        ymin = float(np.min(y))
        logN, logD = np.log(X["N"]), np.log(X["D"])
        starts = []
        for eta in (0.05, 0.1, 0.15, 0.2, 0.3, 0.45):
            for frac in (0.0, 0.5, 0.8, 0.95):
                E = max(frac * ymin, 1e-3)
                excess = np.log(np.maximum(y - frac * ymin, 1e-3 * ymin))
                scale = float(np.median(excess + eta * (LOG6 + logN + logD)))
                for share in (-2.0, 0.0, 2.0):  # how the excess splits between the N and D terms
                    la = scale - np.log(2.0) + share
                    lb = scale - np.log(2.0) - share
                    starts.append([np.log(E), la + eta * float(np.median(logD - logN)),
                                   lb - eta * float(np.median(logD - logN)), eta])
        return np.array(starts)

    # -- the equivalent Chinchilla parameters and the compute-optimal frontier --------------------
    def chinchilla_params(self) -> dict[str, float]:
        """E, A, alpha, B, beta of the same law in Hoffmann et al.'s form (alpha = beta = 2 eta)."""
        return chinchilla_equivalent(self.params)

    def frontier(self, C: float | np.ndarray) -> dict[str, np.ndarray | float]:
        """Compute-optimal N, D, tokens/parameter and loss at C FLOPs (C = 6ND), closed form."""
        from scalinglab.laws.forms import chinchilla_frontier  # noqa: PLC0415

        return chinchilla_frontier(self.chinchilla_params(), C)


def chinchilla_equivalent(params):
    """E, A, alpha, B, beta of an over-training law (scalars or arrays of draws, vectorised):
    ``A = a 6^-eta``, ``B = b 6^-eta``, ``alpha = beta = 2 eta``."""
    eta = np.asarray(params["eta"], dtype=float)
    scale = 6.0 ** (-eta)

    def same_shape(x):
        return float(x) if np.ndim(x) == 0 else x

    return {"E": same_shape(np.asarray(params["E"], dtype=float)),
            "A": same_shape(np.asarray(params["a"], dtype=float) * scale),
            "alpha": same_shape(2.0 * eta),
            "B": same_shape(np.asarray(params["b"], dtype=float) * scale),
            "beta": same_shape(2.0 * eta)}
