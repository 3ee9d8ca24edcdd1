"""Learning-rate schedules as pure functions of the optimiser step.

All three start with a linear warmup from ``peak / warmup_steps`` to the peak:

* ``cosine``: cosine decay to ``final_fraction`` (10%) of the peak over the exact horizon
  (Hoffmann et al. 2022 decay to 10% and stress matching the cycle length to the run);
* ``constant``: the peak after warmup;
* ``wsd``: warmup–stable–decay: the peak until the last ``cooldown_fraction`` of the steps, then
  a ``1 - sqrt`` cooldown towards zero (Hägele et al. 2024, "Scaling Laws and Compute-Optimal
  Training Beyond Fixed Training Durations", who found (1−sqrt) the best cooldown shape and
  ~20% cooldowns to match cosine).

A WSD run that ends at step S shares every step before its cooldown with any longer WSD run of
the same warmup, which is what makes *cooldown branches* possible (see :mod:`.loop`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.errors import ScalingLabError

SCHEDULES = ("cosine", "constant", "wsd")
COSINE_FINAL_FRACTION = 0.1
WSD_COOLDOWN_FRACTION = 0.2


@dataclass(frozen=True)
class Schedule:
    """A learning-rate multiplier (of the peak) for each optimiser step ``0 .. total_steps-1``."""

    kind: str
    total_steps: int
    warmup_steps: int
    final_fraction: float = COSINE_FINAL_FRACTION
    cooldown_fraction: float = WSD_COOLDOWN_FRACTION

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ScalingLabError(f"unknown schedule {self.kind!r}; use one of "
                                  f"{', '.join(SCHEDULES)}")
        if self.total_steps < 1:
            raise ScalingLabError(f"a schedule needs at least one step, got {self.total_steps}")
        if not 0 <= self.warmup_steps < self.total_steps:
            raise ScalingLabError(f"warmup of {self.warmup_steps} steps does not fit in "
                                  f"{self.total_steps} steps")
        if not 0.0 <= self.final_fraction <= 1.0:
            raise ScalingLabError(f"final_fraction must be in [0, 1], got {self.final_fraction}")
        if not 0.0 < self.cooldown_fraction <= 1.0:
            raise ScalingLabError(f"cooldown fraction must be in (0, 1], "
                                  f"got {self.cooldown_fraction}")
        if self.kind == "wsd" and self.cooldown_start < self.warmup_steps:
            raise ScalingLabError(
                f"WSD run of {self.total_steps} steps: its cooldown (last "
                f"{self.cooldown_steps} steps) would start inside the {self.warmup_steps}-step "
                f"warmup; train longer or use a shorter warmup")

    @property
    def cooldown_steps(self) -> int:
        """Steps of the WSD cooldown (at least one)."""
        return max(1, round(self.cooldown_fraction * self.total_steps))

    @property
    def cooldown_start(self) -> int:
        """First step of the WSD cooldown (the step a cooldown branch forks at)."""
        return self.total_steps - self.cooldown_steps

    def multiplier(self, step: int) -> float:
        """Learning rate at ``step`` (0-based) as a fraction of the peak."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        if self.kind == "cosine":
            progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
            cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
            return self.final_fraction + (1.0 - self.final_fraction) * cosine
        if step < self.cooldown_start:
            return 1.0
        progress = (step - self.cooldown_start) / self.cooldown_steps
        return 1.0 - math.sqrt(min(progress, 1.0))

    def with_total(self, total_steps: int) -> Schedule:
        """The same schedule (same warmup) over another horizon: a cooldown branch's schedule."""
        return Schedule(self.kind, total_steps, self.warmup_steps, self.final_fraction,
                        self.cooldown_fraction)
