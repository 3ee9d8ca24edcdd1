"""What the demo measured, typed: :class:`DemoSummary` is ``summary.json``.

``to_dict`` writes the keys ``summary.json`` has always had (README, report and scripts read
them), in the same order; ``from_dict`` reads a file back, older ones included (a missing
optional key becomes None).  Losses in nats/token, compute in FLOPs, N in parameters, D in
tokens, times in seconds.  This module imports nothing else of scalinglab, so readers below the
study (the report) can use it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class PredictionSummary:
    """The prediction frozen before the validation run: point, interval at ``level`` and its
    ``kind`` (``run``: parameters + run scatter + extrapolation; ``law``: parameters only)."""

    loss: float
    low: float
    high: float
    level: float
    kind: str = "law"
    components: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictionSummary:
        return cls(float(data["loss"]), _float(data.get("low")), _float(data.get("high")),
                   float(data.get("level", 0.9)), str(data.get("kind", "law")),
                   data.get("components"))


@dataclass
class TaskSummary:
    """One task of the held-out suite: the accuracy predicted before the validation run (point
    and interval at ``level``, fractions), the one measured after, and whether it fell inside;
    or ``refused`` with the reason the chain gave no number.  ``via`` is the chain's route
    (``loss``, ``task_loss`` or ``compute``); ``intermediate_loss`` the loss it passes through
    (nats/token); ``warnings`` the answer's warning guards (one line each)."""

    task: str | None
    chance: float | None = None
    level: float | None = None
    predicted: float | None = None
    low: float | None = None
    high: float | None = None
    measured: float | None = None
    inside_interval: bool | None = None
    refused: str | None = None
    via: str | None = None
    intermediate: str | None = None
    intermediate_loss: float | None = None
    routes_mae_points: dict[str, float] | None = None
    warnings: list[str] | None = None


@dataclass
class ValidationSummary:
    """The validation run: its name, N (non-embedding and total), D, and notes/warnings."""

    name: str
    n_params: int
    n_params_total: int
    tokens: float
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Approach3Summary:
    """Approach 3 (Chinchilla L(N, D)): parameters, their intervals, the points it used."""

    params: dict[str, float]
    intervals: dict[str, Any] | None
    points_used: int
    points_total: int
    fit_min_steps: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class Approach2Summary:
    """Approach 2 (IsoFLOP profiles): N_opt ~ C^a, D_opt ~ C^b, N_opt at the validation run."""

    a: float
    b: float
    n_opt_at_validation: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExactLanguageSummary:
    """The synthetic language's exact best possible loss E_T against the fitted E."""

    exact_best_loss: float
    fitted_E: float  # noqa: N815 -- the law's parameter name, as summary.json spells it
    fitted_E_relative_error: float  # noqa: N815
    entropy_rate: float
    fitted_E_interval: list[float] | None = None  # noqa: N815
    exact_best_loss_inside_E_interval: bool | None = None  # noqa: N815

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exact_best_loss": self.exact_best_loss,
                               "fitted_E": self.fitted_E,
                               "fitted_E_relative_error": self.fitted_E_relative_error}
        if self.fitted_E_interval is not None:
            out["fitted_E_interval"] = list(self.fitted_E_interval)
            out["exact_best_loss_inside_E_interval"] = self.exact_best_loss_inside_E_interval
        out["entropy_rate"] = self.entropy_rate
        return out


@dataclass
class DemoSummary:
    """Everything ``summary.json`` holds (see the module docstring for units)."""

    corpus: str
    tokenizer: str
    seed: int
    out: str
    prediction: PredictionSummary | None
    loss_column: str
    measured_loss: float
    measured_sampled_loss: float
    relative_error: float
    inside_interval: bool
    extrapolation_factor: float
    extrapolation_over_costliest_run: float
    sweep_flops: float
    validation_flops: float
    largest_point_flops: float
    wall_seconds: float
    sweep_wall_seconds: float
    validation_wall_seconds: float
    validation: ValidationSummary | None
    validation_already_trained: bool
    approach3: Approach3Summary | None
    approach2: Approach2Summary | None
    approach2_error: str | None
    within_sweep_backtest: dict[str, Any]
    runs: dict[str, int]
    exact: ExactLanguageSummary | None = None
    report: str | None = None
    tasks: list[TaskSummary] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` mapping (plain values; nested records as dicts)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "exact":
                out.update(value.to_dict() if value is not None else {})
            elif f.name == "report":
                if value is not None:
                    out["report"] = value
            elif f.name == "prediction":
                out["prediction"] = _plain(value)
            elif f.name == "tasks":
                if value is not None:
                    out["tasks"] = [_plain(task) for task in value]
            else:
                out[f.name] = _plain(value) if hasattr(value, "__dataclass_fields__") else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoSummary:
        """A summary read back from ``summary.json``; a key an older or partial file lacks
        becomes None (``loss_column`` defaults to ``loss``, the only one older demos used)."""
        values = {f.name: data.get(f.name) for f in fields(cls)
                  if f.name not in ("exact", "report", "tasks")}
        values["loss_column"] = data.get("loss_column") or "loss"
        prediction = data.get("prediction")
        values["prediction"] = (PredictionSummary.from_dict(prediction)
                                if isinstance(prediction, dict) and "loss" in prediction else None)
        values["validation"] = _record(ValidationSummary, data.get("validation"))
        values["approach3"] = _record(Approach3Summary, data.get("approach3"))
        values["approach2"] = _record(Approach2Summary, data.get("approach2"))
        values["within_sweep_backtest"] = data.get("within_sweep_backtest") or {}
        values["runs"] = data.get("runs") or {}
        exact = (ExactLanguageSummary(**_known(ExactLanguageSummary, data))
                 if "exact_best_loss" in data else None)
        tasks = data.get("tasks")
        tasks = ([_record(TaskSummary, t) for t in tasks if isinstance(t, dict)]
                 if isinstance(tasks, list) else None)
        return cls(**values, exact=exact, report=data.get("report"), tasks=tasks)

    @classmethod
    def read(cls, path: str | Path) -> DemoSummary:
        """``from_dict`` of a ``summary.json`` file."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _plain(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _record(cls: type, data: Any) -> Any:
    """``cls`` from a dict (missing keys None), or None where there is no dict."""
    return cls(**_known(cls, data)) if isinstance(data, dict) else None


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that ``cls`` has as fields, the missing ones None."""
    return {f.name: data.get(f.name) for f in fields(cls)}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
