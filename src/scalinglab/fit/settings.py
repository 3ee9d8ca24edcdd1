"""The settings of an Approach-3 fit: one validated object, checked once, recorded in the result.

Every choice that moves a fit is a field of :class:`FitSettings`, with its default and unit
beside it.  ``FitSettings(...)`` checks every field in ``__post_init__`` and raises
:class:`~scalinglab.errors.SettingError` naming the field (the CLI turns the field into its
flag), so :func:`~scalinglab.fit.fit_parametric`, the bootstrap and the calibration never
check a setting again.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import Any

from scalinglab.errors import SettingError
from scalinglab.fit.huber import AUTO, is_auto
from scalinglab.laws.registry import LAW_FORMS

#: Default row filter (see :func:`scalinglab.fit.rows.frontier_mask`): a run whose final loss is
#: more than 10% above the best final loss at the same or less compute lies far from the
#: compute-optimal frontier -- badly undertrained, mis-tuned or failed -- where the law is not
#: meant to hold.  Measured with bench/extrapolation.py (median ARE of the Epoch backtests with
#: no hand-dropped points, cut 1e21 / 3e20 FLOPs; gzip family mean ARE):  none 1.36% / 1.47%,
#: 144.5%;  0.05: 0.94% / 0.71%, 17.2% (but 1e21 run-interval coverage 70%);  0.1: 0.81% /
#: 0.65%, 102.9%;  0.2: 0.92% / 0.94%, 103.5%.  Epoch's "drop the 5 highest losses" by hand
#: gives 0.87% at 1e21.
DEFAULT_FRONTIER_FILTER = 0.1
METHODS = ("varpro", "hoffmann")
POWER_VARIABLES = ("N", "D", "C")
CHECKPOINT_WORDS = ("auto", "final")
#: The rows a fit takes when it uses no checkpoints, as its procedure says it.
FINAL_ROWS = "final rows of each run"


@dataclass
class FitSettings:
    """Every choice that moves an Approach-3 fit, validated on construction.

    Fields (units in brackets):

    * ``law``: the form's name (``chinchilla``, ``kaplan``, ``power``, ``data_constrained``).
    * ``variable``: the power law's variable, N, D or C (None: C).
    * ``irreducible``: the power law with (True) or without (False) E.
    * ``n_column``: which parameter count is N (``n_params`` non-embedding, ``n_params_total``).
    * ``huber_delta``: Huber's delta on log-loss residuals (> 0), or ``"auto"`` (1.345 x the
      robust sd of the fit's residuals, kept between Hoffmann's 1e-3 and 1e-2: :mod:`.huber`);
      a fit's result records the number used.
    * ``method``: ``varpro`` (fast screen + polish) or ``hoffmann`` (4500-start grid).
    * ``E_fixed`` [nats/token]: fix E; ``E_bounds`` [nats/token]: (low, high) for E;
      ``E_prior`` [nats/token]: Gaussian (mean, sd) on E; ``bound_E_below_min_loss``: E <= the
      lowest observed loss.
    * ``checkpoints_after``: which rows of a loss curve -- a fraction in [0, 1) of each run's
      tokens, ``"auto"`` (curves past 0.1 where present, final rows otherwise) or ``"final"``
      (stored as None).
    * ``frontier_filter`` [relative excess]: drop runs this far above the best loss at the same
      or less compute (> 0), or None to keep every row.
    * ``weights``: a column of per-row weights, or None.
    * ``hparams``: hyperparameter columns of a sweep with several runs per (N, D) -- the fit
      then uses the envelope, the best run of each (N, D) (:mod:`scalinglab.fit.hparams`);
      ``"auto"`` (known names such as ``lr``, ``batch_tokens`` that vary at a fixed (N, D)),
      a tuple of column names (or one comma-separated string), or None / ``"none"``.
    * ``calibrate``: nested backtests for run-level intervals; ``calibration_cuts`` [FLOPs]:
      where to cut (None: between the compute levels, else at fractions of the runs);
      ``levels`` [FLOPs]: the table's compute levels (IsoFLOP budgets) the cuts lie between
      (None: detected, :mod:`scalinglab.fit.cuts`); both sorted on construction, not both.
    * ``bootstrap`` [resamples, >= 0], ``seed`` (>= 0), ``level`` (confidence level in (0, 1)).
    """

    law: str = "chinchilla"
    variable: str | None = None
    irreducible: bool = True
    n_column: str = "n_params"
    huber_delta: float | str = AUTO
    method: str = "varpro"
    E_fixed: float | None = None
    E_bounds: tuple[float, float] | None = None
    E_prior: tuple[float, float] | None = None
    bound_E_below_min_loss: bool = False
    checkpoints_after: float | str | None = "auto"
    frontier_filter: float | None = DEFAULT_FRONTIER_FILTER
    weights: str | None = None
    hparams: tuple[str, ...] | str | None = "auto"
    calibrate: bool = True
    calibration_cuts: tuple[float, ...] | None = None
    levels: tuple[float, ...] | None = None
    bootstrap: int = 0
    seed: int = 0
    level: float = 0.9

    def __post_init__(self) -> None:
        self._check_form()
        self._check_E()
        self._check_rows()
        self._check_uncertainty()

    def _check_form(self) -> None:
        if not isinstance(self.law, str) or self.law.lower() not in LAW_FORMS:
            raise SettingError("law", f"must be one of {', '.join(LAW_FORMS)}, got {self.law!r}")
        if self.variable is not None and self.variable not in POWER_VARIABLES:
            raise SettingError("variable", f"must be N, D or C, got {self.variable!r}")
        self.irreducible = _flag("irreducible", self.irreducible)
        if not isinstance(self.n_column, str) or not self.n_column:
            raise SettingError("n_column", f"must be a column name, got {self.n_column!r}")
        self.huber_delta = _huber_delta(self.huber_delta)
        if self.method not in METHODS:
            raise SettingError("method", f"must be varpro or hoffmann, got {self.method!r}")
        if self.weights is not None and not isinstance(self.weights, str):
            raise SettingError("weights", f"must be a column name or None, got {self.weights!r}")

    def _check_E(self) -> None:
        if self.E_fixed is not None:
            self.E_fixed = _number("E_fixed", self.E_fixed, "a loss > 0 nats/token", low=0.0)
        if self.E_bounds is not None:
            low, high = _pair("E_bounds", self.E_bounds, "(low, high) in nats/token")
            if not 0 <= low < high:
                raise SettingError("E_bounds", f"must satisfy 0 <= low < high nats/token, got "
                                               f"{self.E_bounds}")
            self.E_bounds = (low, high)
        if self.E_prior is not None:
            mean, sd = _pair("E_prior", self.E_prior, "(mean, sd) in nats/token")
            if not (mean > 0 and sd > 0):
                raise SettingError("E_prior", f"must be (mean, sd) with both > 0 nats/token, "
                                              f"got {self.E_prior}")
            self.E_prior = (mean, sd)
        self.bound_E_below_min_loss = _flag("bound_E_below_min_loss",
                                            self.bound_E_below_min_loss)

    def _check_rows(self) -> None:
        self.checkpoints_after = _checkpoints(self.checkpoints_after)
        if self.frontier_filter is not None:
            self.frontier_filter = _number(
                "frontier_filter", self.frontier_filter,
                "a number > 0 (a relative excess over the best loss at the same compute) or "
                "None", low=0.0)
        self.hparams = _hparams(self.hparams)
        self.calibrate = _flag("calibrate", self.calibrate)
        if self.calibration_cuts is not None:
            self.calibration_cuts = _cuts(self.calibration_cuts)
        if self.levels is not None:
            self.levels = _cuts(self.levels, "levels")
        if self.calibration_cuts is not None and self.levels is not None:
            raise SettingError("levels", "and calibration_cuts: give one, not both")

    def _check_uncertainty(self) -> None:
        self.bootstrap = _count("bootstrap", self.bootstrap, "resamples")
        self.seed = _count("seed", self.seed, "")
        self.level = _number("level", self.level, "a confidence level in (0, 1)", low=0.0,
                             high=1.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists are fine for JSON), by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitSettings:
        """Settings from :meth:`to_dict` output; keys that are not settings are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def build(cls, settings: FitSettings | None = None, **overrides: Any) -> FitSettings:
        """``settings`` (default: the defaults) with ``overrides`` replaced, validated.

        An unknown keyword is a one-line error naming it and the closest setting.
        """
        check_names(overrides)
        base = (settings or cls()).to_dict()
        base.update(overrides)
        return cls(**base)


def setting_names() -> tuple[str, ...]:
    """Every field of :class:`FitSettings`, in order."""
    return tuple(f.name for f in fields(FitSettings))


def check_names(options: Mapping[str, Any], extra: Sequence[str] = ()) -> None:
    """Raise :class:`SettingError` for a keyword that is not a setting (with the closest one)."""
    valid = setting_names() + tuple(extra)
    for name in options:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SettingError(name, f"is not a fit setting{hint} (settings: "
                                     f"{', '.join(valid)})")


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool | Integral):
        raise SettingError(name, f"must be True or False, got {value!r}")
    return bool(value)


def _number(name: str, value: Any, what: str, low: float | None = None,
            high: float | None = None) -> float:
    """A finite real strictly inside (low, high)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or \
            (low is not None and not value > low) or (high is not None and not value < high):
        raise SettingError(name, f"must be {what}, got {value!r}")
    return float(value)


def _pair(name: str, value: Any, what: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SettingError(name, f"must be a pair {what}, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SettingError(name, f"must be finite {what}, got {value!r}")
    return low, high


def _count(name: str, value: Any, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise SettingError(name, f"must be a whole number >= 0{' ' + unit if unit else ''}, "
                                 f"got {value!r}")
    return int(value)


def _checkpoints(value: Any) -> float | str | None:
    """``"auto"``, None (final rows; ``"final"`` is stored as None) or a fraction in [0, 1)."""
    problem = f'must be a fraction in [0, 1), "auto" or "final", got {value!r}'
    if value is None:
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in CHECKPOINT_WORDS:
            return None if word == "final" else "auto"
        raise SettingError("checkpoints_after", problem)
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise SettingError("checkpoints_after", problem)
    return float(value)


def _hparams(value: Any) -> tuple[str, ...] | str | None:
    """``"auto"``, None (``"none"``, empty) or a tuple of column names (a comma-separated string
    is split)."""
    if value is None:
        return None
    if isinstance(value, str):
        word = value.strip()
        if word.lower() == "auto":
            return "auto"
        if word.lower() in ("", "none"):
            return None
        value = word.split(",")
    try:
        names = tuple(str(v).strip() for v in value if not isinstance(v, bool))
    except TypeError:
        names = ()
    if not names or any(not n for n in names) or len(names) != len(list(value)):
        raise SettingError("hparams", f'must be column names, "auto" or "none", got {value!r}')
    if len(set(names)) != len(names):
        raise SettingError("hparams", f"names a column twice: {', '.join(names)}")
    return names


def _cuts(values: Any, name: str = "calibration_cuts") -> tuple[float, ...]:
    """Calibration cuts (or compute levels, ``name``) as sorted, distinct FLOP counts > 0."""
    try:
        cuts = [float(v) for v in values]
    except (TypeError, ValueError):
        raise SettingError(name, f"must be FLOP counts > 0, got {values!r}") from None
    if not cuts or not all(math.isfinite(c) and c > 0 for c in cuts):
        raise SettingError(name, f"must be FLOP counts > 0, got {list(values)}")
    return tuple(sorted(set(cuts)))


def _huber_delta(value: Any) -> float | str:
    """``"auto"`` or a number > 0 (a numeric string from the command line counts)."""
    if is_auto(value):
        return AUTO
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SettingError("huber_delta", f"must be a number > 0 or 'auto', got "
                                              f"{value!r}") from None
    return _number("huber_delta", value, "a number > 0 or 'auto'", low=0.0)
