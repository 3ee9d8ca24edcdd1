"""The family of results: one base class and one set of helpers every result type shares.

Every result (a parametric :class:`~scalinglab.fit.FitResult`, the Approach 1/2
:class:`PowerFrontier` results, a backtest, ...) is a dataclass that

* serialises through ``to_dict()`` (JSON-ready, with a ``format`` tag and a ``version``) and
  :class:`SavableResult`'s ``to_json`` / ``save``, and reloads through :func:`read_result_json`;
* reads intervals the same way: :func:`quantile_bounds` turns a confidence level into the
  quantiles of a central percentile interval, :func:`squeeze` returns scalars for scalar inputs;
* stores tables as ``{column: values}`` (:func:`frame_to_columns` / :func:`frame_from_columns`).

This module sits beside ``records`` and ``jsonutil`` at the bottom of the package (NumPy and
pandas only), so any layer may share it -- ``fit`` for its results, ``compute`` for plans --
and the figure functions in ``report`` read every result through the same fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.display import NotebookDisplay
from scalinglab.errors import FitError, ScalingLabError
from scalinglab.jsonutil import to_jsonable

#: format version of the power-frontier results (``scalinglab.isoflop``, ``scalinglab.envelope``)
FRONTIER_FORMAT_VERSION = 1
#: bootstrap columns of a :class:`PowerFrontier`
FRONTIER_COLUMNS = ("a", "log10_k_n", "b", "log10_k_d")


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def quantile_bounds(level: float) -> tuple[float, float]:
    """Lower and upper quantiles of a central percentile interval at ``level`` (e.g. 0.9)."""
    if not 0 < level < 1:
        raise ScalingLabError(f"confidence level must be in (0, 1), got {level}")
    return (1 - level) / 2, 1 - (1 - level) / 2


def squeeze(values: Any, ndim: int | None = None) -> Any:
    """``values`` as a float when it holds one number that came from a scalar input, else an array.

    ``ndim`` is the number of dimensions of the input the values were computed from: a single
    value becomes a float only when it is 0.  With ``ndim=None`` any single value becomes a float.
    """
    values = np.asarray(values)
    if values.size == 1 and (ndim is None or ndim == 0):
        return float(values.reshape(()))
    return values


def frame_to_columns(frame: pd.DataFrame | None) -> dict[str, list] | None:
    """A DataFrame as ``{column: values}`` for JSON (NaN becomes null via to_jsonable)."""
    if frame is None:
        return None
    return {col: frame[col].tolist() for col in frame.columns}


def frame_from_columns(data: dict[str, list] | None) -> pd.DataFrame | None:
    """Inverse of :func:`frame_to_columns`: nulls in numeric columns come back as NaN."""
    if data is None:
        return None
    frame = pd.DataFrame(data)
    for col in frame.columns:
        values = [v for v in data[col] if v is not None]
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for v in values):
            continue
        whole = len(values) == len(data[col]) and all(isinstance(v, int) for v in values)
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(int if whole else float)
    return frame


#: what a result file of another kind is for, when a command was given the wrong kind
WHAT_TO_DO = {"scalinglab.taskfit": ": a task fit answers `predict` (accuracy at N and D, C or "
                                    "a loss) and `report`; fit the loss alone for this"}


def read_result_json(path: str | Path, fmt: str,
                     versions: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Read a result file written by ``save``; one-line errors for unusable files.

    ``fmt`` is the expected ``format`` tag (e.g. ``"scalinglab.fit"``); with ``versions``, a
    file whose ``version`` is not among them is refused too.
    """
    path = Path(path)
    if not path.is_file():
        raise ScalingLabError(f"result file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScalingLabError(f"result file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else None
        what = f" (it is a {found} file{WHAT_TO_DO.get(found, '')})" if found else ""
        raise ScalingLabError(f"{str(path)!r} is not a {fmt} file{what}")
    if versions is not None and data.get("version") not in versions:
        known = ", ".join(map(str, versions))
        raise ScalingLabError(f"{str(path)!r} is a {fmt} file of format version "
                              f"{data.get('version')!r}; this scalinglab reads version {known}")
    return data


# ------------------------------------------------------------------------------------------------
# the base class
# ------------------------------------------------------------------------------------------------
class SavableResult(NotebookDisplay):
    """JSON output for result dataclasses that define ``to_dict()``; notebook display (an HTML
    table and ``.plot()``) from :class:`~scalinglab.display.NotebookDisplay`."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(to_jsonable(self.to_dict()), indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (parent folders are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path


# ------------------------------------------------------------------------------------------------
# Approach 1 and 2: power laws N_opt = k_N C^a, D_opt = k_D C^b and their bootstrap
# ------------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class PowerFrontier(SavableResult):
    """Base of the Approach 1 and 2 results: ``N_opt = k_N C^a`` and ``D_opt = k_D C^b``.

    ``a, log10_k_n, b, log10_k_d`` are the fitted exponents and log10 coefficients (N in
    parameters, D in tokens, C in FLOPs), ``bootstrap`` one row per resample with those columns
    (or None), ``level`` the interval level, ``target_flops`` (FLOPs, or None) where
    :meth:`summary` reports N_opt and D_opt; serialised by :meth:`_frontier_dict`.
    Keyword-only, so subclasses add positional fields.
    """

    a: float
    log10_k_n: float
    b: float
    log10_k_d: float
    settings: dict[str, Any]
    n_runs: int
    bootstrap: pd.DataFrame | None = None
    level: float = 0.9
    target_flops: float | None = None
    warnings: list[str] = field(default_factory=list)

    def _frontier_dict(self) -> dict[str, Any]:
        """The fields every power-frontier result serialises (JSON-ready)."""
        out = {"version": FRONTIER_FORMAT_VERSION, "a": self.a, "log10_k_n": self.log10_k_n,
               "b": self.b, "log10_k_d": self.log10_k_d, "settings": self.settings,
               "n_runs": self.n_runs, "level": self.level, "target_flops": self.target_flops,
               "warnings": list(self.warnings), "bootstrap": frame_to_columns(self.bootstrap)}
        if self._has_bootstrap():
            out["intervals"] = {k: list(v) for k, v in self.intervals().items()}
        return out

    @staticmethod
    def _frontier_kwargs(data: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments shared by every power-frontier result (KeyError if absent)."""
        return {"a": float(data["a"]), "log10_k_n": float(data["log10_k_n"]),
                "b": float(data["b"]), "log10_k_d": float(data["log10_k_d"]),
                "settings": dict(data["settings"]), "n_runs": int(data["n_runs"]),
                "bootstrap": frame_from_columns(data.get("bootstrap")),
                "level": float(data.get("level", 0.9)), "target_flops": data.get("target_flops"),
                "warnings": list(data.get("warnings", []))}

    def predict_n_opt(self, C: float | np.ndarray) -> float | np.ndarray:
        """Compute-optimal parameters at C FLOPs (point estimate)."""
        C = _positive_flops(C)
        return squeeze(10.0 ** (self.log10_k_n + self.a * np.log10(C)), C.ndim)

    def predict_d_opt(self, C: float | np.ndarray) -> float | np.ndarray:
        """Compute-optimal training tokens at C FLOPs (point estimate)."""
        C = _positive_flops(C)
        return squeeze(10.0 ** (self.log10_k_d + self.b * np.log10(C)), C.ndim)

    def frontier(self, C: float | np.ndarray, level: float | None = None) -> dict[str, Any]:
        """N_opt (parameters), D_opt (tokens) and D/N at C, each ``{"value", "low", "high"}``."""
        C = _positive_flops(C)
        n_draws, d_draws = self._frontier_draws(C)
        out: dict[str, Any] = {"C": squeeze(C, C.ndim), "level": level or self.level}
        values = {"N_opt": self.predict_n_opt(C), "D_opt": self.predict_d_opt(C)}
        values["tokens_per_param"] = values["D_opt"] / values["N_opt"]
        draws = {"N_opt": n_draws, "D_opt": d_draws,
                 "tokens_per_param": None if n_draws is None else d_draws / n_draws}
        lo, hi = quantile_bounds(level or self.level)
        for key, value in values.items():
            entry: dict[str, Any] = {"value": value}
            if draws[key] is not None:
                entry["low"] = squeeze(np.nanquantile(draws[key], lo, axis=0), C.ndim)
                entry["high"] = squeeze(np.nanquantile(draws[key], hi, axis=0), C.ndim)
            out[key] = entry
        return out

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Percentile intervals of a, b (and N_opt, D_opt at ``target_flops`` if set)."""
        draws = self._require_bootstrap()
        lo, hi = quantile_bounds(level or self.level)
        out = {name: (float(np.nanquantile(draws[name], lo)),
                      float(np.nanquantile(draws[name], hi))) for name in ("a", "b")}
        if self.target_flops is not None:
            at_target = self.frontier(self.target_flops, level)
            for key in ("N_opt", "D_opt"):
                out[key] = (at_target[key]["low"], at_target[key]["high"])
        return out

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """Table of a, b, coefficients and (at target_flops) N_opt, D_opt with intervals."""
        lo_hi = self.intervals(level) if self._has_bootstrap() else {}
        rows = [
            _summary_row("a", self.a, lo_hi.get("a"), "N_opt ~ C^a"),
            _summary_row("b", self.b, lo_hi.get("b"), "D_opt ~ C^b"),
            _summary_row("k_N", 10.0**self.log10_k_n, None, "parameters / FLOPs^a"),
            _summary_row("k_D", 10.0**self.log10_k_d, None, "tokens / FLOPs^b"),
        ]
        if self.target_flops is not None:
            at = self.frontier(self.target_flops, level)
            for key, unit in (("N_opt", "parameters"), ("D_opt", "tokens"),
                              ("tokens_per_param", "tokens/parameter")):
                entry = at[key]
                interval = (entry["low"], entry["high"]) if "low" in entry else None
                rows.append(_summary_row(f"{key}(C={self.target_flops:.3g})", entry["value"],
                                         interval, unit))
        return pd.DataFrame(rows)

    def _frontier_draws(self, C: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self._has_bootstrap():
            return None, None
        draws = self.bootstrap
        logc = np.log10(np.atleast_1d(C))[None, :]
        with np.errstate(over="ignore"):  # a wild resample may overflow to inf: fine for quantiles
            n = 10.0 ** (draws["log10_k_n"].to_numpy()[:, None]
                         + draws["a"].to_numpy()[:, None] * logc)
            d = 10.0 ** (draws["log10_k_d"].to_numpy()[:, None]
                         + draws["b"].to_numpy()[:, None] * logc)
        shape = (len(draws),) + np.shape(C)
        return n.reshape(shape), d.reshape(shape)

    def _has_bootstrap(self) -> bool:
        return self.bootstrap is not None and bool(np.isfinite(self.bootstrap["a"]).any())

    def _require_bootstrap(self) -> pd.DataFrame:
        if not self._has_bootstrap():
            raise FitError("this result has no bootstrap draws; refit with bootstrap > 0")
        return self.bootstrap


def _summary_row(name: str, value: float, interval: tuple[float, float] | None,
                 unit: str) -> dict[str, Any]:
    lo, hi = interval if interval is not None else (np.nan, np.nan)
    return {"quantity": name, "value": float(value), "low": lo, "high": hi, "unit": unit}


def _positive_flops(C: float | np.ndarray) -> np.ndarray:
    C = np.asarray(C, dtype=float)
    if np.any(~np.isfinite(C)) or np.any(C <= 0):
        raise ScalingLabError("compute C must be finite and > 0 FLOPs")
    return C
