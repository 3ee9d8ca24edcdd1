"""The functional forms of neural scaling laws.

All losses are in nats/token.  Sources:

* Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361):
  ``L(X) = (X_c / X)^alpha_X`` for X in {N, D, C_min} (Eqs. 1.1-1.3) and the joint
  ``L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D`` (Eq. 1.5).
* OpenAI 2023, "GPT-4 Technical Report" (arXiv:2303.08774), Sec. 3.1: ``L(C) = a C^b + c``
  -- the single-variable form with an irreducible term.
* Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556),
  Eq. 2: ``L(N, D) = E + A / N^alpha + B / D^beta``, fitted in log-sum-exp form (Eq. 3 / App. D.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law, logsumexp_terms

# Hoffmann et al. 2022, App. D.2: the initialisation grid of Approach 3.
HOFFMANN_GRID = {
    "alpha": np.arange(0.0, 2.0 + 1e-9, 0.5),
    "beta": np.arange(0.0, 2.0 + 1e-9, 0.5),
    "e": np.arange(-1.0, 1.0 + 1e-9, 0.5),
    "a": np.arange(0.0, 25.0 + 1e-9, 5.0),
    "b": np.arange(0.0, 25.0 + 1e-9, 5.0),
}


def _batched(theta: np.ndarray) -> tuple[np.ndarray, bool]:
    theta = np.asarray(theta, dtype=float)
    return (theta[:, None, :], True) if theta.ndim == 2 else (theta, False)


#: the unit of each law input, as parameter units name it
VARIABLE_UNITS = {"N": "params", "D": "tokens", "C": "FLOPs"}


class PowerLaw(Law):
    """Single-variable power law ``L(x) = E + A x^(-alpha)``, or ``A x^(-alpha)`` without E.

    ``x`` is one of N (parameters), D (tokens) or C (FLOPs).  Kaplan's ``(x_c/x)^alpha`` is the
    form without E with ``A = x_c^alpha``; GPT-4's ``a C^b + c`` is ``A=a, alpha=-b, E=c``.
    Raw coordinates: ``(log E, log A, alpha)`` (or ``(log A, alpha)`` without E).
    """

    name: ClassVar[str] = "power"
    units: ClassVar[dict[str, str]] = {"E": "nats/token", "A": "nats/token * x^alpha",
                                       "alpha": "dimensionless"}

    def __init__(self, variable: str = "C", irreducible: bool = True, **params: float) -> None:
        if variable not in ("N", "D", "C"):
            raise ScalingLabError(f"power law variable must be N, D or C, not {variable!r}")
        self.variable = variable
        self.irreducible = irreducible
        self.variables = (variable,)
        #: A's unit names the variable's own unit (params, tokens or FLOPs)
        self.units = {**PowerLaw.units, "A": f"nats/token * {VARIABLE_UNITS[variable]}^alpha"}
        self.param_names = ("E", "A", "alpha") if irreducible else ("A", "alpha")  # type: ignore[misc]
        self.raw_names = ("e", "a", "alpha") if irreducible else ("a", "alpha")  # type: ignore[misc]
        super().__init__(**params)

    @classmethod
    def from_critical(cls, variable: str, x_c: float, alpha: float) -> PowerLaw:
        """Kaplan's ``L = (x_c / x)^alpha`` (no irreducible term)."""
        return cls(variable=variable, irreducible=False, A=x_c**alpha, alpha=alpha)

    @property
    def critical_scale(self) -> float:
        """x_c with ``A x^(-alpha) = (x_c/x)^alpha``, in the unit of the variable."""
        return self.params["A"] ** (1.0 / self.params["alpha"])

    def to_raw(self, params: Mapping[str, float]) -> np.ndarray:  # type: ignore[override]
        core = [np.log(params["A"]), params["alpha"]]
        return np.array(([np.log(params["E"])] if self.irreducible else []) + core)

    def from_raw(self, theta: np.ndarray) -> dict[str, float]:  # type: ignore[override]
        t = np.asarray(theta, dtype=float)
        out = {"A": float(np.exp(t[-2])), "alpha": float(t[-1])}
        if self.irreducible:
            out = {"E": float(np.exp(t[0])), **out}
        return out

    def log_predict_raw(self, theta, X):
        t, _ = _batched(theta)
        logx = np.log(X[self.variable])
        power = t[..., -2] - t[..., -1] * logx
        if self.irreducible:
            out, _ = logsumexp_terms([power, np.broadcast_to(t[..., 0], power.shape)])
        else:
            out = power
        return out

    def log_jacobian_raw(self, theta, X):
        t = np.asarray(theta, dtype=float)
        logx = np.log(X[self.variable])
        power = t[-2] - t[-1] * logx
        if not self.irreducible:
            return np.stack([np.ones_like(logx), -logx], axis=1)
        _, (w_pow, w_e) = logsumexp_terms([power, np.full_like(power, t[0])])
        return np.stack([w_e, w_pow, -w_pow * logx], axis=1)

    def default_starts(self, X, y):
        logx = np.log(X[self.variable])
        alphas = np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.8])
        starts = []
        ymin = float(np.min(y))
        for alpha in alphas:
            for frac in ([0.0, 0.5, 0.9] if self.irreducible else [0.0]):
                E = frac * ymin
                resid = np.maximum(y - E, 1e-3 * ymin)
                a = float(np.median(np.log(resid) + alpha * logx))
                starts.append(([np.log(max(E, 1e-3))] if self.irreducible else []) + [a, alpha])
        return np.array(starts)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["irreducible"] = self.irreducible
        return d


class Chinchilla(Law):
    """Hoffmann et al. 2022 (Eq. 2): ``L(N, D) = E + A / N^alpha + B / D^beta``.

    E is the irreducible loss (nats/token); A/N^alpha is the excess loss of a finite model;
    B/D^beta that of finite data.  Raw coordinates are Hoffmann's ``(e, a, alpha, b, beta)``
    with ``E = exp(e)``, ``A = exp(a)``, ``B = exp(b)``, so that
    ``log L = LSE(a - alpha log N, b - beta log D, e)``.
    """

    name: ClassVar[str] = "chinchilla"
    param_names: ClassVar[tuple[str, ...]] = ("E", "A", "alpha", "B", "beta")
    raw_names: ClassVar[tuple[str, ...]] = ("e", "a", "alpha", "b", "beta")
    units: ClassVar[dict[str, str]] = {"E": "nats/token", "A": "nats/token * params^alpha",
                                       "alpha": "dimensionless", "B": "nats/token * tokens^beta",
                                       "beta": "dimensionless"}
    variables = ("N", "D")

    @classmethod
    def to_raw(cls, params):
        return np.array([np.log(params["E"]), np.log(params["A"]), params["alpha"],
                         np.log(params["B"]), params["beta"]])

    @classmethod
    def from_raw(cls, theta):
        e, a, alpha, b, beta = (float(v) for v in np.asarray(theta, dtype=float))
        return {"E": float(np.exp(e)), "A": float(np.exp(a)), "alpha": alpha,
                "B": float(np.exp(b)), "beta": beta}

    def log_predict_raw(self, theta, X):
        t, _ = _batched(theta)
        logN, logD = np.log(X["N"]), np.log(X["D"])
        termN = t[..., 1] - t[..., 2] * logN
        termD = t[..., 3] - t[..., 4] * logD
        out, _ = logsumexp_terms([termN, termD, np.broadcast_to(t[..., 0], termN.shape)])
        return out

    def log_jacobian_raw(self, theta, X):
        e, a, alpha, b, beta = np.asarray(theta, dtype=float)
        logN, logD = np.log(X["N"]), np.log(X["D"])
        termN, termD = a - alpha * logN, b - beta * logD
        _, (wN, wD, wE) = logsumexp_terms([termN, termD, np.full_like(termN, e)])
        return np.stack([wE, wN, -wN * logN, wD, -wD * logD], axis=1)

    def default_starts(self, X, y):
        grid = np.meshgrid(HOFFMANN_GRID["e"], HOFFMANN_GRID["a"], HOFFMANN_GRID["alpha"],
                           HOFFMANN_GRID["b"], HOFFMANN_GRID["beta"], indexing="ij")
        return np.stack([g.ravel() for g in grid], axis=1)

    # -- the compute-optimal frontier (C = 6 N D) ------------------------------------------------
    def frontier(self, C: float | np.ndarray) -> dict[str, np.ndarray | float]:
        """Closed-form compute-optimal allocation of C FLOPs under C = 6 N D (Hoffmann App. D.2).

        ``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``N_opt = G (C/6)^(beta/(alpha+beta))``,
        ``D_opt = (C/6)^(alpha/(alpha+beta)) / G``.  Returns N_opt (parameters), D_opt (tokens),
        tokens_per_param, loss (nats/token) and the exponents a, b.
        """
        return chinchilla_frontier(self.params, C)

    def optimal_exponents(self) -> tuple[float, float]:
        """(a, b) with N_opt ~ C^a and D_opt ~ C^b: a = beta/(alpha+beta), b = alpha/(alpha+beta)."""
        s = self.params["alpha"] + self.params["beta"]
        return self.params["beta"] / s, self.params["alpha"] / s


def chinchilla_frontier(params: Mapping[str, np.ndarray | float],
                        C: float | np.ndarray) -> dict[str, np.ndarray | float]:
    """Vectorised frontier: ``params`` values may be arrays (bootstrap draws) broadcast with C."""
    E, A, alpha, B, beta = (np.asarray(params[k], dtype=float)
                            for k in ("E", "A", "alpha", "B", "beta"))
    C = np.asarray(C, dtype=float)
    if np.any(~np.isfinite(C)) or np.any(C <= 0):
        raise ScalingLabError("compute C must be finite and > 0 FLOPs")
    s = alpha + beta
    G = (alpha * A / (beta * B)) ** (1.0 / s)
    N_opt = G * (C / 6.0) ** (beta / s)
    D_opt = (C / 6.0) ** (alpha / s) / G
    loss = E + A / N_opt**alpha + B / D_opt**beta
    out = {"C": C, "N_opt": N_opt, "D_opt": D_opt, "tokens_per_param": D_opt / N_opt,
           "loss": loss, "a": beta / s, "b": alpha / s}
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


class KaplanND(Law):
    """Kaplan et al. 2020, Eq. 1.5: ``L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D``.

    N is non-embedding parameters, D tokens, L nats/token; there is no irreducible term.
    Raw coordinates: ``(log N_c, log D_c, alpha_N, alpha_D)``.
    """

    name: ClassVar[str] = "kaplan"
    param_names: ClassVar[tuple[str, ...]] = ("N_c", "alpha_N", "D_c", "alpha_D")
    raw_names: ClassVar[tuple[str, ...]] = ("log_N_c", "alpha_N", "log_D_c", "alpha_D")
    units: ClassVar[dict[str, str]] = {"N_c": "parameters", "alpha_N": "dimensionless",
                                       "D_c": "tokens", "alpha_D": "dimensionless"}
    variables = ("N", "D")

    @classmethod
    def to_raw(cls, params):
        return np.array([np.log(params["N_c"]), params["alpha_N"], np.log(params["D_c"]),
                         params["alpha_D"]])

    @classmethod
    def from_raw(cls, theta):
        lnc, aN, ldc, aD = (float(v) for v in np.asarray(theta, dtype=float))
        return {"N_c": float(np.exp(lnc)), "alpha_N": aN, "D_c": float(np.exp(ldc)), "alpha_D": aD}

    # log L = alpha_D * LSE(u, v) with u = (alpha_N / alpha_D) (log N_c - log N) and
    # v = log D_c - log D.  Written as a "soft maximum" of g = alpha_D u = alpha_N (log N_c -
    # log N) and h = alpha_D v at temperature alpha_D, it stays finite as alpha_D -> 0 (where
    # u overflows): log L = max(g, h) + alpha_D log1p(exp(-|u - v|)).
    _CLAMP: ClassVar[float] = 750.0  # exp(-750) underflows to 0: larger |u - v| changes nothing

    def _parts(self, t, X):
        logN, logD = np.log(X["N"]), np.log(X["D"])
        aN, aD = t[..., 1], t[..., 3]
        gap = t[..., 0] - logN
        v = t[..., 2] - logD
        g, h = aN * gap, aD * v
        diff = g - h
        # d = u - v = (g - h) / alpha_D, clamped to +-750 without ever dividing by ~0
        small = np.abs(diff) < self._CLAMP * np.abs(aD)
        d = np.where(small, diff / np.where(small, aD, 1.0),
                     np.sign(diff) * np.sign(aD) * self._CLAMP)
        soft = np.log1p(np.exp(-np.abs(d)))
        log_l = np.where(aD >= 0, np.maximum(g, h), np.minimum(g, h)) + aD * soft
        p = 0.5 * (1.0 + np.tanh(0.5 * d))  # softmax weight of the N term, sigmoid(u - v)
        return log_l, p, d, soft, gap, v

    def log_predict_raw(self, theta, X):
        t, _ = _batched(theta)
        return self._parts(t, X)[0]

    def log_jacobian_raw(self, theta, X):
        t = np.asarray(theta, dtype=float)
        _, p, d, soft, gap, v = self._parts(t, X)
        aN, aD = t[1], t[3]
        # d log L / d alpha_D = LSE(u, v) - p u = H(p) + (1 - p) v, with the binary entropy
        # H(p) = log1p(exp(-|d|)) + |d| sigmoid(-|d|) (finite for every d)
        abs_d = np.abs(d)
        entropy = soft + abs_d * 0.5 * (1.0 - np.tanh(0.5 * abs_d))
        return np.stack([aN * p, p * gap, aD * (1 - p), entropy + (1 - p) * v], axis=1)

    def default_starts(self, X, y):
        starts = []
        for aN in (0.05, 0.076, 0.15, 0.3):
            for aD in (0.05, 0.1, 0.2, 0.4):
                for lnc in (np.log(1e6), np.log(1e10), np.log(1e14)):
                    for ldc in (np.log(1e6), np.log(1e10), np.log(1e14)):
                        starts.append([lnc, aN, ldc, aD])
        return np.array(starts)
