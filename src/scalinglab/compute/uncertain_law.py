"""A Chinchilla law with its uncertainty, as the planner uses it.

:class:`UncertainLaw` joins the point estimate, a fit's bootstrap draws (or none, for a
published preset), where the law comes from, and the fitted data range that every answer is
measured against (:mod:`scalinglab.fit.guards`).  Every planned quantity is computed for the
point law and each draw at once (:meth:`UncertainLaw.stacked_params`: index 0 = point).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.compute.allocation import PARAM_NAMES, chinchilla_params
from scalinglab.errors import ScalingLabError
from scalinglab.fit.guards import Guard, allocation_guard, preset_range, question_guards
from scalinglab.fit.result import FitResult
from scalinglab.laws.forms import Chinchilla
from scalinglab.laws.presets import get_preset
from scalinglab.laws.registry import as_chinchilla

DEFAULT_LEVEL = 0.9


# -- estimates ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A point value and its interval (None when there are no draws), with its unit.

    ``kind`` says what the interval is: ``"parameter"`` (percentiles of the bootstrap draws),
    ``"run"`` (a new run's measured loss), or None (no interval, or exact).
    """

    value: float
    low: float | None
    high: float | None
    unit: str
    kind: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def estimate(samples: Any, unit: str, level: float, n_draws: int) -> Estimate:
    """Point = entry 0; interval = percentiles of entries 1.. (draws); scalars are exact."""
    arr = np.asarray(samples, dtype=float)
    if arr.ndim == 0:
        return Estimate(float(arr), float(arr), float(arr), unit)
    value = float(arr[0])
    if n_draws == 0:
        return Estimate(value, None, None, unit)
    draws = arr[1:]
    draws = draws[~np.isnan(draws)]
    if draws.size == 0:
        return Estimate(value, None, None, unit)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    # Linear interpolation as in FitResult; with infinite draws (unreachable targets)
    # interpolation is undefined, so take order statistics instead.
    method = "linear" if np.all(np.isfinite(draws)) else "inverted_cdf"
    low, high = np.quantile(draws, [lo, hi], method=method)
    return Estimate(value, float(low), float(high), unit, "parameter")


# -- the plan ----------------------------------------------------------------------------------
# -- the law and its uncertainty ---------------------------------------------------------------
@dataclass(frozen=True)
class UncertainLaw:
    """A Chinchilla law, its bootstrap draws (or None), and where it comes from.

    ``draws`` has one row per bootstrap resample and the columns E, A, alpha, B, beta;
    ``level`` is the confidence level of the percentile intervals; ``n_convention`` says what
    N counts (all parameters, or non-embedding); ``data`` what the loss is measured on.
    """

    law: Chinchilla
    draws: pd.DataFrame | None
    source: str
    level: float = DEFAULT_LEVEL
    n_convention: str = ""
    data: str = ""
    reference: str = ""
    fit: FitResult | None = field(default=None, repr=False, compare=False)
    data_range: dict | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.law, Chinchilla):
            raise ScalingLabError(f"planning needs a Chinchilla law L(N, D) = E + A/N^alpha + "
                                  f"B/D^beta, not the {self.law.name!r} form")
        if not 0 < self.level < 1:
            raise ScalingLabError(f"confidence level must be in (0, 1), got {self.level:g}")
        if self.draws is not None:
            missing = [k for k in PARAM_NAMES if k not in self.draws.columns]
            if missing:
                raise ScalingLabError(f"bootstrap draws lack columns {', '.join(missing)}")
            chinchilla_params({k: self.draws[k].to_numpy() for k in PARAM_NAMES})

    @classmethod
    def from_fit(cls, fit: FitResult, source: str = "fit",
                 level: float | None = None) -> UncertainLaw:
        """The fit's point law and its bootstrap draws (no draws: no interval, said so)."""
        draws = fit.bootstrap_params
        if draws is not None and len(draws) == 0:
            draws = None
        column = fit.columns.get("N", "")
        convention = {"n_params": "non-embedding parameters",
                      "n_params_total": "all parameters"}.get(column, column)
        law, draws = as_chinchilla(fit.law, draws)   # an over-training law in its Chinchilla form
        return cls(law, draws, source, level or fit.level,
                   convention, fit=fit, data_range=fit.data_ranges())

    def guards(self, n_params: float, tokens: float, allow_far: bool = False) -> list[Guard]:
        """The guards of a run of N parameters on D tokens (distance from the law's data,
        a degenerate law); raises :class:`~scalinglab.fit.guards.GuardRefused` past the
        refusal distance unless ``allow_far``."""
        return question_guards(self.law, {"N": n_params, "D": tokens}, self.data_range,
                               allow_far)

    def allocation_guards(self) -> list[Guard]:
        """The guard of a compute-optimal split from a fit of too few model sizes."""
        return allocation_guard(self.fit.model_sizes() if self.fit is not None else None)

    def frontier_loss(self, flops: float) -> Estimate | None:
        """The fit's compute-optimal loss at ``flops`` with its run interval (nats/token):
        a run at the predicted optimum, widened by where the optimum may lie."""
        if self.fit is None or self.fit.run_interval is None or not np.isfinite(flops):
            return None
        entry = self.fit.frontier(flops, self.level, allow_far=True)["loss"]
        return Estimate(float(entry["value"]), float(entry["low"]), float(entry["high"]),
                        "nats/token", entry.get("kind"))

    def run_loss(self, n_params: float, tokens: float) -> Estimate | None:
        """The fit's run interval (nats/token) for a new run of N parameters on D tokens."""
        if self.fit is None or self.fit.run_interval is None:
            return None
        if not (np.isfinite(n_params) and np.isfinite(tokens)):
            return None
        band = self.fit.predict_interval(self.level, kind="run", allow_far=True, N=n_params,
                                         D=tokens)
        return Estimate(float(band["loss"]), float(band["low"]), float(band["high"]),
                        "nats/token", "run")

    @classmethod
    def from_preset(cls, name: str, level: float | None = None) -> UncertainLaw:
        """A published law: a point estimate only, so no interval."""
        preset = get_preset(name)
        return cls(preset.law, None, f"preset {preset.name}",  # type: ignore[arg-type]
                   level or DEFAULT_LEVEL, preset.n_convention, preset.data,
                   f"{preset.paper}, {preset.where}", data_range=preset_range(preset.name))

    @property
    def n_draws(self) -> int:
        return 0 if self.draws is None else len(self.draws)

    @property
    def interval_note(self) -> str:
        """One sentence saying what the low/high columns mean (or that there are none)."""
        if self.draws is None:
            return (f"no interval: {self.source} is a point estimate without bootstrap draws; "
                    f"values are single numbers")
        return (f"{self.level:.0%} percentile interval over {self.n_draws} bootstrap draws "
                f"of {self.source}")

    def stacked_params(self) -> dict[str, np.ndarray]:
        """Each parameter as an array: entry 0 the point estimate, then one per draw."""
        out = {}
        for k in PARAM_NAMES:
            draws = [] if self.draws is None else self.draws[k].to_numpy(dtype=float)
            out[k] = np.concatenate([[self.law.params[k]], draws])
        return out
