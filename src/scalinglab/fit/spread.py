"""Widening a run interval by the spread between candidate laws the data cannot tell apart,
and capping a prediction that a measured, smaller run already beats.

Used by :meth:`scalinglab.fit.FitResult.predict_interval` on ``law="auto"`` fits: the
selection record (``result.diagnostics["selection"]``, written by :mod:`scalinglab.fit.auto`)
holds the full-data fits of the candidates whose backtest score is within the noise of the
chosen one's (:mod:`scalinglab.fit.selection`).  Kept apart from the selection so that the
result class does not import the fitter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.fit.quantiles import from_90_percent
from scalinglab.laws.base import Law


def alternative_laws(selection: dict[str, Any]) -> list[Law]:
    from scalinglab.laws.registry import law_from_dict  # noqa: PLC0415

    return [law_from_dict(a["law"]) for a in selection.get("alternatives", [])]


def model_spread_log(selection: dict[str, Any] | None, law: Law,
                     inputs: dict[str, np.ndarray]) -> np.ndarray | float:
    """Largest |log L_alt - log L_chosen| over the indistinguishable candidates at ``inputs``."""
    if not selection or not selection.get("alternatives"):
        return 0.0
    base = np.log(np.asarray(law.predict(**inputs), dtype=float))
    spread = np.zeros_like(base)
    for alt in alternative_laws(selection):
        if not set(alt.variables) <= set(inputs):
            continue
        with np.errstate(all="ignore"):
            other = np.log(np.asarray(alt.predict(**{v: inputs[v] for v in alt.variables}),
                                      dtype=float))
        gap = np.where(np.isfinite(other), np.abs(other - base), 0.0)
        spread = np.maximum(spread, gap)
    return spread


def adjust_interval(out: dict[str, Any], selection: dict[str, Any] | None, law: Law,
                    inputs: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    """The ``law="auto"`` adjustments of a run interval: the dominance cap, then the widening."""
    out = apply_dominance_cap(out, selection, inputs)
    return widen_interval(out, selection, law, inputs, level)


def widen_interval(out: dict[str, Any], selection: dict[str, Any] | None, law: Law,
                   inputs: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    """Make a run interval at least as wide as the candidates' spread: half' = max(half, s).

    The spread s (largest |log gap| to an indistinguishable candidate) is read as a range of
    plausible centres at 90% (1.645 sd); at ``level`` it scales by z(level)/z(0.9).  It enters
    as a maximum, not in quadrature, for the reason the bootstrap's spread does
    (:mod:`scalinglab.fit.intervals`): the nested backtests that calibrate the run interval
    already contain the chosen form's typical misfit, so adding the spread on top counts it
    twice; it takes over where the candidates disagree by more than the calibrated width.
    ``out`` is predict_interval's dictionary (loss, low, high, components).
    """
    spread = model_spread_log(selection, law, inputs)
    if np.all(np.asarray(spread) == 0) or "low" not in out:
        return out
    scale = from_90_percent(level)
    point = np.asarray(out["loss"], dtype=float)
    half = np.log(np.asarray(out["high"], dtype=float) / point)
    spread = np.reshape(spread, np.shape(half)) * scale
    wide = np.maximum(half, spread)
    def squeeze(a: Any) -> Any:
        return float(a) if np.ndim(a) == 0 else a

    out["low"] = squeeze(point * np.exp(-wide))
    out["high"] = squeeze(point * np.exp(wide))
    if "components" in out:
        out["components"]["model_spread_log"] = squeeze(spread)
        out["components"]["half_width_log"] = squeeze(wide)
    return out




# -- the dominance cap ---------------------------------------------------------------------------
def dominance_points(N: np.ndarray, D: np.ndarray, loss: np.ndarray) -> list[list[float]]:
    """The fitted rows no other row dominates (at most its N and D with a lower loss).

    Returned as [N, D, loss] triples (parameters, tokens, nats/token): the smallest set that
    gives the same cap as every row (:func:`dominance_cap`).
    """
    order = np.argsort(loss)
    kept: list[list[float]] = []
    for i in order:
        if not any(n <= N[i] and d <= D[i] for n, d, _ in kept):
            kept.append([float(N[i]), float(D[i]), float(loss[i])])
    return kept


def dominance_cap(points: list[list[float]] | None, N: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Lowest observed loss among fitted runs with at most N parameters and D tokens (inf where
    none): every candidate law falls in N and in D, so a larger run on more tokens is predicted
    no worse than a run the table measured."""
    N, D = np.broadcast_arrays(np.asarray(N, dtype=float), np.asarray(D, dtype=float))
    cap = np.full(N.shape, np.inf)
    for n, d, loss in points or []:
        cap = np.where((N >= n) & (D >= d), np.minimum(cap, loss), cap)
    return cap


def apply_dominance_cap(out: dict[str, Any], selection: dict[str, Any] | None,
                        inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Move a prediction above the cap down to it (the interval keeps its log width)."""
    points = (selection or {}).get("dominance")
    if not points or "N" not in inputs or "D" not in inputs or "low" not in out:
        return out
    point = np.asarray(out["loss"], dtype=float)
    cap = np.reshape(dominance_cap(points, inputs["N"], inputs["D"]), np.shape(point))
    ratio = np.where(point > cap, cap / point, 1.0)
    if np.all(ratio == 1.0):
        return out

    def squeeze(a: Any) -> Any:
        return float(a) if np.ndim(a) == 0 else a

    out["loss"] = squeeze(point * ratio)
    out["low"] = squeeze(np.asarray(out["low"], dtype=float) * ratio)
    out["high"] = squeeze(np.asarray(out["high"], dtype=float) * ratio)
    if "components" in out:
        out["components"]["dominance_capped"] = squeeze(ratio < 1.0)
    return out
