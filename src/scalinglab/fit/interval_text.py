"""A run interval in plain words: where the target lies and what sets the width
(:func:`describe_sources`; how the extrapolation term was obtained is
:func:`scalinglab.fit.intervals.describe_method`)."""

from __future__ import annotations

from typing import Any

import numpy as np


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
