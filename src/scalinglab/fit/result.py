"""The result of a parametric fit: a law, its uncertainty, and diagnostics a user can inspect.

Modelled on scikit-learn's fitted estimators: the learned state is plain attributes, the result
predicts, prints a summary table, and round-trips through JSON without our code being read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit import guards as _guards
from scalinglab.fit.frontier_interval import frontier_answer, interval_label
from scalinglab.fit.interval_text import describe_method
from scalinglab.fit.intervals import RunIntervalModel, check_kind, scale_inputs
from scalinglab.fit.quantiles import chi2_ppf
from scalinglab.fit.settings import FINAL_ROWS, FitSettings
from scalinglab.fit.spread import adjust_interval
from scalinglab.laws.base import Law
from scalinglab.laws.registry import law_from_dict
from scalinglab.results import SavableResult, read_result_json
from scalinglab.results import quantile_bounds as _quantile_bounds
from scalinglab.results import squeeze as _squeeze

__all__ = ["FORMAT_VERSION", "FitProcedure", "FitResult", "SavableResult", "read_result_json"]

#: 2: ``settings`` holds exactly the :class:`FitSettings` fields (bootstrap, seed and level
#: included), ``procedure`` what the fit did with them, ``rows`` every row used or dropped.
#: Version 1 files (settings with extra keys, no rows) are converted on reading.
FORMAT_VERSION = 2
ROW_COLUMNS = ("run_id", "N", "D", "C", "loss", "used", "reason")


@dataclass
class FitProcedure:
    """What the fit did with its settings, in words: the objective, the rows taken, and the
    unit the bootstrap resampled (runs, or rows when there are too few runs)."""

    objective: str = "sum of Huber on log-loss residuals"
    rows: str = FINAL_ROWS
    bootstrap_unit: str = "runs"

    def to_dict(self) -> dict[str, str]:
        return {"objective": self.objective, "rows": self.rows,
                "bootstrap_unit": self.bootstrap_unit}


@dataclass
class FitResult(SavableResult):
    """A fitted law with bootstrap uncertainty.

    Attributes
    ----------
    law:
        the point estimate (a :class:`~scalinglab.laws.Law`); ``params`` maps names to values.
    columns:
        which record column fed each law variable, e.g. ``{"N": "n_params", "D": "tokens"}``
        -- this says whether N counts embeddings.
    n_points, n_runs:
        rows used and distinct runs among them.
    objective:
        the minimised sum of Huber(delta) over residuals in log loss.
    settings:
        the :class:`~scalinglab.fit.FitSettings` of the fit: every choice that moves the
        result (Huber delta, optimiser, bounds, fixed E, rows, bootstrap, seed, level).
    residuals:
        RMSE of log loss, and the largest residuals with their run ids.
    bootstrap_params:
        one row per bootstrap resample (columns: parameter names), or None.
    level:
        default confidence level of intervals (e.g. 0.9).
    warnings:
        plain-language warnings (identifiability, parameters at bounds, ...).
    diagnostics:
        machine-readable details behind the warnings.
    run_interval:
        the calibrated pieces of run-level prediction intervals (run-to-run scatter, the
        extrapolation slope from nested backtests, conformal scores), or None.
    procedure:
        what the fit did with its settings (:class:`FitProcedure`: objective, rows taken,
        bootstrap unit).
    rows:
        every row of the input table: run_id, N, D (tokens), C (FLOPs, the flops column where
        finite, else 6ND), loss (nats/token), used, and the reason (``used``, ``frontier
        filter``, ``not selected (...)``); None for a fit read from a version-1 file.
    guards:
        the fit's guards (:mod:`scalinglab.fit.guards`): implausible units, a degenerate law;
        ``diagnostics["data_range"]`` holds the fitted range of N, D, C and D/N that every
        answer is measured against.
    """

    law: Law
    columns: dict[str, str]
    n_points: int
    n_runs: int
    objective: float
    settings: FitSettings
    residuals: dict[str, Any]
    bootstrap_params: pd.DataFrame | None = None
    level: float = 0.9
    warnings: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    run_interval: RunIntervalModel | None = None
    procedure: FitProcedure = field(default_factory=FitProcedure)
    rows: pd.DataFrame | None = None
    guards: list[_guards.Guard] = field(default_factory=list)

    # -- parameters ------------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, float]:
        """Point estimates, by parameter name (e.g. E, A, alpha, B, beta)."""
        return dict(self.law.params)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap intervals of each parameter at ``level`` (default ``self.level``)."""
        draws = self._require_bootstrap()
        lo, hi = _quantile_bounds(level or self.level)
        return {name: (float(np.quantile(draws[name], lo)), float(np.quantile(draws[name], hi)))
                for name in self.law.param_names}

    def draw_laws(self) -> list[Law]:
        """One law per bootstrap draw (for propagating uncertainty to anything derived)."""
        draws = self._require_bootstrap()
        return [self.law.with_params(row) for row in draws.to_dict("records")]

    # -- prediction ------------------------------------------------------------------------------
    def predict(self, **inputs: float | np.ndarray) -> np.ndarray | float:
        """Predicted loss (nats/token) at the given inputs, e.g. ``predict(N=70e9, D=1.4e12)``."""
        return self.law.predict(**inputs)

    def _parameter_sds(self, flat: dict[str, np.ndarray], n: int, level: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The parameters' sd (log loss) at ``n`` flat targets, three ways: the bootstrap's
        spread (0 without one), the E profile's, the delta method's."""
        param_sd = np.zeros(n)
        if self.bootstrap_params is not None and len(self.bootstrap_params) >= 2:
            param_sd = np.std(np.log(self._draw_predictions(flat)), axis=0, ddof=1)
        flat_sd = np.broadcast_to(self.run_interval.profile_sd(self.law, flat, level), (n,))
        delta_sd = np.broadcast_to(self.run_interval.delta_sd(self.law, flat), (n,))
        return param_sd, flat_sd, delta_sd

    def predict_interval(self, level: float | None = None, kind: str = "run",
                         allow_far: bool = False,
                         **inputs: float | np.ndarray) -> dict[str, Any]:
        """Point prediction and interval of the loss (nats/token) at ``level``.

        ``kind="run"`` (default): a prediction interval for the *measured* loss of a new run --
        parameter uncertainty (bootstrap), run-to-run scatter and an extrapolation term that
        grows with the decades beyond the fitted data, calibrated by nested backtests inside
        the data (:mod:`scalinglab.fit.intervals`); ``components`` says how much each source
        contributes.  ``kind="law"``: the percentile bootstrap interval of the mean law
        (parameter uncertainty only; needs a bootstrap).  ``guards`` lists the guards of the
        question (:mod:`scalinglab.fit.guards`); one past its refusal distance raises
        :class:`~scalinglab.fit.guards.GuardRefused` unless ``allow_far``.  The run interval
        never falls below E's lower bound at ``level`` (:meth:`loss_floor`).
        """
        check_kind(kind)
        level = level or self.level
        _check_level(level)
        guards = self.question_guards(inputs, allow_far)
        point = self.law.predict(**inputs)
        out: dict[str, Any] = {"loss": point, "level": level, "kind": kind,
                               "label": interval_label(kind, level), "guards": guards}
        if kind == "law":
            out["meaning"] = ("the law's expected loss (parameter uncertainty only); a single "
                              "run's loss scatters more: use kind='run'")
            if self.bootstrap_params is not None:
                draws = self._draw_predictions(inputs)
                lo, hi = _quantile_bounds(level)
                out["low"] = _squeeze(np.quantile(draws, lo, axis=0))
                out["high"] = _squeeze(np.quantile(draws, hi, axis=0))
            return out
        if self.run_interval is None:
            raise FitError("this fit carries no run-interval calibration (fitted with "
                           "calibrate=False or by an older version); refit, or ask for "
                           "kind='law'")
        X = self.law._inputs(inputs)
        shape = np.broadcast_shapes(*(np.shape(v) for v in X.values()))
        flat = {k: np.broadcast_to(v, shape).ravel() for k, v in X.items()}
        param_sd, flat_sd, delta_sd = self._parameter_sds(flat, int(np.prod(shape)), level)
        scaled = _guards.two_sided(scale_inputs(self.law.variables, flat), self.data_ranges())
        parts = self.run_interval.components(
            scaled, np.maximum(np.maximum(param_sd, flat_sd), delta_sd), level, delta_sd)

        def shaped(values: Any) -> Any:
            return _squeeze(np.reshape(values, shape))

        half = np.reshape(parts["half_width_log"], shape)
        out["low"] = _squeeze(np.asarray(point) * np.exp(-half))
        out["high"] = _squeeze(np.asarray(point) * np.exp(half))
        out["meaning"] = "a new run's measured loss (parameters + run scatter + extrapolation)"
        out["components"] = {
            "multiplier": parts["multiplier"],
            "distance_decades": shaped(parts["distance_decades"]),
            "outside_decades": {  # the guards' distances, each side: for the wording
                k: {side: shaped(v) for side, v in sides.items()}
                for k, sides in _guards.decades_by_quantity(flat, self.data_ranges()).items()},
            "half_width_log": shaped(half),
            "parameters_sd_log": shaped(parts["parameters_sd_log"]),
            "bootstrap_sd_log": shaped(param_sd),
            "flat_direction_sd_log": shaped(flat_sd),
            "delta_method_sd_log": shaped(delta_sd),
            "run_scatter_sd_log": shaped(parts["run_scatter_sd_log"]),
            "extrapolation_sd_log": shaped(parts["extrapolation_sd_log"]),
            "share": {k: shaped(v) for k, v in parts["share"].items()},
            "parameters_dominate": shaped(parts["parameters_dominate"]),
            "bootstrap_included": self.bootstrap_params is not None,
            "calibration": describe_method(self.run_interval),
            "calibrated": self.run_interval.calibrated,
        }
        # law="auto": capped by dominated measured runs, widened by the spread of the candidate
        # laws the backtests cannot tell apart (fit/spread.py)
        out = adjust_interval(out, self.diagnostics.get("selection"), self.law, X, level)
        # last: no run interval reaches below E's lower bound (fit/guards.py)
        out["low"], raised = _guards.floor_interval(out["low"], self.loss_floor(level))
        if raised:
            guards.append(_guards.floor_guard(self.loss_floor(level), level))
        return out

    def _draw_predictions(self, inputs: dict[str, Any]) -> np.ndarray:
        draws = self._require_bootstrap()
        X = self.law._inputs(inputs)
        raw = np.stack([self.law.to_raw(row) for row in draws.to_dict("records")])
        arrays = np.broadcast_arrays(*X.values())
        flat = {k: a.ravel() for k, a in zip(X, arrays, strict=True)}
        preds = np.exp(self.law.log_predict_raw(raw, flat))  # (draws, points)
        return preds.reshape((len(raw),) + arrays[0].shape)

    # -- the compute-optimal frontier ---------------------------------------------------------
    def frontier(self, C: float | np.ndarray, level: float | None = None,
                 allow_far: bool = False) -> dict[str, Any]:
        """Compute-optimal N, D, tokens/parameter and loss at C FLOPs (C = 6ND), with intervals.

        Only for the Chinchilla form.  Each quantity maps to ``{"value", "low", "high", "kind",
        "label"}``: N_opt, D_opt, D/N and the exponents carry parameter intervals, the loss a run
        interval at the predicted optimum (:mod:`scalinglab.fit.frontier_interval`).
        """
        return frontier_answer(self, C, level, allow_far)

    # -- guards ---------------------------------------------------------------------------------
    def data_ranges(self) -> dict[str, Any]:
        """Fitted range ``{quantity: [low, high]}`` of N, D, C and D/N (answers are measured
        against it); a fit saved before ranges were recorded gives the largest values only."""
        ranges = self.diagnostics.get("data_range")
        if ranges:
            return ranges
        if self.run_interval is not None:
            return {k: [1e-300, v] for k, v in self.run_interval.reference.items()}
        return {}

    def model_sizes(self) -> int | None:
        """Distinct model sizes N among the fitted rows (None for a fit saved without rows)."""
        if self.rows is None or "N" not in self.rows.columns or "used" not in self.rows.columns:
            return None
        N = self.rows.loc[self.rows["used"].astype(bool), "N"].to_numpy(dtype=float)
        return int(len(np.unique(np.round(np.log10(N[np.isfinite(N) & (N > 0)]), 3))))

    def question_guards(self, inputs: dict[str, Any], allow_far: bool = False
                        ) -> list[_guards.Guard]:
        """The guards of a question (law inputs N, D or C); raises when one refuses."""
        return _guards.question_guards(self.law, inputs, self.data_ranges(), allow_far)

    def loss_floor(self, level: float | None = None) -> float:
        """E's lower bound at ``level`` (nats/token): no run interval reaches below it."""
        boot = self.bootstrap_params
        draws = None if boot is None or "E" not in boot.columns else boot["E"].to_numpy()
        profile = self.run_interval.profile if self.run_interval is not None else []
        accepted = [p["E"] for p in profile
                    if "E" in p and p["lr"] <= chi2_ppf(level or self.level, 1)]
        return _guards.loss_floor(self.law.params, draws, level or self.level,
                                  self.settings.E_fixed, accepted)

    # -- presentation ---------------------------------------------------------------------------
    def summary(self, level: float | None = None) -> pd.DataFrame:
        """A table: one row per parameter with value, unit and bootstrap interval."""
        rows = []
        intervals = self.intervals(level) if self.bootstrap_params is not None else {}
        for name in self.law.param_names:
            lo, hi = intervals.get(name, (np.nan, np.nan))
            rows.append({"parameter": name, "value": self.law.params[name], "low": lo,
                         "high": hi, "unit": self.law.units.get(name, "")})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (f"FitResult({self.law!r}, n_points={self.n_points}, n_runs={self.n_runs}, "
                f"rmse_log={self.residuals.get('rmse_log', float('nan')):.4g}, "
                f"bootstrap={0 if self.bootstrap_params is None else len(self.bootstrap_params)})")

    # -- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "scalinglab.fit", "version": FORMAT_VERSION,
            "law": self.law.to_dict(), "columns": self.columns, "n_points": self.n_points,
            "n_runs": self.n_runs, "objective": self.objective,
            "settings": self.settings.to_dict(), "procedure": self.procedure.to_dict(),
            "residuals": self.residuals, "level": self.level, "warnings": self.warnings,
            "diagnostics": self.diagnostics,
            "run_interval": None if self.run_interval is None else self.run_interval.to_dict(),
            "guards": [g.to_dict() for g in self.guards],
            "intervals": ({k: list(v) for k, v in self.intervals().items()}
                          if self.bootstrap_params is not None else None),
            "bootstrap_params": (None if self.bootstrap_params is None else
                                 {k: self.bootstrap_params[k].tolist()
                                  for k in self.bootstrap_params.columns}),
            "rows": (None if self.rows is None else
                     {k: self.rows[k].tolist() for k in ROW_COLUMNS}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitResult:
        if data.get("format") != "scalinglab.fit":
            raise ScalingLabError("not a scalinglab fit file (missing format: scalinglab.fit)")
        boot = data.get("bootstrap_params")
        settings, procedure = _settings_of(data)
        rows = data.get("rows")
        return cls(law=law_from_dict(data["law"]), columns=data["columns"],
                   n_points=data["n_points"], n_runs=data["n_runs"],
                   objective=data["objective"], settings=settings, procedure=procedure,
                   rows=None if rows is None else _rows_frame(rows),
                   residuals=data["residuals"],
                   bootstrap_params=None if boot is None else pd.DataFrame(boot),
                   level=data.get("level", 0.9), warnings=list(data.get("warnings", [])),
                   diagnostics=data.get("diagnostics", {}),
                   run_interval=(None if data.get("run_interval") is None else
                                 RunIntervalModel.from_dict(data["run_interval"])),
                   guards=[_guards.Guard.from_dict(g) for g in data.get("guards", [])])

    @classmethod
    def load(cls, path: str | Path) -> FitResult:
        """Reload a result written by :meth:`save` (one-line error if the file is unusable)."""
        data = read_result_json(path, "scalinglab.fit")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise ScalingLabError(f"fit file {str(path)!r} lacks field {exc}") from None

    def _require_bootstrap(self) -> pd.DataFrame:
        if self.bootstrap_params is None or len(self.bootstrap_params) == 0:
            raise FitError("this fit has no bootstrap draws; refit with bootstrap > 0")
        return self.bootstrap_params


def _rows_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """``result.rows`` from its JSON columns (null -> NaN in the numeric columns)."""
    frame = pd.DataFrame(columns, columns=list(ROW_COLUMNS))
    for name in ("N", "D", "C", "loss"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    frame["used"] = frame["used"].astype(bool)
    frame["run_id"] = frame["run_id"].astype(str)
    return frame


def _settings_of(data: dict[str, Any]) -> tuple[FitSettings, FitProcedure]:
    """The settings and procedure of a saved fit (version 1: one dict with extra keys)."""
    version = data.get("version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ScalingLabError(f"fit file version {version!r} is newer than this scalinglab "
                              f"reads ({FORMAT_VERSION}); upgrade scalinglab")
    stored = dict(data["settings"])
    if version == 1:
        stored.setdefault("level", data.get("level", 0.9))
    try:
        settings = FitSettings.from_dict(stored)
    except ScalingLabError as exc:
        raise ScalingLabError(f"fit file settings are unusable: {exc}") from None
    words = data.get("procedure") or {k: stored[k] for k in ("objective", "rows",
                                                             "bootstrap_unit") if k in stored}
    return settings, FitProcedure(**words)


def _check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ScalingLabError(f"confidence level must be in (0, 1), got {level}")
