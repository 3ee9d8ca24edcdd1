"""Widening a run interval by the spread between candidate laws the data cannot tell apart.

Used by :meth:`scalinglab.fit.FitResult.predict_interval` on ``law="auto"`` fits: the
selection record (``result.diagnostics["selection"]``, written by :mod:`scalinglab.fit.auto`)
holds the full-data fits of the candidates whose backtest score is within the noise of the
chosen one's (:mod:`scalinglab.fit.selection`).  Kept apart from the selection so that the
result class does not import the fitter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from scalinglab.laws.base import Law


def alternative_laws(selection: dict[str, Any]) -> list[Law]:
    from scalinglab.laws.forms import law_from_dict  # noqa: PLC0415

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


def widen_interval(out: dict[str, Any], selection: dict[str, Any] | None, law: Law,
                   inputs: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    """Add the candidates' spread to a run interval: half' = sqrt(half^2 + (z_rel s)^2).

    The spread s (largest log gap to an indistinguishable candidate) is read as a range of
    plausible centres, i.e. as the z-multiple at 90% (1.645 sd): at ``level`` it scales by
    z(level)/z(0.9).  ``out`` is predict_interval's dictionary (loss, low, high, components).
    """
    spread = model_spread_log(selection, law, inputs)
    if np.all(np.asarray(spread) == 0) or "low" not in out:
        return out
    scale = norm.ppf(0.5 + level / 2) / norm.ppf(0.95)
    point = np.asarray(out["loss"], dtype=float)
    half = np.log(np.asarray(out["high"], dtype=float) / point)
    spread = np.reshape(spread, np.shape(half)) * scale
    wide = np.sqrt(half**2 + spread**2)
    def squeeze(a: Any) -> Any:
        return float(a) if np.ndim(a) == 0 else a

    out["low"] = squeeze(point * np.exp(-wide))
    out["high"] = squeeze(point * np.exp(wide))
    if "components" in out:
        out["components"]["model_spread_log"] = squeeze(spread)
        out["components"]["half_width_log"] = squeeze(wide)
    return out


