"""Scaling-law forms, their closed-form frontiers, and published presets (no torch here)."""

from scalinglab.laws.base import Law
from scalinglab.laws.forms import LAW_FORMS, Chinchilla, KaplanND, PowerLaw, chinchilla_frontier
from scalinglab.laws.presets import PRESETS, Preset, get_preset

__all__ = ["LAW_FORMS", "PRESETS", "Chinchilla", "KaplanND", "Law", "PowerLaw", "Preset",
           "chinchilla_frontier", "get_preset"]
