"""A run interval in plain words: where the target lies and what sets the width
(:func:`describe_sources`), and how the extrapolation term was obtained
(:func:`describe_method`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.fit.quantiles import effective_count


def describe_sources(components: dict[str, Any]) -> str:
    """Plain words: how far beyond the data, and how much of the interval comes from where."""
    share = components["share"]
    parts = ", ".join(f"{name.replace('_', ' ')} {float(share[name]):.0%}"
                      for name in ("parameters", "run_scatter", "extrapolation"))
    text = f"{describe_distance(components)}; sources of the interval (variance shares): {parts}"
    if bool(components.get("parameters_dominate", False)):
        text += " -- the parameters are poorly determined and set the width"
    if not components.get("bootstrap_included", True):
        text += ("; no bootstrap: parameter uncertainty from the delta method and the E "
                 "profile")
    text += f"; extrapolation term {components['calibration']}"
    return text


def describe_distance(components: dict[str, Any]) -> str:
    """Where the target lies: inside the fitted data, X decades beyond it, Y decades below it.

    Read from ``components["outside_decades"]`` (the distance guards' decades below and above
    each quantity's fitted range); components without it (an older saved prediction) give the
    interval's distance as decades beyond.
    """
    outside = components.get("outside_decades")
    if not outside:
        return (f"the target lies {float(np.max(components['distance_decades'])):.2f} decades "
                f"beyond the fitted data")
    below_key, below = _farthest(outside, "below")
    _, above = _farthest(outside, "above")
    if below <= 0 and above <= 0:
        return "the target lies inside the fitted data"
    if below <= 0:
        return f"the target lies {above:.2f} decades beyond the fitted data"
    if above <= 0:
        return f"the target lies {below:.2f} decades below the fitted data in {below_key}"
    return (f"the target lies {above:.2f} decades beyond the fitted data and {below:.2f} "
            f"decades below it in {below_key}")


def _farthest(outside: dict[str, dict[str, Any]], side: str) -> tuple[str, float]:
    """The quantity farthest outside its fitted range on ``side`` and its decades (0 if none)."""
    decades = {k: float(np.max(v[side])) for k, v in outside.items()}
    key = max(decades, key=decades.get)
    return key, decades[key]


def describe_method(model: Any) -> str:
    """One sentence on how the extrapolation term of ``model`` (a
    :class:`~scalinglab.fit.intervals.RunIntervalModel`, which reads this module) was obtained."""
    d = model.details
    plan = d.get("cut_plan", {}).get("text")
    if model.calibrated:   # curves: each checkpoint of a held-out run is a score
        n, runs = d.get("n_scores", 0), d.get("n_runs_scored")
        held = (f"{n} held-out rows of {runs} runs" if d.get("unit") == "runs" and runs
                not in (None, n) else f"{n} held-out {d.get('unit', 'runs')}")
        where = "at the given compute cuts" if d.get("cuts_given") else "inside the data"
        where += f" ({plan})" if plan else ""
        growth = ("beyond what the run scatter and the refits' parameter error explain"
                  if model.separates_parameters else
                  f"(as the square root of the distance beyond {d.get('max_distance', 0):.2f})")
        return (f"calibrated by {d.get('n_cuts', 0)} nested backtests {where} "
                f"({held}, up to "
                f"{d.get('max_distance', 0):.2f} decades beyond each cut): slope "
                f"{model.slope:.4f} log-loss sd per decade {growth}, split-conformal "
                f"multiplier{_multiplier_note(model)}")
    reason = d.get("reason", "too few points") + (f"; {plan}" if plan else "")
    dof = d.get("scatter_dof")
    multiplier = ("the Gaussian multiplier" if dof is None else
                  f"Student's t multiplier on {dof} residual degree(s) of freedom")
    return (f"NOT calibrated ({reason}): default slope "
            f"{model.slope:.4f} log-loss sd per decade (bench/extrapolation.py) and "
            f"{multiplier}")


def _multiplier_note(model: Any, level: float = 0.9) -> str:
    """Says so when the scores are too few for the conformal quantile at ``level``."""
    w = np.asarray(model.weights, dtype=float)
    if w.size == 0 or w.sum() <= 0:
        return ""
    n_eff = effective_count(w)
    if level * (1 + 1 / n_eff) < 1:
        return ""
    return (f" (t-based at {level:.0%}: {n_eff:.1f} effective errors are too few for the "
            f"conformal quantile)")
