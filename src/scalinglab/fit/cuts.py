"""Where the nested calibration backtests cut the fitted runs (:func:`fit.intervals.calibrate`).

A backtest fits the runs below a cut and scores the runs above it.  On an IsoFLOP sweep the runs
come in compute *levels* (budgets); a cut inside a level splits runs that differ only by
rounding (6ND of integer N and D at one budget), so the "held-out" runs sit 0 decades beyond
the fit and say nothing about extrapolation.  The cuts therefore go *between* levels:

1. cuts the user gives (FLOPs): used as given, after checking they lie inside the data;
2. levels the user gives (budgets, FLOPs): each run belongs to the nearest level, and the cuts
   lie between consecutive levels;
3. levels found in the data: the runs' compute clustered in log space
   (:func:`fit.isoflop.cluster_budgets`, windows of +-:data:`LEVEL_TOLERANCE_DEX`); the table
   counts as a level design when at least :data:`MIN_LEVELS` levels of
   :data:`MIN_RUNS_PER_LEVEL` runs hold :data:`MIN_LEVEL_SHARE` of the runs and consecutive
   levels are separated by at least :data:`MIN_LEVEL_GAP_DEX`;
4. otherwise cut fractions of the distinct sizes (:data:`CUT_FRACTIONS`), sizes equal to
   rounding (:data:`SAME_SIZE_RTOL`) counting once.

Between levels, every cut leaves at least :data:`MIN_LEVELS_BELOW` levels below (a Chinchilla
law fitted to one budget is not identified), at least :data:`MIN_SHARE_OF_LEVELS_BELOW` of the
levels below, and one above.  The share keeps each backtest a fit of the same kind as the real
one: a law fitted to 2 of 7 budgets extrapolates far worse than one fitted to all 7, and its
errors would widen every interval (tests/test_run_interval_coverage: cuts after every level from
the second covered 99.5% of new runs at nominal 90%, median half-width 3.9%; cuts keeping half
the levels below, 95% at 3.25%; bench/isoflop_simulation, 5 levels: 38/40 and 39/40 either way,
half-widths 2.34x/4.30x vs 2.38x/4.38x the noise-only width).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError

#: Fractions of the distinct run sizes kept below each cut, when the table has no levels.
CUT_FRACTIONS = (0.75, 0.8, 0.85, 0.9, 0.95)
#: Runs whose compute agrees within this many decades can share a level (the IsoFLOP grouping's
#: default window, fit.isoflop.DEFAULT_TOLERANCE_DEX).
LEVEL_TOLERANCE_DEX = 0.05
#: A level holds at least this many runs (an IsoFLOP profile needs three sizes).
MIN_RUNS_PER_LEVEL = 3
#: A table is a level design with at least this many levels ...
MIN_LEVELS = 3
#: ... holding at least this share of its runs ...
MIN_LEVEL_SHARE = 0.8
#: ... with at least this gap (decades) between the largest run of a level and the smallest of
#: the next: twice the window, so that levels are distinct budgets, not a continuum of compute
#: that the windows happen to chop (Epoch's 245 Chinchilla runs form 25 such windows 0.05-0.2
#: decades apart: no levels).
MIN_LEVEL_GAP_DEX = 2 * LEVEL_TOLERANCE_DEX
#: Every cut between levels leaves this many levels below it ...
MIN_LEVELS_BELOW = 2
#: ... and at least this share of the levels (rounded up), as the fraction cuts keep >= 75%.
MIN_SHARE_OF_LEVELS_BELOW = 0.5
#: Sizes within this relative difference are one size (floating-point noise of 6ND).
SAME_SIZE_RTOL = 1e-6


@dataclass
class CutPlan:
    """The calibration cuts and how they were chosen.

    ``cuts`` in the unit of ``quantity`` (FLOPs for compute), ``source`` one of "cuts given",
    "levels given", "levels detected", "fractions", ``levels`` the level centres (empty without
    levels) and ``runs_per_level`` their run counts.
    """

    cuts: list[float]
    source: str
    quantity: str = "compute (FLOPs)"
    levels: list[float] = field(default_factory=list)
    runs_per_level: list[int] = field(default_factory=list)
    runs_outside_levels: int = 0

    def describe(self, used: list[float] | None = None) -> str:
        """One phrase, e.g. 'cuts between the compute levels 1e18 | 3.2e18 | 1e19 at ...'.

        ``used``: the cuts whose backtests could be fitted (default: every planned cut); the
        others are named as skipped.
        """
        used = list(self.cuts) if used is None else used
        cuts = ", ".join(f"{c:.3g}" for c in used) or "none"
        skipped = [c for c in self.cuts if c not in used]
        if skipped:
            cuts += f" (skipped, too few runs to fit below: {', '.join(f'{c:.3g}' for c in skipped)})"
        if self.source in ("levels detected", "levels given"):
            bars = " | ".join(f"{c:.3g}" for c in self.levels)
            how = "detected" if self.source == "levels detected" else "given"
            return f"cuts between the {how} compute levels {bars} at {cuts}"
        if self.source == "cuts given":
            return f"cuts given at {cuts}"
        return (f"no compute levels found: cuts at fractions "
                f"{', '.join(f'{f:g}' for f in CUT_FRACTIONS)} of the distinct "
                f"{self.quantity} values, at {cuts}")

    def to_dict(self, used: list[float] | None = None) -> dict[str, Any]:
        return {"source": self.source, "quantity": self.quantity, "cuts": list(self.cuts),
                "levels": list(self.levels), "runs_per_level": list(self.runs_per_level),
                "runs_outside_levels": self.runs_outside_levels, "text": self.describe(used)}


def check_flop_list(values: Any, name: str) -> tuple[float, ...] | None:
    """User cuts or levels: finite FLOP counts > 0, strictly increasing (one-line error)."""
    if values is None:
        return None
    try:
        array = np.asarray([float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        raise ScalingLabError(f"{name} must be FLOP counts, got {values!r}") from None
    if array.size == 0 or not np.all(np.isfinite(array) & (array > 0)):
        raise ScalingLabError(f"{name} must be FLOP counts > 0, got {list(values)}")
    steps = np.diff(array)
    if np.any(steps == 0):
        twice = array[1:][steps == 0][0]
        raise ScalingLabError(f"{name}: {twice:g} is given twice")
    if np.any(steps < 0):
        raise ScalingLabError(f"{name} must be in increasing order, got "
                              f"{', '.join(f'{v:g}' for v in array)}")
    return tuple(float(v) for v in array)


def plan_cuts(run_size: np.ndarray, by_runs: bool, cuts: tuple[float, ...] | None = None,
              levels: tuple[float, ...] | None = None,
              quantity: str = "compute (FLOPs)") -> CutPlan:
    """The cuts for the nested backtests, from the size of each run (or row) they compare with.

    ``run_size`` is each run's largest compute (FLOPs) when ``by_runs``, else each row's.
    Levels are looked for only among runs measured in compute.
    """
    size = np.asarray(run_size, dtype=float)
    if cuts is not None and levels is not None:
        raise ScalingLabError("give calibration cuts or compute levels, not both")
    if cuts is not None:
        _check_inside(cuts, size, "calibration cut")
        return CutPlan(list(cuts), "cuts given", quantity)
    if levels is not None:
        return _given_levels(levels, size, quantity)
    if by_runs and quantity.startswith("compute"):
        found = detect_levels(size)
        if found is not None:
            return found
    return CutPlan(fraction_cuts(size), "fractions", quantity)


def detect_levels(size: np.ndarray) -> CutPlan | None:
    """The compute levels of a level design and the cuts between them, or None."""
    from scalinglab.fit.isoflop import cluster_budgets  # noqa: PLC0415 (import cycle)

    labels, centres = cluster_budgets(size, LEVEL_TOLERANCE_DEX, MIN_RUNS_PER_LEVEL)
    if len(centres) < MIN_LEVELS or np.mean(labels >= 0) < MIN_LEVEL_SHARE:
        return None
    members = [size[labels == k] for k in range(len(centres))]
    gaps = [np.log10(upper.min() / lower.max()) for lower, upper in
            zip(members[:-1], members[1:], strict=True)]
    if min(gaps) < MIN_LEVEL_GAP_DEX:
        return None
    return CutPlan(_between(members), "levels detected", levels=[float(c) for c in centres],
                   runs_per_level=[len(m) for m in members],
                   runs_outside_levels=int(np.sum(labels < 0)))


def _given_levels(levels: tuple[float, ...], size: np.ndarray, quantity: str) -> CutPlan:
    """Each run at its nearest given level; cuts between consecutive levels."""
    _check_inside(levels, size, "compute level", tolerance_dex=LEVEL_TOLERANCE_DEX)
    if len(levels) < MIN_LEVELS_BELOW + 1:
        raise ScalingLabError(f"{len(levels)} compute level(s) leave no cut with "
                              f"{MIN_LEVELS_BELOW} levels below and one above; give at least "
                              f"{MIN_LEVELS_BELOW + 1}")
    logs = np.log10(np.asarray(levels))
    nearest = np.argmin(np.abs(np.log10(size)[:, None] - logs[None, :]), axis=1)
    members = [size[nearest == k] for k in range(len(levels))]
    empty = [f"{lv:g}" for lv, m in zip(levels, members, strict=True) if m.size == 0]
    if empty:
        raise ScalingLabError(f"no run is nearer to compute level(s) {', '.join(empty)} than to "
                              f"another level")
    return CutPlan(_between(members), "levels given", quantity, levels=list(levels),
                   runs_per_level=[len(m) for m in members])


def levels_below(n_levels: int) -> int:
    """The fewest levels a cut leaves below it, of ``n_levels``."""
    return max(MIN_LEVELS_BELOW, int(np.ceil(MIN_SHARE_OF_LEVELS_BELOW * n_levels)))


def _between(members: list[np.ndarray]) -> list[float]:
    """Geometric midpoints between consecutive levels' runs, each leaving
    :func:`levels_below` levels below."""
    k = levels_below(len(members))
    return [float(np.sqrt(lower.max() * upper.min()))
            for lower, upper in zip(members[k - 1:-1], members[k:], strict=True)]


def _check_inside(values: tuple[float, ...], size: np.ndarray, what: str,
                  tolerance_dex: float = 0.0) -> None:
    """Each value strictly inside the runs' range (levels: within the tolerance of it)."""
    slack = 10.0**tolerance_dex
    low, high = float(size.min()), float(size.max())
    for value in values:
        inside = (low / slack <= value <= high * slack) if tolerance_dex else (low < value < high)
        if not inside:
            raise ScalingLabError(f"{what} {value:g} lies outside the fitted runs' compute "
                                  f"({low:.3g} to {high:.3g} FLOPs)")


def fraction_cuts(size: np.ndarray) -> list[float]:
    """Cuts between distinct sizes so that about a fraction f of them lie below, for each f.

    Sizes within :data:`SAME_SIZE_RTOL` of each other count as one (rounding noise).
    """
    values = np.sort(np.asarray(size, dtype=float))
    distinct = values[np.concatenate([[True], values[1:] > values[:-1] * (1 + SAME_SIZE_RTOL)])]
    if len(distinct) < 4:
        return []
    cuts: list[float] = []
    for f in CUT_FRACTIONS:
        k = min(max(int(round(f * len(distinct))), 2), len(distinct) - 1)
        cut = float(np.sqrt(distinct[k - 1] * distinct[k]))  # geometric midpoint
        if cut not in cuts:
            cuts.append(cut)
    return cuts
