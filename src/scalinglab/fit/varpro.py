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
    m, _, p = F.shape
    Fw = F * s[None, :, None]
    yw = y * s
    scale = np.sqrt((Fw**2).sum(axis=1))  # (m, p)
    scale = np.where(scale > 0, scale, 1.0)
    Fs = Fw / scale[:, None, :]
    G = np.einsum("mnp,mnq->mpq", Fs, Fs)
    h = np.einsum("mnp,n->mp", Fs, yw)
    yy = float(yw @ yw)
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
    relative-residual SSE (m,).
    """
    alpha, beta = (g.ravel() for g in np.meshgrid(grid, grid, indexing="ij"))
    xN = np.exp(-alpha[:, None] * logN[None, :])
    xD = np.exp(-beta[:, None] * logD[None, :])
    s = np.sqrt(w) / y
    if E_fixed is None:
        F = np.stack([np.ones_like(xN), xN, xD], axis=2)
        coef, sse = batched_nnls(F, y, s)
        E, A, B = coef.T
    else:
        coef, sse = batched_nnls(np.stack([xN, xD], axis=2), y - E_fixed, s)
        A, B = coef.T
        E = np.full_like(A, E_fixed)
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
