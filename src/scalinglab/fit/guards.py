"""Guards on every answer: how far a question lies from the data, and what the answer may claim.

A fitted law answers any (N, D) or C it is asked about; the data behind it do not.  Each guard
below measures one thing about a question or a fit, compares it with a documented limit, and
takes an action: ``note`` (said, nothing more), ``warn`` (a one-line warning beside the answer)
or ``refuse`` (a one-line error, exit status 2 on the command line, unless the user insists with
``--allow-far`` / ``allow_far=True``).  Every guard is a :class:`Guard` record with its name,
the quantity, the measured value, the limit, the action and the message; answers carry them in
a ``guards`` list (and the JSON output names each one).

Distance from the data is measured per quantity -- N (parameters), D (tokens), C = 6ND (FLOPs)
and D/N (tokens per parameter) -- in decades outside the fitted range on *either* side: a model
ten times smaller than any fitted run is one decade away, just like one ten times larger.

Why these limits (``FAR_WARN_DECADES``, ``FAR_REFUSE_DECADES``):

* Hoffmann et al. (2022) fitted runs up to 16B parameters and about 1.3e22 FLOPs and predicted
  Chinchilla (70B parameters, 1.4T tokens, 5.76e23 FLOPs): 0.64 decades in N, 0.64 in D and
  1.65 in C beyond their data -- the headline extrapolation of the field, and it held.
* The nested backtests that calibrate the run interval, over the development library and the
  Epoch data (``bench/extrapolation.py``; every task's targets measured against its fitted
  rows), reach at most 0.78 decades in N, 0.69 in D, 0.65 in D/N and 1.64 in C.  Beyond that
  no benchmark has checked that the interval covers.
* Issue 25: on independent public sweeps, targets at 17x the largest fitted N (1.2 decades)
  were 3-8% too low, outside their intervals, while targets at 3.5x N came within ~1%.

So a warning past 1 decade in N, D or D/N (10x beyond anything fitted: past every calibrated
backtest, where misses like issue 25's start) and past 2 decades in C (a compute-optimal move
of ~1 decade in each of N and D; Chinchilla's own 1.65 stays quiet); a refusal past 2 decades
in N, D or D/N and 4 in C (100x, 10^4x: twice the warning distance, beyond any extrapolation a
published law was validated at).  C gets twice the limits of N and D because moving along the
compute-optimal frontier splits a decade of compute into about half a decade of each.

A law that does not use a quantity the question gives (a reduced law L(N) fitted along a fixed
tokens-per-parameter line, a power law in N asked with --tokens) knows nothing about moving in
it: the question must stay on the fitted line -- ``OFF_LINE_WARN_DECADES`` and
``OFF_LINE_REFUSE_DECADES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError

#: Decades outside the fitted range (either side) past which an answer warns / is refused.
FAR_WARN_DECADES: dict[str, float] = {"N": 1.0, "D": 1.0, "D/N": 1.0, "C": 2.0}
FAR_REFUSE_DECADES: dict[str, float] = {"N": 2.0, "D": 2.0, "D/N": 2.0, "C": 4.0}
#: The same for a quantity the law does not use (off the line along which it was fitted): 0.1
#: decades (26%) is the spread a "fixed" tokens-per-parameter design shows in practice; a
#: decade off that line changes the ignored term by a factor the law cannot know.
OFF_LINE_WARN_DECADES = 0.1
OFF_LINE_REFUSE_DECADES = 1.0
#: E at or below this (nats/token) is "at its floor": the fit found no irreducible loss.
E_FLOOR_NATS = 1e-5

QUANTITIES = ("N", "D", "C", "D/N")
UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs", "D/N": "tokens per parameter"}
ACTIONS = ("note", "warn", "refuse")
INSIST = "pass --allow-far (API: allow_far=True) to answer anyway"

#: The fitted data behind published presets (decades are measured against these).  Hoffmann et
#: al. 2022 and Besiroglu et al. 2024: Epoch AI's extraction of Hoffmann's Figure 4 runs
#: (../shared/data/scaling-dev/README.md, chinchilla.csv: N 5.73e7-1.62e10, D 2.45e8-3.18e11,
#: C 1.4e18-1.3e22).  Kaplan et al. 2020, Section 1.1/2: 768 to 1.5e9 non-embedding
#: parameters, 22M to 23B tokens.
CHINCHILLA_DATA = {"N": (5.73e7, 1.62e10), "D": (2.45e8, 3.18e11), "C": (1.4e18, 1.3e22),
                   "D/N": (0.0361, 341.0)}
KAPLAN_DATA = {"N": (768.0, 1.5e9), "D": (2.2e7, 2.3e10)}
PRESET_DATA_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "hoffmann2022": CHINCHILLA_DATA, "hoffmann2022-unrounded": CHINCHILLA_DATA,
    "besiroglu2024": CHINCHILLA_DATA, "kaplan2020": KAPLAN_DATA, "kaplan2020-n": KAPLAN_DATA,
    "kaplan2020-d": KAPLAN_DATA,
}


@dataclass(frozen=True)
class Guard:
    """One check on an answer or a fit: what was measured, against which limit, and the outcome.

    ``name`` (e.g. ``distance``, ``off_line``, ``unused_input``, ``floor``, ``degenerate``,
    ``units``), ``quantity`` (N, D, C, D/N, E, loss, flops), ``value`` in ``unit`` (decades,
    ratio, nats/token, ...), ``limit`` (same unit; None when the check has none), ``action``
    (note, warn or refuse) and a one-line ``message``.
    """

    name: str
    quantity: str
    value: float | None
    unit: str
    limit: float | None
    action: str
    message: str

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"guard action must be one of {ACTIONS}, got {self.action!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.unit == "decades":
            out["decades"] = self.value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Guard:
        return cls(name=str(data["name"]), quantity=str(data["quantity"]),
                   value=None if data.get("value") is None else float(data["value"]),
                   unit=str(data.get("unit", "")),
                   limit=None if data.get("limit") is None else float(data["limit"]),
                   action=str(data["action"]), message=str(data["message"]))


class GuardRefused(ScalingLabError):
    """An answer refused by a guard; ``guards`` holds every guard of the question."""

    def __init__(self, message: str, guards: list[Guard]) -> None:
        super().__init__(message)
        self.guards = guards


# -- the data's range -----------------------------------------------------------------------------
def quantities_of(inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """N, D, C = 6ND and D/N from law inputs (only those the inputs determine), as arrays."""
    out = {k: np.asarray(inputs[k], dtype=float) for k in ("N", "D", "C") if k in inputs}
    if "N" in out and "D" in out:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            out["C"] = 6.0 * out["N"] * out["D"]
            out["D/N"] = out["D"] / out["N"]
    return out


def data_range(inputs: Mapping[str, Any]) -> dict[str, list[float]]:
    """``{quantity: [lowest, highest]}`` of the fitted rows (N, D, C = 6ND, D/N where known)."""
    out = {}
    for key, values in quantities_of(inputs).items():
        finite = values[np.isfinite(values) & (values > 0)]
        if finite.size:
            out[key] = [float(finite.min()), float(finite.max())]
    return out


def decades_outside(values: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Decades below ``low`` and above ``high`` (each 0 inside the range), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.asarray(values, dtype=float))
    return np.maximum(np.log10(low) - logs, 0.0), np.maximum(logs - np.log10(high), 0.0)


def decades_by_quantity(inputs: Mapping[str, Any], ranges: Mapping[str, Any]
                        ) -> dict[str, dict[str, np.ndarray]]:
    """``{quantity: {"below": decades, "above": decades}}`` of law inputs against the fitted
    ranges: the distances the distance guards measure (N, D, C = 6ND, D/N where known)."""
    out = {}
    for key, values in quantities_of(inputs).items():
        if key in ranges:
            low, high = (float(v) for v in ranges[key])
            below, above = decades_outside(values, low, high)
            out[key] = {"below": below, "above": above}
    return out


# -- guards of one question -------------------------------------------------------------------------
def distance_guards(inputs: Mapping[str, Any], ranges: Mapping[str, Any],
                    used: tuple[str, ...], allow_far: bool = False) -> list[Guard]:
    """One guard per quantity past its warning distance (refusal past the larger one).

    ``used``: the quantities the law models (N, D, C, D/N for L(N, D)); the others get the
    stricter off-line limits.  With ``allow_far`` a refusal becomes a warning that says so.
    """
    guards = []
    line = fixed_quantities(ranges, used)
    for key, values in quantities_of(inputs).items():
        if key not in ranges or (key not in used and key not in line):
            continue
        low, high = (float(v) for v in ranges[key])
        below, above = decades_outside(values, low, high)
        worst_below, worst_above = float(np.max(below)), float(np.max(above))
        on_line = key in used
        warn = FAR_WARN_DECADES[key] if on_line else OFF_LINE_WARN_DECADES
        refuse = FAR_REFUSE_DECADES[key] if on_line else OFF_LINE_REFUSE_DECADES
        decades = max(worst_below, worst_above)
        if decades <= warn:
            continue
        side = "above the largest" if worst_above >= worst_below else "below the smallest"
        edge = high if worst_above >= worst_below else low
        at = values.flat[int(np.argmax(above if worst_above >= worst_below else below))]
        action = "refuse" if decades > refuse and not allow_far else "warn"
        what = (f"{key} = {at:.3g} {UNITS[key]} lies {decades:.2f} decades {side} fitted "
                f"({edge:.3g})")
        if not on_line:
            what += (" -- a direction this law does not model (it holds along the fitted "
                     "data only)")
        limits = f"warning past {warn:g}, refused past {refuse:g} decade{'' if refuse == 1 else 's'}"
        if action == "refuse":
            message = f"{what}; {limits}: {INSIST}"
        elif decades > refuse:
            message = f"{what}; {limits}: answered because you insisted (allow_far)"
        else:
            message = f"{what} ({limits}; the interval assumes the law holds that far)"
        guards.append(Guard("distance" if on_line else "off_line", key, round(decades, 4),
                            "decades", refuse if action == "refuse" else warn, action,
                            message))
    return guards


def fixed_quantities(ranges: Mapping[str, Any], used: tuple[str, ...]) -> set[str]:
    """The quantities a reduced law's data hold (nearly) fixed: the line it is valid along.

    A power law in N fitted at one token count holds at that D (D/N and C move with N along
    the line: asking a larger N is a distance in N, not a step off the line); fitted at a fixed
    tokens per parameter, it holds at that D/N.  A quantity is held fixed when its fitted
    spread is at most :data:`OFF_LINE_WARN_DECADES` or a tenth of the law's own variable's
    (log N and log D correlated at r > 0.999, the collinear test of the fit, leaves D/N a
    spread of at most ~5% of N's).
    """
    def spread(key: str) -> float:
        low, high = (float(v) for v in ranges[key])
        return float(np.log10(high / low)) if low > 0 else float("inf")

    moving = max((spread(k) for k in used if k in ranges), default=0.0)
    limit = max(OFF_LINE_WARN_DECADES, 0.1 * moving)
    return {k for k in ranges if k not in used and spread(k) <= limit}


def unused_input_guards(law_name: str, law_variables: tuple[str, ...],
                        given: Mapping[str, Any]) -> list[Guard]:
    """A warning for each input the law does not use (it is not silently ignored)."""
    out = []
    for key in ("N", "D", "C"):
        if key in given and key not in law_variables:
            value = np.asarray(given[key], dtype=float)
            shown = f"{float(value.flat[0]):.3g}" if value.size == 1 else "the given values"
            out.append(Guard(
                "unused_input", key, None, UNITS[key], None, "warn",
                f"the {law_name} law in {', '.join(law_variables)} does not use {key} "
                f"({UNITS[key]}; {shown}): its answer is the same for any {key}, and holds "
                f"only along the fitted data"))
    return out


def used_quantities(law_variables: tuple[str, ...]) -> tuple[str, ...]:
    """Quantities a law models: its variables, plus C and D/N when it has both N and D."""
    used = tuple(v for v in law_variables if v in ("N", "D", "C"))
    if "N" in used and "D" in used:
        used += ("C", "D/N")
    return used


def degenerate_guard(params: Mapping[str, float]) -> list[Guard]:
    """A warning when E sits at its floor: the law has no irreducible loss."""
    if "E" not in params or float(params["E"]) > E_FLOOR_NATS:
        return []
    return [Guard("degenerate", "E", float(params["E"]), "nats/token", E_FLOOR_NATS, "warn",
                  f"E = {float(params['E']):.2g} nats/token sits at its floor (<= "
                  f"{E_FLOOR_NATS:g}): the data did not determine an irreducible loss, so the "
                  f"law is degenerate (a pure power law that falls forever) and its answers "
                  f"beyond the data are likely too low; fix or bound E (E_fixed, E_bounds or "
                  f"E_prior) or fit law='power'")]


#: fewer distinct model sizes than this cannot tell how compute divides between N and D
MIN_SIZES_FOR_ALLOCATION = 3


def allocation_guard(n_sizes: int | None) -> list[Guard]:
    """A warning on a compute-optimal answer (N_opt, D_opt, a plan) from a fit of fewer than
    :data:`MIN_SIZES_FOR_ALLOCATION` model sizes: its N term is then set by the law's form and
    the optimiser, not by the data (two sizes' curves give N_opt ~ C^0.006 on llm360)."""
    if n_sizes is None or n_sizes >= MIN_SIZES_FOR_ALLOCATION:
        return []
    return [Guard("few_sizes", "N", float(n_sizes), "model sizes",
                  float(MIN_SIZES_FOR_ALLOCATION), "warn",
                  f"the fit saw {n_sizes} model size(s): with fewer than "
                  f"{MIN_SIZES_FOR_ALLOCATION} the data do not determine the law's N term, so "
                  f"how compute divides between N and D (N_opt, D_opt) is the law's form "
                  f"speaking, not the data; fit runs of at least {MIN_SIZES_FOR_ALLOCATION} "
                  f"sizes to plan an allocation")]


def enforce(guards: list[Guard]) -> list[Guard]:
    """Raise :class:`GuardRefused` naming the refusals, else return ``guards``."""
    refused = [g for g in guards if g.action == "refuse"]
    if refused:
        first = max(refused, key=lambda g: (g.value or 0.0) / (g.limit or 1.0))
        others = [g.quantity for g in refused if g is not first]
        limit = "its limit" if len(others) == 1 else "their limits"
        also = f" (also {', '.join(others)} past {limit})" if others else ""
        raise GuardRefused(first.message + also, guards)
    return guards


def check_inputs(given: Mapping[str, Any]) -> None:
    """N, D and C must be finite and > 0 (one-line error naming the input)."""
    for key in ("N", "D", "C"):
        if key in given:
            values = np.asarray(given[key], dtype=float)
            if not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ScalingLabError(f"{key} ({UNITS[key]}) must be finite and > 0")


def question_guards(law, given: Mapping[str, Any], ranges: Mapping[str, Any] | None,
                    allow_far: bool = False) -> list[Guard]:
    """Every guard of a question ``given`` (N, D or C) to ``law``; raises when one refuses."""
    check_inputs(given)
    guards = unused_input_guards(law.name, tuple(law.variables), given)
    if ranges:
        guards += distance_guards(given, ranges, used_quantities(tuple(law.variables)),
                                  allow_far)
    else:
        guards.append(Guard("distance", "-", None, "decades", None, "note",
                            "distance from the data not checked: this law carries no record "
                            "of the data it was fitted to"))
    guards += degenerate_guard(law.params)
    return enforce(guards)


# -- the irreducible floor ------------------------------------------------------------------------
def loss_floor(params: Mapping[str, float], E_draws: np.ndarray | None, level: float,
               E_fixed: float | None = None, profile_E: list[float] | None = None) -> float:
    """The lowest loss (nats/token) a run interval may reach: E's lower bound at ``level``.

    The lower (1 - level)/2 quantile of E's bootstrap draws (E's own interval, e.g. 1.777 for
    Epoch's 1.817), never above the point E; without draws, the lowest E on the profile that
    the data accept; a fixed E is its own floor; a law without E has floor 0.
    """
    if "E" not in params:
        return 0.0
    E = float(params["E"])
    if E_fixed is not None:
        return float(E_fixed)
    if E_draws is not None and np.size(E_draws) >= 2:
        return min(E, float(np.quantile(np.asarray(E_draws, dtype=float), (1 - level) / 2)))
    if profile_E:
        return min([E] + [float(v) for v in profile_E])
    return E


def floor_interval(low: Any, floor: float) -> tuple[Any, bool]:
    """``low`` raised to ``floor`` where it falls below; and whether any value was raised."""
    arr = np.asarray(low, dtype=float)
    raised = bool(np.any(arr < floor))
    out = np.maximum(arr, floor)
    return (float(out) if np.ndim(low) == 0 else out), raised


def floor_guard(floor: float, level: float) -> Guard:
    return Guard("floor", "loss", float(floor), "nats/token", float(floor), "note",
                 f"the interval's low end was raised to {floor:.4g} nats/token, E's "
                 f"{level:.0%} lower bound: no run can beat the irreducible loss")


def preset_range(name: str) -> dict[str, tuple[float, float]] | None:
    """The fitted data range of a published preset, where the paper states it."""
    return PRESET_DATA_RANGES.get(name.lower())


def messages(guards: list[Guard], actions: tuple[str, ...] = ("warn",)) -> list[str]:
    return [g.message for g in guards if g.action in actions]


def two_sided(scaled: Mapping[str, np.ndarray], ranges: Mapping[str, Any]
              ) -> dict[str, np.ndarray]:
    """Inputs with each value below the data mirrored above it, at the same distance in decades.

    The run interval's extrapolation term counts decades beyond the *largest* fitted value; a
    model 10x smaller than any fitted one is as far from the data as one 10x larger, and its
    interval must widen the same (``--params 1e6 --tokens 1e3`` on the Epoch fit: 5.4 decades
    below the fitted D, yet "0.00 decades beyond the fitted data").
    """
    out = dict(scaled)
    for key, values in scaled.items():
        if key not in ranges:
            continue
        low, high = (float(v) for v in ranges[key])
        below, _ = decades_outside(values, low, high)
        out[key] = np.where(below > 0, high * 10.0**below, values)
    return out
