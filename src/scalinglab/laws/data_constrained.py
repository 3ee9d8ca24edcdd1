"""Muennighoff et al. 2023: the Chinchilla law with effective data and effective parameters.

Source: Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf & Raffel, "Scaling
Data-Constrained Language Models", NeurIPS 2023 (arXiv:2305.16264), Sec. 3 (the
data-constrained scaling law; derivation in App. A).  All losses are in nats/token.

Training on ``U`` unique tokens for ``D`` tokens in total repeats the data
``R_D = D/U - 1`` times (``R_D = 0`` is one epoch).  Repeated tokens are worth less than new
ones; their value decays exponentially with the number of repetitions::

    D' = U + U R_D* (1 - exp(-R_D / R_D*))                       (effective data, tokens)

so the marginal worth of the r-th repetition is ``exp(-r / R_D*)`` of a fresh token and
``D'`` saturates at ``U (1 + R_D*)``.  Parameters beyond those that ``U`` unique tokens can
use are discounted the same way.  ``U_N`` is the compute-optimal model size for ``U`` tokens
under the base Chinchilla law (its closed-form frontier solved for N given ``D_opt = U``),
capped at N::

    G   = (alpha A / (beta B))^(1/(alpha+beta))
    U_N = min(N, G (U G)^(beta/alpha)),   R_N = N / U_N - 1
    N'  = U_N + U_N R_N* (1 - exp(-R_N / R_N*))                 (effective parameters)

    L(N, D, U) = E + A / N'^alpha + B / D'^beta

With ``R_D = R_N = 0`` this is exactly the Chinchilla form.  Note what that needs: one
epoch (``D = U``) *and* ``N <= U_N``, i.e. at least the compute-optimal number of tokens per
parameter.  A one-epoch run of an over-sized model (fewer tokens than its compute-optimal
budget) still has its excess parameters discounted -- that is the paper's definition of
``U_N``, kept as published.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law, logsumexp_terms
from scalinglab.laws.forms import Chinchilla

#: Smallest exponent used inside log/divide when a raw vector has alpha or beta <= 0 (those
#: vectors are outside the law's domain; this only keeps the fitter's arithmetic finite).
_TINY_EXPONENT = 1e-12
#: Bounds on log R* and on log(N / U_N) inside the arithmetic, so that far-off raw vectors
#: (R* outside [2e-22, 5e21], N more than e^600 times U_N) give finite numbers, not overflow.
_LOG_R_STAR_LIMIT = 50.0
_LOG_EXCESS_LIMIT = 600.0
#: exp(-z) underflows to 0 beyond this; z exp(-z) is then 0 as well.
_DECAY_LIMIT = 745.0


def _as_batch(theta: np.ndarray) -> np.ndarray:
    """Raw parameters (k,) stay as they are; a batch (m, k) becomes (m, 1, k) to broadcast."""
    theta = np.asarray(theta, dtype=float)
    return theta[:, None, :] if theta.ndim == 2 else theta


def _log_decayed_multiplier(repeats: np.ndarray, r_star: np.ndarray) -> np.ndarray:
    """log(1 + R* (1 - exp(-R/R*))): log of effective / unique, for R repeats (R >= 0)."""
    return np.log1p(r_star * -np.expm1(-repeats / r_star))


def effective_data(D: float | np.ndarray, U: float | np.ndarray,
                   R_D_star: float) -> np.ndarray | float:
    """Effective data ``D'`` in tokens for D tokens seen drawn from U unique tokens (Sec. 3)."""
    D, U = np.asarray(D, dtype=float), np.asarray(U, dtype=float)
    repeats = np.maximum(D / U - 1.0, 0.0)
    out = U * np.exp(_log_decayed_multiplier(repeats, R_D_star))
    return float(out) if np.ndim(out) == 0 else out


def _log_unique_params(theta_parts: dict[str, np.ndarray], logU: np.ndarray) -> np.ndarray:
    """log of G (U G)^(beta/alpha), the compute-optimal parameters for U tokens.

    With log G = (log alpha + a - log beta - b) / (alpha + beta) this simplifies to
    ``(a - b + log alpha - log beta + beta log U) / alpha``.
    """
    a, b = theta_parts["a"], theta_parts["b"]
    alpha = np.maximum(theta_parts["alpha"], _TINY_EXPONENT)
    beta = np.maximum(theta_parts["beta"], _TINY_EXPONENT)
    return (a - b + np.log(alpha) - np.log(beta) + beta * logU) / alpha


class DataConstrained(Law):
    """Muennighoff et al. 2023 (Sec. 3): ``L = E + A / N'^alpha + B / D'^beta``.

    Variables: N (parameters), D (tokens seen) and U (unique tokens, ``U <= D``).
    Parameters: the Chinchilla ``E`` (nats/token), ``A``, ``alpha``, ``B``, ``beta`` and the decay
    constants ``R_D_star`` (repetitions of data) and ``R_N_star`` (multiples of excess
    parameters).  Raw coordinates: ``(e, a, alpha, b, beta, log R_D*, log R_N*)`` with
    ``E = exp(e)``, ``A = exp(a)``, ``B = exp(b)``, so that
    ``log L = LSE(a - alpha log N', b - beta log D', e)``.
    """

    name: ClassVar[str] = "data_constrained"
    param_names: ClassVar[tuple[str, ...]] = ("E", "A", "alpha", "B", "beta", "R_D_star",
                                              "R_N_star")
    raw_names: ClassVar[tuple[str, ...]] = ("e", "a", "alpha", "b", "beta", "log_R_D_star",
                                            "log_R_N_star")
    units: ClassVar[dict[str, str]] = {
        "E": "nats/token", "A": "nats/token * params^alpha", "alpha": "dimensionless",
        "B": "nats/token * tokens^beta", "beta": "dimensionless",
        "R_D_star": "repetitions of the unique data (epochs - 1)",
        "R_N_star": "multiples of the unique parameters U_N"}
    variables = ("N", "D", "U")

    def __init__(self, **params: float) -> None:
        super().__init__(**params)
        bad = [k for k, v in self.params.items() if not (np.isfinite(v) and v > 0)]
        if bad:
            raise ScalingLabError(f"{self.name} law parameters must be finite and > 0: "
                                  f"{', '.join(f'{k}={self.params[k]:g}' for k in bad)}")

    # -- inputs ------------------------------------------------------------------------------
    def _inputs(self, inputs: Mapping[str, float | np.ndarray]) -> dict[str, np.ndarray]:
        X = super()._inputs(inputs)
        if np.any(X["U"] > X["D"] * (1.0 + 1e-12)):
            raise ScalingLabError("unique tokens U must not exceed tokens seen D "
                                  "(U <= D; one epoch is U = D)")
        return X

    # -- raw coordinates ---------------------------------------------------------------------
    @classmethod
    def to_raw(cls, params: Mapping[str, float]) -> np.ndarray:
        return np.array([np.log(params["E"]), np.log(params["A"]), params["alpha"],
                         np.log(params["B"]), params["beta"], np.log(params["R_D_star"]),
                         np.log(params["R_N_star"])], dtype=float)

    @classmethod
    def from_raw(cls, theta: np.ndarray) -> dict[str, float]:
        e, a, alpha, b, beta, lrd, lrn = (float(v) for v in np.asarray(theta, dtype=float))
        return {"E": float(np.exp(e)), "A": float(np.exp(a)), "alpha": alpha,
                "B": float(np.exp(b)), "beta": beta, "R_D_star": float(np.exp(lrd)),
                "R_N_star": float(np.exp(lrn))}

    @staticmethod
    def _split(t: np.ndarray) -> dict[str, np.ndarray]:
        names = ("e", "a", "alpha", "b", "beta", "lrd", "lrn")
        return {name: t[..., i] for i, name in enumerate(names)}

    def _log_effective(self, t: np.ndarray, X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """log N', log D' and the intermediate quantities the Jacobian needs."""
        p = self._split(t)
        logN, logD, logU = np.log(X["N"]), np.log(X["D"]), np.log(X["U"])
        repeats_D = np.maximum(np.expm1(logD - logU), 0.0)
        R_D_star = np.exp(np.clip(p["lrd"], -_LOG_R_STAR_LIMIT, _LOG_R_STAR_LIMIT))
        R_N_star = np.exp(np.clip(p["lrn"], -_LOG_R_STAR_LIMIT, _LOG_R_STAR_LIMIT))
        log_Dp = logU + _log_decayed_multiplier(repeats_D, R_D_star)
        log_cap = _log_unique_params(p, logU)
        capped = log_cap < logN
        log_UN = np.where(capped, log_cap, logN)
        repeats_N = np.expm1(np.minimum(logN - log_UN, _LOG_EXCESS_LIMIT))
        log_Np = log_UN + _log_decayed_multiplier(repeats_N, R_N_star)
        return {"p": p, "logU": logU, "log_Dp": log_Dp, "log_Np": log_Np, "log_UN": log_UN,
                "capped": capped, "repeats_D": repeats_D, "repeats_N": repeats_N,
                "R_D_star": R_D_star, "R_N_star": R_N_star}

    def log_predict_raw(self, theta, X):
        """log L (nats/token) for raw theta (k,) or (m, k): the inputs' shape, or (m, n)."""
        t = _as_batch(theta)
        q = self._log_effective(t, X)
        p = q["p"]
        termN = p["a"] - p["alpha"] * q["log_Np"]
        termD = p["b"] - p["beta"] * q["log_Dp"]
        out, _ = logsumexp_terms([termN, termD, np.broadcast_to(p["e"], termN.shape)])
        return out

    def log_jacobian_raw(self, theta, X):
        """Analytic d log L / d theta, shape (n, 7), for one raw vector theta (7,)."""
        t = np.asarray(theta, dtype=float)
        q = self._log_effective(t, X)
        p = q["p"]
        alpha, beta = p["alpha"], p["beta"]
        termN = p["a"] - alpha * q["log_Np"]
        termD = p["b"] - beta * q["log_Dp"]
        _, (wN, wD, wE) = logsumexp_terms([termN, termD, np.full_like(termN, p["e"])])

        dlogDp_dlrd = _dlog_multiplier_dlog_rstar(q["repeats_D"], q["R_D_star"])
        dlogNp_dlrn = _dlog_multiplier_dlog_rstar(q["repeats_N"], q["R_N_star"])
        # Sensitivity of log N' to log U_N (zero where U_N = N, i.e. uncapped).
        # (1 + R_N) exp(-R_N/R_N*) / (N'/U_N), formed in logs so huge R_N cannot give inf * 0.
        z_N = np.minimum(q["repeats_N"] / q["R_N_star"], _DECAY_LIMIT)
        log_shrink = np.log1p(q["repeats_N"]) - z_N - (q["log_Np"] - q["log_UN"])
        k = np.where(q["capped"], 1.0 - np.exp(log_shrink), 0.0)
        k_alpha = np.maximum(alpha, _TINY_EXPONENT)
        k_beta = np.maximum(beta, _TINY_EXPONENT)

        dN = {  # d termN / d raw parameter (log U_N depends on a, alpha, b, beta when capped)
            "a": 1.0 - k,
            "alpha": -q["log_Np"] - k * (1.0 / k_alpha - q["log_UN"]),
            "b": k,
            "beta": -k * (q["logU"] - 1.0 / k_beta),
            "lrn": -alpha * dlogNp_dlrn,
        }
        columns = [
            wE,
            wN * dN["a"],
            wN * dN["alpha"],
            wN * dN["b"] + wD,
            wN * dN["beta"] - wD * q["log_Dp"],
            -wD * beta * dlogDp_dlrd,
            wN * dN["lrn"],
        ]
        return np.stack(np.broadcast_arrays(*columns), axis=1)

    def default_starts(self, X, y):
        """Raw starting points (m, 7): a Hoffmann-like grid in (e, a, alpha, b, beta) -- exponents
        kept > 0, which the law needs -- crossed with decay constants around the paper's."""
        y = np.asarray(y, dtype=float)
        e_grid = np.log(np.array([0.3, 0.7, 0.95]) * float(np.min(y)))
        grids = np.meshgrid(
            e_grid,
            np.array([3.0, 6.0, 9.0]),                 # a
            np.array([0.2, 0.35, 0.6]),                # alpha
            np.array([3.0, 6.0, 9.0]),                 # b
            np.array([0.2, 0.35, 0.6]),                # beta
            np.log(np.array([5.0, 15.0, 50.0])),       # log R_D*
            np.log(np.array([2.0, 5.0, 20.0])),        # log R_N*
            indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)

    # -- helpers for users -------------------------------------------------------------------
    def effective_data(self, D: float | np.ndarray, U: float | np.ndarray) -> np.ndarray | float:
        """Effective data ``D'`` (tokens) of D tokens seen drawn from U unique tokens."""
        X = self._inputs({"N": np.ones_like(np.asarray(D, dtype=float)), "D": D, "U": U})
        return effective_data(X["D"], X["U"], self.params["R_D_star"])

    def unique_params(self, N: float | np.ndarray, U: float | np.ndarray) -> np.ndarray | float:
        """``U_N`` (parameters): the compute-optimal size for U unique tokens, capped at N."""
        N, U = np.asarray(N, dtype=float), np.asarray(U, dtype=float)
        parts = {k: np.asarray(v) for k, v in self._split(self.to_raw(self.params)).items()}
        out = np.minimum(N, np.exp(_log_unique_params(parts, np.log(U))))
        return float(out) if np.ndim(out) == 0 else out

    def effective_params(self, N: float | np.ndarray, U: float | np.ndarray) -> np.ndarray | float:
        """Effective parameters ``N'`` of an N-parameter model trained on U unique tokens."""
        N = np.asarray(N, dtype=float)
        U_N = np.asarray(self.unique_params(N, U))
        repeats = N / U_N - 1.0
        out = U_N * np.exp(_log_decayed_multiplier(repeats, self.params["R_N_star"]))
        return float(out) if np.ndim(out) == 0 else out

    def base_law(self) -> Law:
        """The Chinchilla law with the same E, A, alpha, B, beta (no repetition discount)."""
        return Chinchilla(**{k: self.params[k] for k in Chinchilla.param_names})

    def optimal_allocation(self, C: float, unique_tokens: float) -> dict[str, float]:
        """Loss-minimising split of C FLOPs (C = 6 N D) when only ``unique_tokens`` exist.

        Minimises L(N, D = C/(6N), U = min(unique_tokens, D)) over N numerically (a log-spaced
        grid refined by golden-section search).  Returns N (parameters), D (tokens), epochs
        (D / U), U (tokens) and loss (nats/token).
        """
        if not (np.isfinite(C) and C > 0):
            raise ScalingLabError("compute C must be finite and > 0 FLOPs")
        if not (np.isfinite(unique_tokens) and unique_tokens > 0):
            raise ScalingLabError("unique_tokens must be finite and > 0 tokens")
        theta = self.to_raw(self.params)

        def loss_at(log_n: np.ndarray) -> np.ndarray:
            N = np.exp(log_n)
            D = C / (6.0 * N)
            U = np.minimum(unique_tokens, D)
            return self.log_predict_raw(theta, {"N": N, "D": D, "U": U})

        centre = 0.5 * np.log(C / 6.0)
        grid = centre + np.linspace(-np.log(1e6), np.log(1e6), 4001)
        i = int(np.argmin(loss_at(grid)))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        log_n = _golden_section(loss_at, lo, hi)
        N = float(np.exp(log_n))
        D = C / (6.0 * N)
        U = min(unique_tokens, D)
        return {"C": float(C), "N": N, "D": D, "U": U, "epochs": D / U,
                "loss": float(np.exp(loss_at(np.array(log_n))))}


def _dlog_multiplier_dlog_rstar(repeats: np.ndarray, r_star: np.ndarray) -> np.ndarray:
    """d/d(log R*) of log(1 + R* (1 - exp(-R/R*)))."""
    z = np.minimum(repeats / r_star, _DECAY_LIMIT)
    decay = np.exp(-z)
    multiplier = 1.0 + r_star * (1.0 - decay)
    return r_star * ((1.0 - decay) - z * decay) / multiplier


def _golden_section(f, lo: float, hi: float, tol: float = 1e-10) -> float:
    """Minimiser of a unimodal scalar function on [lo, hi] (golden-section search)."""
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f1, f2 = float(f(np.array(x1))), float(f(np.array(x2)))
    while hi - lo > tol:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - ratio * (hi - lo)
            f1 = float(f(np.array(x1)))
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + ratio * (hi - lo)
            f2 = float(f(np.array(x2)))
    return 0.5 * (lo + hi)
