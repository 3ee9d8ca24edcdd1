"""How to spend compute under a Chinchilla law ``L(N, D) = E + A/N^alpha + B/D^beta``.

Three questions, each answered in closed form or by a vectorised 1-D root search, for one law or
for arrays of parameters (one entry per bootstrap draw):

* :func:`compute_optimal` -- the (N, D) that minimises loss for C = 6·N·D training FLOPs
  (Hoffmann et al. 2022, arXiv:2203.15556, App. D.2; :func:`scalinglab.laws.chinchilla_frontier`).
* :func:`cheapest_for_loss` -- the (N, D) that reaches a target loss with the fewest training
  FLOPs.  On the frontier both excess terms fall as the same power of C:
  ``A/N_opt^alpha = A G^-alpha (C/6)^-g`` and ``B/D_opt^beta = B G^beta (C/6)^-g`` with
  ``g = alpha beta / (alpha + beta)``, so ``L_opt(C) = E + K (C/6)^-g`` inverts exactly.
* :func:`inference_aware_optimum` -- Sardana, Portes, Doubov & Frankle 2024, "Beyond
  Chinchilla-Optimal: Accounting for Inference in Language Model Scaling Laws"
  (arXiv:2401.00448): minimise ``6 N D_train + 2 N D_inf`` subject to ``L(N, D_train) = l``.

N is parameters (the law's convention), D tokens, C FLOPs, losses nats/token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scalinglab.compute.units import (
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
    TRAIN_FLOPS_PER_PARAM_TOKEN,
    Number,
    check_nonnegative,
    check_positive,
)
from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law
from scalinglab.laws.forms import Chinchilla, chinchilla_frontier

PARAM_NAMES: tuple[str, ...] = Chinchilla.param_names
#: Bisection steps of the inference-aware root search (in log of the data share of the excess
#: loss); 200 halvings of an interval of width <= ~1500 reach float64 resolution.
_BISECTION_STEPS = 200

LawLike = Law | Mapping[str, Number]


def _out(value: np.ndarray) -> Number:
    return float(value) if np.ndim(value) == 0 else value


@dataclass(frozen=True)
class Allocation:
    """A model size and a training length: N parameters, D tokens, and the law's loss there.

    Fields may be arrays (one per bootstrap draw); an unreachable target gives N = D = inf.
    """

    n_params: Number
    tokens: Number
    loss: Number

    @property
    def train_flops(self) -> Number:
        """6·N·D training FLOPs."""
        return _out(TRAIN_FLOPS_PER_PARAM_TOKEN * np.asarray(self.n_params)
                    * np.asarray(self.tokens))

    @property
    def tokens_per_param(self) -> Number:
        """D / N (NaN where N is infinite)."""
        with np.errstate(invalid="ignore"):
            return _out(np.asarray(self.tokens) / np.asarray(self.n_params))

    def to_dict(self) -> dict:
        return {"n_params": self.n_params, "tokens": self.tokens, "loss": self.loss,
                "train_flops": self.train_flops, "tokens_per_param": self.tokens_per_param}


def chinchilla_params(law: LawLike) -> dict[str, np.ndarray]:
    """The five Chinchilla parameters as arrays, from a law or a mapping (e.g. bootstrap draws)."""
    if isinstance(law, Law):
        if not isinstance(law, Chinchilla):
            raise ScalingLabError(f"allocation needs a Chinchilla law L(N, D) = E + A/N^alpha + "
                                  f"B/D^beta, not the {law.name!r} form")
        law = law.params
    missing = [k for k in PARAM_NAMES if k not in law]
    if missing:
        raise ScalingLabError(f"Chinchilla parameters missing: {', '.join(missing)}")
    params = {k: np.asarray(law[k], dtype=float) for k in PARAM_NAMES}
    if not all(np.all(np.isfinite(v)) for v in params.values()):
        raise ScalingLabError("Chinchilla parameters must be finite")
    if np.any(params["E"] < 0) or any(np.any(params[k] <= 0)
                                      for k in ("A", "alpha", "B", "beta")):
        raise ScalingLabError("Chinchilla parameters need E >= 0 and A, alpha, B, beta > 0")
    return params


def _frontier_constants(p: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """G, the frontier's loss coefficient K and exponent g (see the module docstring)."""
    s = p["alpha"] + p["beta"]
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / s)
    K = p["A"] * G ** (-p["alpha"]) + p["B"] * G ** p["beta"]
    return G, K, p["alpha"] * p["beta"] / s


def _allocation_at(p: Mapping[str, np.ndarray], flops: np.ndarray) -> Allocation:
    """The compute-optimal allocation; ``flops`` may contain +inf (then N = D = inf)."""
    G, K, g = _frontier_constants(p)
    s = p["alpha"] + p["beta"]
    with np.errstate(divide="ignore", over="ignore"):
        n = G * (flops / 6.0) ** (p["beta"] / s)
        d = (flops / 6.0) ** (p["alpha"] / s) / G
        loss = p["E"] + K * (flops / 6.0) ** (-g)
    return Allocation(_out(n), _out(d), _out(loss))


def compute_optimal(law: LawLike, flops: Number) -> Allocation:
    """Loss-minimising N (parameters) and D (tokens) for ``flops`` training FLOPs (C = 6ND)."""
    p = chinchilla_params(law)
    C = check_positive(flops, "compute budget", "FLOPs")
    front = chinchilla_frontier(p, C)
    return Allocation(front["N_opt"], front["D_opt"], front["loss"])


def compute_optimal_for_params(law: LawLike, n_params: Number) -> Allocation:
    """The compute-optimal model of a given size: the frontier point where N_opt = ``n_params``."""
    p = chinchilla_params(law)
    n = check_positive(n_params, "model size", "parameters")
    G, _, _ = _frontier_constants(p)
    s = p["alpha"] + p["beta"]
    flops = 6.0 * (n / G) ** (s / p["beta"])
    return _allocation_at(p, flops)


def frontier_loss(law: LawLike, flops: Number) -> Number:
    """Loss (nats/token) of the compute-optimal model at ``flops`` FLOPs."""
    return compute_optimal(law, flops).loss


def _excess(p: Mapping[str, np.ndarray], target_loss: Number, strict: bool) -> np.ndarray:
    """``target - E``; with ``strict``, a one-line error if the target is not above E."""
    target = check_positive(target_loss, "target loss", "nats/token")
    excess = target - p["E"]
    if strict and np.any(excess <= 0):
        E = float(np.min(p["E"]))
        raise ScalingLabError(f"target loss {float(np.min(target)):g} nats/token is not above "
                              f"the law's irreducible loss E = {E:g}: no model reaches it")
    return excess


def cheapest_for_loss(law: LawLike, target_loss: Number, *, strict: bool = True) -> Allocation:
    """The (N, D) reaching ``target_loss`` (nats/token) with the fewest training FLOPs.

    With ``strict=False``, entries whose target is at or below E (unreachable) get N = D = inf
    instead of an error -- useful over bootstrap draws.
    """
    p = chinchilla_params(law)
    excess = _excess(p, target_loss, strict)
    _, K, g = _frontier_constants(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        flops = np.where(excess > 0, 6.0 * (K / np.where(excess > 0, excess, 1.0)) ** (1.0 / g),
                         np.inf)
    alloc = _allocation_at(p, flops)
    loss = np.broadcast_to(np.asarray(target_loss, dtype=float), np.shape(alloc.n_params))
    return Allocation(alloc.n_params, alloc.tokens, _out(np.where(excess > 0, loss, np.nan)))


@dataclass(frozen=True)
class InferenceAwareOptimum:
    """Sardana et al. 2024's optimum beside the Chinchilla model of the same loss.

    ``optimum`` minimises training + inference FLOPs, ``6 N D + 2 N D_inf``, at loss
    ``target_loss``; ``chinchilla`` is the cheapest-to-train model of that loss (the optimum for
    D_inf = 0).  FLOPs totals include inference; ``saving`` = 1 - optimum / chinchilla total.
    """

    target_loss: Number
    inference_tokens: Number
    optimum: Allocation
    chinchilla: Allocation

    @property
    def optimum_total_flops(self) -> Number:
        return _lifetime_flops(self.optimum, self.inference_tokens)

    @property
    def chinchilla_total_flops(self) -> Number:
        return _lifetime_flops(self.chinchilla, self.inference_tokens)

    @property
    def saving(self) -> Number:
        """Fraction of lifetime (training + inference) FLOPs saved against the Chinchilla model."""
        with np.errstate(invalid="ignore"):
            return _out(1.0 - np.asarray(self.optimum_total_flops)
                        / np.asarray(self.chinchilla_total_flops))

    def to_dict(self) -> dict:
        return {"target_loss": self.target_loss, "inference_tokens": self.inference_tokens,
                "optimum": self.optimum.to_dict(), "chinchilla": self.chinchilla.to_dict(),
                "optimum_total_flops": self.optimum_total_flops,
                "chinchilla_total_flops": self.chinchilla_total_flops, "saving": self.saving}


def _lifetime_flops(alloc: Allocation, inference_tokens: Number) -> Number:
    n = np.asarray(alloc.n_params)
    return _out(np.asarray(alloc.train_flops)
                + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * np.asarray(inference_tokens))


def inference_aware_optimum(law: LawLike, target_loss: Number, inference_tokens: Number, *,
                            strict: bool = True) -> InferenceAwareOptimum:
    """Minimise ``6 N D_train + 2 N D_inf`` subject to ``L(N, D_train) = target_loss``.

    Write the excess loss ``X = target - E`` as a model share ``A/N^alpha = X (1 - v)`` and a
    data share ``B/D^beta = X v``.  Setting d/dN of the lifetime FLOPs to zero gives
    ``3 D(v) (alpha (1 - v) / (beta v) - 1) = D_inf``, whose left side falls monotonically from
    +inf (v -> 0) to 0 at Chinchilla's ``v0 = alpha / (alpha + beta)``; the root is found by
    bisection in ``log v``, vectorised over draws.  ``D_inf = 0`` gives ``v = v0``: the
    Chinchilla optimum.  Inference tokens in tokens; returns N in parameters, D in tokens.
    """
    p = chinchilla_params(law)
    excess = _excess(p, target_loss, strict)
    d_inf = check_nonnegative(inference_tokens, "inference tokens", "tokens")
    chinchilla = cheapest_for_loss(p, target_loss, strict=strict)
    alpha, beta, A, B, excess, d_inf = np.broadcast_arrays(
        p["alpha"], p["beta"], p["A"], p["B"], excess, d_inf)
    reachable = excess > 0
    safe_excess = np.where(reachable, excess, 1.0)
    log_v = _solve_data_share(alpha, beta, B, safe_excess, d_inf)
    v = np.exp(log_v)
    with np.errstate(divide="ignore", over="ignore"):
        n = np.where(reachable, (A / (safe_excess * (1.0 - v))) ** (1.0 / alpha), np.inf)
        d = np.where(reachable, (B / (safe_excess * v)) ** (1.0 / beta), np.inf)
    target = np.broadcast_to(np.asarray(target_loss, dtype=float), excess.shape)
    optimum = Allocation(_out(n), _out(d), _out(np.where(reachable, target, np.nan)))
    return InferenceAwareOptimum(_out(np.array(target)), _out(np.array(d_inf)), optimum,
                                 chinchilla)


def _solve_data_share(alpha: np.ndarray, beta: np.ndarray, B: np.ndarray, excess: np.ndarray,
                      d_inf: np.ndarray) -> np.ndarray:
    """log v solving ``3 D(v) (alpha (1-v)/(beta v) - 1) = D_inf`` (log v0 where D_inf = 0)."""
    log_v0 = np.log(alpha / (alpha + beta))
    serving = d_inf > 0
    log_dinf = np.log(np.where(serving, d_inf, 1.0))

    def gap(log_v: np.ndarray) -> np.ndarray:
        """log of the left side minus log D_inf: decreasing in log v, -inf at log v0."""
        v = np.exp(log_v)
        log_d = (np.log(B) - np.log(excess) - log_v) / beta
        with np.errstate(divide="ignore", invalid="ignore"):
            bracket = np.log(np.maximum(alpha * (1.0 - v) - beta * v, 0.0)) - np.log(beta) - log_v
        return np.log(3.0) + log_d + bracket - log_dinf

    hi = log_v0.copy()
    lo = log_v0 - 1.0
    for _ in range(64):  # widen downwards until the gap is positive (at most ~2^64 in log v)
        low_side = gap(lo) <= 0
        if not np.any(low_side & serving):
            break
        lo = np.where(low_side, lo - 2.0 * (hi - lo), lo)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        positive = gap(mid) > 0
        lo = np.where(positive, mid, lo)
        hi = np.where(positive, hi, mid)
    return np.where(serving, 0.5 * (lo + hi), log_v0)
