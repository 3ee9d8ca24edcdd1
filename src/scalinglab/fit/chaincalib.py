"""What the task chain's nested backtests say about its interval.

The route backtests (:func:`scalinglab.fit.chainselect.choose_route`: fit below a cut, predict
the rows above it) measure two things the joint bootstrap cannot:

* **how far off the chosen route's extrapolations land**, in units of its own run scatter
  around the link.  The scatter of one run's checkpoints (or of a few models) understates the
  error of an extrapolation; the split-conformal quantile ``q`` of the normalised backtest
  errors |pred - true| / scatter (:func:`scalinglab.fit.intervals.weighted_conformal_quantile`,
  the same rule the loss's run interval uses) gives the half-width ``q x scatter`` that the
  backtests would have needed;
* **which other routes the backtests cannot tell from the chosen one**: a route whose
  absolute backtest errors exceed the chosen one's by at most :data:`INDISTINGUISHABLE_Z`
  paired standard errors (held-out rows paired; every route when no backtest succeeds).
  Their predictions at the target are as consistent with the data as the chosen one's.

Beyond the backtests' reach -- a target further past the fitted runs' best loss (or compute)
than any backtest carried the link, ``link_reach`` -- their errors are taken to grow in
proportion: q x scatter is stretched by (distance / reach) (:func:`reach_stretch`).  On the
downstream development data the targets past the reach were off by twice the others' error
and their intervals covered 0.85 without the stretch, 0.95 with it (bench/README.md).

The interval is then made at least as wide as each (:func:`widen_accuracy_interval`): the
half-width becomes max(bootstrap half-width, q x scatter x stretch, route spread), the route spread
being the largest |accuracy_alt - accuracy| scaled from 90% to the level, as the loss side
widens by the spread of indistinguishable laws (:mod:`scalinglab.fit.spread`).  A maximum,
not a sum: the backtest errors already contain the link's and step 1's extrapolation error
that the bootstrap also sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.fit.intervals import weighted_conformal_quantile
from scalinglab.fit.quantiles import from_90_percent

#: a route within this many paired standard errors of the chosen one's backtest error is one
#: the data cannot tell apart from it (the loss laws' rule, scalinglab.fit.selection)
INDISTINGUISHABLE_Z = 1.0
#: what widens the accuracy interval by default (both: see the module doc and bench/README.md)
DEFAULT_WIDENING = ("backtests", "routes")
WIDENING_CHOICES = ("backtests", "routes")
#: the point prediction: the chosen route's ("chosen") or the mean over the chosen route and
#: the routes the backtests cannot tell from it ("mean"); chosen by bench/downstream.py
DEFAULT_POINT = "chosen"
POINT_CHOICES = ("chosen", "mean")


def backtest_record(runs: dict[str, list[Any]], chosen: str, any_viable: bool
                    ) -> dict[str, Any]:
    """``calibration`` (normalised errors of the chosen route) and ``alternative_routes``."""
    mine = [b for b in runs[chosen] if b is not None]
    scores = np.concatenate([np.abs(b.errors) / b.scatter for b in mine]) if mine else []
    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    alternatives = []
    for route, tests in runs.items():
        if route == chosen:
            continue
        if not any_viable or _indistinguishable(tests, runs[chosen]):
            alternatives.append(route)
    return {"calibration": {"scores": [float(s) for s in scores],
                            "n_rows": int(len(scores))},
            "alternative_routes": alternatives}


def _paired_differences(tests: list[Any], reference: list[Any]) -> np.ndarray | None:
    """|error| of ``tests`` less that of ``reference`` on the held-out rows both predicted
    (fractions); None when either failed a backtest."""
    diffs = []
    for mine, ref in zip(tests, reference, strict=True):
        if mine is None or ref is None:
            return None
        ok = np.isfinite(mine.errors) & np.isfinite(ref.errors)
        diffs.append(np.abs(mine.errors[ok]) - np.abs(ref.errors[ok]))
    return np.concatenate(diffs) if diffs else np.array([])


def _mean_in_standard_errors(d: np.ndarray) -> float:
    """Mean of paired differences (at least 2) in units of its standard error (+-inf when the
    differences are all equal and non-zero, 0 when all zero)."""
    mean, se = float(np.mean(d)), float(np.std(d, ddof=1) / np.sqrt(len(d)))
    return mean / se if se > 0 else float(np.sign(mean)) * np.inf if mean else 0.0


def _indistinguishable(tests: list[Any], reference: list[Any]) -> bool:
    d = _paired_differences(tests, reference)
    if d is None:
        return False
    if len(d) < 2:
        return len(d) == 1 and d[0] <= 0
    return _mean_in_standard_errors(d) <= INDISTINGUISHABLE_Z


def clearly_better(tests: list[Any], reference: list[Any], margin: float = 0.0) -> bool:
    """Whether ``tests`` beat ``reference`` in the same backtests by more than
    :data:`INDISTINGUISHABLE_Z` paired standard errors of the |error| difference (the
    one-standard-error rule: the simpler candidate is kept unless the data clearly favour the
    other; at least 2 held-out rows) and by at least ``margin`` in mean |error| (fraction).

    The margin is an effect size, which a standard error cannot supply: one run's checkpoints
    give smooth, correlated errors, so a difference far too small to matter can still be many
    standard errors from zero."""
    d = _paired_differences(tests, reference)
    if d is None or len(d) < 2:
        return False
    return _mean_in_standard_errors(d) < -INDISTINGUISHABLE_Z and -float(np.mean(d)) >= margin


def backtest_multiplier(selection: dict[str, Any], level: float) -> float | None:
    """Conformal quantile of the chosen route's normalised backtest errors (None: no scores)."""
    scores = np.asarray(selection.get("calibration", {}).get("scores", []), dtype=float)
    if len(scores) < 2:
        return None
    return weighted_conformal_quantile(scores, np.ones(len(scores)), level)


def alternative_record(route: Any, label: str) -> dict[str, Any]:
    """A fitted alternative route, as stored on the task fit (link and step-1 law)."""
    law = None if route.loss_fit is None else route.loss_fit.law.to_dict()
    return {"route": label, "via": route.via, "link": route.link.to_dict(), "law": law}


def alternative_accuracies(fit, inputs: dict[str, float], x0: float) -> np.ndarray:
    """Point accuracies of the stored alternative routes at a target (those that can answer)."""
    from scalinglab.laws.links import TaskLink  # noqa: PLC0415
    from scalinglab.laws.registry import law_from_dict  # noqa: PLC0415

    out = []
    for alt in fit.alternatives:
        link = TaskLink.from_dict(alt["link"])
        x = _alternative_x(alt, inputs, x0, fit, law_from_dict)
        if x is not None and np.isfinite(x):
            out.append(float(link.predict(x)))
    return np.asarray(out, dtype=float)


def _alternative_x(alt, inputs, x0, fit, law_from_dict) -> float | None:
    given = {k: v for k, v in inputs.items() if v is not None}
    if "loss" in given:                     # the link alone: only a route on the same loss
        return x0 if alt["via"] == fit.via and alt["law"] is None else None
    n, d, c = given.get("N"), given.get("D"), given.get("C")
    if c is None and n is not None and d is not None:
        c = 6.0 * float(n) * float(d)
    if alt["via"] == "compute":
        return None if c is None else float(np.log10(float(c)))
    if alt["law"] is None:
        return None
    law = law_from_dict(alt["law"])
    values = {"N": n, "D": d, "C": c}
    if any(values.get(v) is None for v in law.variables):
        return None
    with np.errstate(all="ignore"):
        return float(law.predict(**{v: float(values[v]) for v in law.variables}))


def combined_point(fit, point: float, inputs: dict[str, float], x0: float
                   ) -> tuple[float, np.ndarray]:
    """(point, alternatives' accuracies): the chosen route's point, or with ``fit.point ==
    "mean"`` the mean over it and the indistinguishable routes that can answer here."""
    alt = alternative_accuracies(fit, inputs, x0) if fit.alternatives else np.array([])
    if getattr(fit, "point", DEFAULT_POINT) == "mean" and len(alt):
        return float(np.mean(np.concatenate([[point], alt]))), alt
    return point, alt


def beyond_fitted(fit, x0: float) -> float:
    """How far the link's x at a target lies past the fitted runs' best along the link: nats
    below the lowest fitted loss, or decades above the largest fitted compute (<= 0 inside)."""
    low, high = fit.x_range
    return float((x0 - high) if fit.via == "compute" else (low - x0))


def reach_stretch(fit, x0: float) -> float:
    """How many times further than the backtests ever carried the link the target lies beyond
    the fitted runs' best (1 within their reach): their errors, measured at that reach, are
    taken to grow in proportion beyond it."""
    reach = fit.selection.get("link_reach")
    beyond = beyond_fitted(fit, x0)
    if reach is None or not reach > 0 or not np.isfinite(beyond):
        return 1.0
    return float(max(1.0, beyond / reach))


def widen_accuracy_interval(fit, point: float, low: float, high: float, level: float,
                            inputs: dict[str, float], x0: float
                            ) -> tuple[float, float, float, dict]:
    """(point, low, high, components): the (possibly averaged) point, and the interval made
    at least as wide as the backtests say; a moved point moves the bootstrap interval along."""
    point_in = point
    moved, alt = combined_point(fit, point, inputs, x0)
    low, high = low + moved - point, high + moved - point
    point = moved
    half_low, half_high = point - low, high - point
    parts: dict[str, float] = {}
    widening = tuple(getattr(fit, "widening", DEFAULT_WIDENING))
    if "backtests" in widening:
        q = backtest_multiplier(fit.selection, level)
        if q is not None:
            stretch = reach_stretch(fit, x0)
            parts["backtest_multiplier"] = q
            parts["backtest_stretch"] = stretch
            parts["backtest_half_width"] = q * fit.scatter * stretch
    if "routes" in widening and len(alt):
        scale = from_90_percent(level)
        parts["route_spread"] = float(np.max(np.abs(alt - point)) * scale)
    if moved != point_in:
        parts["chosen_route_accuracy"] = point_in
    need = max(parts.get("backtest_half_width", 0.0), parts.get("route_spread", 0.0))
    return point, point - max(half_low, need), point + max(half_high, need), parts
