"""Variable projection for laws that are linear in their coefficients given the exponents.

For ``L = E + A N^-alpha + B D^-beta`` (and ``L = E + A x^-alpha``), fixing the exponents makes
the loss linear in the non-negative coefficients (E, A, B).  We search a grid of exponents and,
at every grid point at once, solve the coefficients exactly by non-negative least squares on
*relative* residuals ``(L_hat - L) / L`` -- the first-order expansion of the log residual that
the final objective uses.  The best grid points are then polished jointly on the exact
log-Huber objective (see :mod:`scalinglab.fit.parametric`).

The NNLS step enumerates the active sets of the (at most 3) coefficients and solves every
grid point's normal equations in one batched call: no Python loop over grid points.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

EXPONENT_GRID = np.concatenate([np.linspace(0.02, 0.8, 40), np.linspace(0.85, 2.0, 12)])


def batched_nnls(F: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve min ||s * (F c - y)||^2 s.t. c >= 0 for a batch of design matrices.

    F: (m, n, p) features, y: (n,) targets, s: (n,) row scales.  Returns coefficients (m, p)
    and the weighted sum of squared residuals (m,).  Columns are rescaled internally.
    """
    Fw = F * s[None, :, None]
    yw = y * s
    G = np.einsum("mnp,mnq->mpq", Fw, Fw)
    h = np.einsum("mnp,n->mp", Fw, yw)
    return nnls_from_gram(G, h, float(yw @ yw))


def nnls_from_gram(G: np.ndarray, h: np.ndarray, yy: float) -> tuple[np.ndarray, np.ndarray]:
    """The same NNLS from its normal equations: Gram matrices G (m, p, p) = F^T F, h (m, p) =
    F^T y and yy = y^T y (all row-weighted).  Enumerates the active sets; returns (c, sse)."""
    m, p = h.shape
    scale = np.sqrt(np.einsum("mpp->mp", G))  # (m, p) column norms
    scale = np.where(scale > 0, scale, 1.0)
    G = G / (scale[:, :, None] * scale[:, None, :])
    h = h / scale
    best_c = np.zeros((m, p))
    best_sse = np.full(m, yy)  # the empty active set: c = 0
    ridge = 1e-12 * np.eye(p)
    for size in range(1, p + 1):
        for subset in combinations(range(p), size):
            idx = np.array(subset)
            Gs = G[:, idx[:, None], idx[None, :]] + ridge[:size, :size]
            hs = h[:, idx]
            try:
                cs = np.linalg.solve(Gs, hs[..., None])[..., 0]
            except np.linalg.LinAlgError:
                continue
            feasible = np.all(cs >= 0, axis=1)
            sse = yy - 2 * np.einsum("mp,mp->m", cs, hs) + np.einsum("mp,mpq,mq->m", cs, Gs, cs)
            better = feasible & (sse < best_sse)
            if better.any():
                full = np.zeros((m, p))
                full[:, idx] = cs
                best_c[better] = full[better]
                best_sse[better] = sse[better]
    return best_c / scale, best_sse


def chinchilla_screen(logN: np.ndarray, logD: np.ndarray, y: np.ndarray, w: np.ndarray,
                      E_fixed: float | None = None,
                      grid: np.ndarray = EXPONENT_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Grid over (alpha, beta) with exact NNLS coefficients.

    Returns raw starts (m, 5) in Chinchilla order ``(e, a, alpha, b, beta)`` and their
    relative-residual SSE (m,), m = len(grid)^2 with alpha varying slowest.  The Gram matrices
    are assembled from per-exponent sums (the N features depend on alpha only, the D features
    on beta only): O(len(grid)^2) work per entry instead of O(len(grid)^2 n).
    """
    g = len(grid)
    xN = np.exp(-grid[:, None] * logN[None, :])            # (g, n): N^-alpha per grid alpha
    xD = np.exp(-grid[:, None] * logD[None, :])            # (g, n): D^-beta per grid beta
    v = w / (y * y)                                          # row weight of relative residuals
    target = y if E_fixed is None else y - E_fixed
    vN, vD = xN * v, xD * v
    NN = np.einsum("an,an->a", vN, xN)[:, None] * np.ones((1, g))
    DD = np.ones((g, 1)) * np.einsum("bn,bn->b", vD, xD)[None, :]
    ND = np.einsum("an,bn->ab", vN, xD)
    hN = np.einsum("an,n->a", vN, target)[:, None] * np.ones((1, g))
    hD = np.ones((g, 1)) * np.einsum("bn,n->b", vD, target)[None, :]
    yy = float(v @ (target * target))
    if E_fixed is None:
        one_N = vN.sum(axis=1)[:, None] * np.ones((1, g))
        one_D = np.ones((g, 1)) * vD.sum(axis=1)[None, :]
        ones = np.full((g, g), float(v.sum()))
        G = np.stack([np.stack([ones, one_N, one_D], -1), np.stack([one_N, NN, ND], -1),
                      np.stack([one_D, ND, DD], -1)], -2).reshape(g * g, 3, 3)
        h = np.stack([np.full((g, g), float(v @ target)), hN, hD], -1).reshape(g * g, 3)
        coef, sse = nnls_from_gram(G, h, yy)
        E, A, B = coef.T
    else:
        G = np.stack([np.stack([NN, ND], -1), np.stack([ND, DD], -1)], -2).reshape(g * g, 2, 2)
        h = np.stack([hN, hD], -1).reshape(g * g, 2)
        coef, sse = nnls_from_gram(G, h, yy)
        A, B = coef.T
        E = np.full_like(A, E_fixed)
    alpha, beta = (a.ravel() for a in np.meshgrid(grid, grid, indexing="ij"))
    floor = 1e-6 * float(np.min(y))
    raw = np.stack([np.log(np.maximum(E, floor)), np.log(np.maximum(A, floor)), alpha,
                    np.log(np.maximum(B, floor)), beta], axis=1)
    return raw, sse


def power_screen(logx: np.ndarray, y: np.ndarray, w: np.ndarray, irreducible: bool,
                 E_fixed: float | None = None,
                 grid: np.ndarray = EXPONENT_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Grid over alpha for ``E + A x^-alpha``; raw starts ``(e, a, alpha)`` or ``(a, alpha)``."""
    alpha = np.concatenate([np.linspace(0.005, 0.02, 4), grid])
    xs = np.exp(-alpha[:, None] * logx[None, :])
    s = np.sqrt(w) / y
    floor = 1e-6 * float(np.min(y))
    if irreducible and E_fixed is None:
        coef, sse = batched_nnls(np.stack([np.ones_like(xs), xs], axis=2), y, s)
        E, A = coef.T
    else:
        target = y - (E_fixed or 0.0)
        coef, sse = batched_nnls(xs[:, :, None], target, s)
        A = coef[:, 0]
        E = np.full_like(A, E_fixed or 0.0)
    core = [np.log(np.maximum(A, floor)), alpha]
    cols = ([np.log(np.maximum(E, floor))] if irreducible else []) + core
    return np.stack(cols, axis=1), sse
