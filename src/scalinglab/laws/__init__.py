"""Scaling-law forms, their closed-form frontiers, and published presets (no torch here)."""

from scalinglab.laws.base import Law
from scalinglab.laws.data_constrained import DataConstrained
from scalinglab.laws.forms import Chinchilla, KaplanND, PowerLaw, chinchilla_frontier
from scalinglab.laws.presets import PRESETS, Preset, get_preset
from scalinglab.laws.registry import LAW_FORMS, law_from_dict

__all__ = ["LAW_FORMS", "PRESETS", "Chinchilla", "DataConstrained", "KaplanND", "Law",
           "PowerLaw", "Preset",
           "chinchilla_frontier", "get_preset", "law_from_dict"]
