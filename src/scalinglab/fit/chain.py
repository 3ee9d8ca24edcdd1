"""The task chain: compute (N, D) -> loss -> accuracy, fitted, chosen and composed with intervals.

Step 1 is the loss law (:func:`scalinglab.fit`, its defaults and its calibrated run interval);
step 2 the link (:mod:`scalinglab.laws.links`) from that loss to the task's accuracy, fitted
over every model and checkpoint of the table.  Three routes are candidates (``via``):

* ``loss``: the validation loss column is the intermediate (OLMo ladder, Bhagia et al. 2024;
  Gadre et al. 2024);
* ``task_loss``: the task's own loss ``task_loss_<task>`` (nats of the correct continuation)
  is the intermediate (Llama 3 report, Dubey et al. 2024, Sec. 3.2.1);
* ``compute``: accuracy as a sigmoid of log10 compute directly (Ruan et al. 2024 fit accuracy
  against log compute within a family).

``via="auto"`` scores each available route by nested backtests inside the data (fit below a
compute cut, predict the rows above it; :mod:`scalinglab.fit.chainselect`) and keeps the one
with the lowest mean absolute error.  Intervals come from a joint case bootstrap over runs:
each resample refits step 1 *and* step 2 on the same runs; the loss keeps the spread of its
calibrated run interval, and the run-to-run scatter of accuracy around the link is added.
The interval is then made at least as wide as the chosen route's own backtest errors (a
conformal multiple of the scatter) and as the spread of the routes those backtests cannot tell
apart (:mod:`scalinglab.fit.chaincalib`).  Accuracy intervals are clipped to
[chance - noise, 1].  A task whose fitted runs are all
within noise of chance is refused (:class:`TaskRefusal`), as is a target where the bootstrap
links disagree over more than half the range between chance and 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.chaincalib import (
    DEFAULT_POINT,
    DEFAULT_WIDENING,
    alternative_record,
    combined_point,
)
from scalinglab.fit.linkfit import (  # noqa: F401 (TaskRefusal, the constants: public here too)
    MAX_LINK_SPREAD,
    MIN_RUNS_FOR_RUN_BOOTSTRAP,
    SCATTER_DRAWS,
    TaskRefusal,
    free_parameters,
)
from scalinglab.fit.tasktable import (
    VIA_CHOICES,
    available_vias,
    check_accuracy,
    has_scale,
    item_grid,
    log10_compute,
    resolve_chance,
    run_groups,
    task_column,
    task_loss_column,
)
from scalinglab.laws.links import FITTED_FLOOR_FORMS, TaskLink, link_values
from scalinglab.laws.registry import law_from_dict
from scalinglab.records import OTHER_LOSS_PREFIX, load_runs
from scalinglab.results import SavableResult, read_result_json

FORMAT = "scalinglab.taskfit"
FORMAT_VERSION = 1
#: link form used unless told: "auto", the backtests choose among
#: chainselect.LINK_CANDIDATES (chosen on the development library: bench/downstream.py)
DEFAULT_LINK = "auto"
#: joint bootstrap resamples (each refits the loss law and the link)
DEFAULT_BOOTSTRAP = 64
#: a task counts as above chance when its best rows (the top fifth by loss or compute) average
#: this many run scatters above chance, and at least NEAR_CHANCE_POINTS accuracy points
NEAR_CHANCE_SCATTERS = 3.0
NEAR_CHANCE_POINTS = 0.02


@dataclass
class TaskFit(SavableResult):
    """A fitted task chain: ``predict_interval(N=, D=)`` -> accuracy with a run interval.

    ``loss_fit`` is step 1 (a :class:`~scalinglab.fit.FitResult`, None for ``via="compute"``),
    ``link`` step 2; ``step1_draws`` and ``link_draws`` are the joint bootstrap (one loss law
    and one link per resample); ``scatter`` the run-to-run sd of accuracy around the link
    (fraction); ``selection`` the nested-backtest scores of each route (MAE, accuracy points).
    """

    task: str
    chance: float
    via: str
    link: TaskLink
    scatter: float
    loss_fit: Any = None
    intermediate: str | None = None
    link_draws: np.ndarray | None = None
    step1_draws: list[Any] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)
    level: float = 0.9
    seed: int = 0
    n_rows: int = 0
    n_runs: int = 0
    x_range: tuple[float, float] = (np.nan, np.nan)
    above_chance: dict[str, float] = field(default_factory=dict)
    #: n when every fitted accuracy is a whole number of n items (tasktable.item_grid): the
    #: interval's ends are then the nearest attainable accuracies (multiples of 1/n)
    items: int | None = None
    bootstrap_unit: str = "runs"
    notes: list[str] = field(default_factory=list)
    #: the run table's warnings (e.g. no run ids) and step 1's (e.g. implausible units)
    warnings: list[str] = field(default_factory=list)
    #: routes the backtests cannot tell from the chosen one (fitted on all rows; their spread
    #: widens the interval) and what widens it (:mod:`scalinglab.fit.chaincalib`)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    widening: tuple[str, ...] = DEFAULT_WIDENING
    point: str = DEFAULT_POINT

    # -- prediction ------------------------------------------------------------------------------
    def predict(self, **inputs: float) -> float:
        """Expected accuracy (fraction) at ``N=, D=`` (or ``C=`` for via compute, ``loss=``)."""
        x0 = self._point_x(inputs)
        return combined_point(self, float(self.link.predict(x0)), inputs, x0)[0]

    def predict_interval(self, level: float | None = None, allow_far: bool = False,
                         **inputs: float) -> dict[str, Any]:
        """Accuracy (fraction) and its run interval at ``level`` for one target.

        Inputs: ``N`` (parameters) and ``D`` (tokens) -- or ``C`` (FLOPs) for via compute --
        or a measured ``loss`` (nats, the intermediate's units) to use step 2 alone.
        Keys: ``accuracy``, ``low``, ``high``, ``level``, ``kind`` ("run"), ``via``, ``loss``
        (point, low, high of the intermediate; None for via compute), ``chance``, ``meaning``,
        ``guards`` (distance from the data, through the loss fit's guards or, via compute,
        :func:`~scalinglab.fit.chainpredict.task_guards`; ``few_runs``).
        Raises :class:`TaskRefusal` where the bootstrap links disagree too much to answer, and
        :class:`~scalinglab.fit.guards.GuardRefused` past the distance limits unless
        ``allow_far``.
        """
        from scalinglab.fit.chainpredict import interval_at  # noqa: PLC0415

        return interval_at(self, level or self.level, inputs, allow_far)

    def _point_x(self, inputs: dict[str, float]) -> float:
        from scalinglab.fit.chainpredict import target_x  # noqa: PLC0415

        return target_x(self, inputs)[0]

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "task": self.task,
            "chance": self.chance, "via": self.via, "link": self.link.to_dict(),
            "scatter": self.scatter, "intermediate": self.intermediate,
            "loss_fit": None if self.loss_fit is None else self.loss_fit.to_dict(),
            "link_draws": None if self.link_draws is None else self.link_draws.tolist(),
            "step1_draws": [law.to_dict() for law in self.step1_draws],
            "selection": self.selection, "level": self.level, "seed": self.seed,
            "n_rows": self.n_rows, "n_runs": self.n_runs, "x_range": list(self.x_range),
            "above_chance": self.above_chance, "bootstrap_unit": self.bootstrap_unit,
            "notes": self.notes, "warnings": self.warnings, "alternatives": self.alternatives,
            "widening": list(self.widening), "point": self.point, "items": self.items,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskFit:
        from scalinglab.fit.result import FitResult  # noqa: PLC0415

        draws = data.get("link_draws")
        return cls(task=data["task"], chance=data["chance"], via=data["via"],
                   link=TaskLink.from_dict(data["link"]), scatter=data["scatter"],
                   loss_fit=(None if data.get("loss_fit") is None else
                             FitResult.from_dict(data["loss_fit"])),
                   intermediate=data.get("intermediate"),
                   link_draws=None if draws is None else np.asarray(draws, dtype=float),
                   step1_draws=[law_from_dict(d) for d in data.get("step1_draws", [])],
                   selection=data.get("selection", {}), level=data.get("level", 0.9),
                   seed=data.get("seed", 0), n_rows=data.get("n_rows", 0),
                   n_runs=data.get("n_runs", 0), x_range=tuple(data.get("x_range", (0, 0))),
                   above_chance=data.get("above_chance", {}),
                   bootstrap_unit=data.get("bootstrap_unit", "runs"),
                   notes=data.get("notes", []), warnings=data.get("warnings", []),
                   alternatives=data.get("alternatives", []),
                   widening=tuple(data.get("widening", DEFAULT_WIDENING)),
                   point=data.get("point", DEFAULT_POINT), items=data.get("items"))

    @classmethod
    def load(cls, path: str | Path) -> TaskFit:
        data = read_result_json(path, FORMAT, versions=(FORMAT_VERSION,))
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise ScalingLabError(f"task fit file {str(path)!r} lacks field {exc}") from None

    def __repr__(self) -> str:
        return (f"TaskFit({self.task}, via={self.via}, {self.link.describe()}, "
                f"scatter={self.scatter:.3g}, rows={self.n_rows}, runs={self.n_runs})")

    def summary_lines(self) -> list[str]:
        """Plain-text description of the fit (what the CLI prints)."""
        from scalinglab.fit.chainselect import LEAST_SQUARES_DELTA, ROUTE_WORDS  # noqa: PLC0415

        via = ("direct fit of accuracy against log10 compute" if self.via == "compute" else
               f"two-step chain through {ROUTE_WORDS[self.via]} ({self.intermediate})")
        lines = [f"task {self.task}: {via}", f"  link: {self.link.describe()}",
                 f"  chance {self.chance:.3g}; run-to-run scatter of accuracy around the link "
                 f"{self.scatter:.3g}; {self.n_rows} rows of {self.n_runs} runs"]
        if self.loss_fit is not None:
            p = ", ".join(f"{k}={v:.4g}" for k, v in self.loss_fit.params.items())
            law = self.loss_fit.law
            how = (", least squares" if self.loss_fit.settings.huber_delta == LEAST_SQUARES_DELTA
                   else "")
            lines.append(f"  step 1 ({law.name} law in {', '.join(law.variables)}{how}): {p}")
        scores = self.selection.get("mae_points", {})
        if scores:
            shown = ", ".join(f"{k} {v:.2f}" if np.isfinite(v) else f"{k} failed"
                              for k, v in scores.items())
            lines.append(f"  routes scored by {self.selection.get('n_backtests', 0)} nested "
                         f"backtests (MAE, accuracy points): {shown}")
        forms = self.selection.get("link_forms", {})
        if len(forms) > 1:
            shown = ", ".join(f"{k} {v:.2f}" if np.isfinite(v) else f"{k} not scored"
                              for k, v in forms.items())
            lines.append(f"  link forms scored by the same backtests (MAE of each form's "
                         f"chosen route): {shown}")
        n_draws = 0 if self.link_draws is None else len(self.link_draws)
        unit = self.bootstrap_unit.split(" (")[0]            # runs, or rows
        if self.loss_fit is None:
            lines.append(f"  intervals: bootstrap over {unit} ({n_draws} resamples of the "
                         f"link) + accuracy scatter")
        else:
            lines.append(f"  intervals: joint bootstrap over {unit} "
                         f"({len(self.step1_draws) or n_draws} resamples of both steps) + loss "
                         f"run interval + accuracy scatter")
        n_cal = self.selection.get("calibration", {}).get("n_rows", 0)
        if n_cal and "backtests" in self.widening:
            lines.append(f"  interval at least as wide as the chosen route's errors on {n_cal} "
                         f"backtest rows (conformal multiple of the scatter)")
        if self.alternatives and "routes" in self.widening:
            lines.append("  routes the backtests cannot tell apart (their spread widens the "
                         f"interval): {', '.join(a['route'] for a in self.alternatives)}")
        if self.items:
            lines.append(f"  every fitted accuracy is a whole number of {self.items} items: "
                         f"interval ends are the nearest attainable accuracies")
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return lines


def fit_task(runs: pd.DataFrame | str | Path, task: str, *, chance: float | None = None,
             via: str = "auto", link: str = DEFAULT_LINK, loss_column: str = "loss",
             bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.9, seed: int = 0,
             **loss_options: Any) -> TaskFit:
    """Fit the chain of ``task`` (``acc_<task>`` column) to a run table; see the module doc.

    ``chance`` (fraction) defaults to the known level of a standard task; ``via`` is ``loss``,
    ``task_loss``, ``compute`` or ``auto``; ``loss_column`` names the validation loss (nats per
    token); ``link`` is ``auto`` (the backtests choose the link's form: its floor at chance, or
    fitted below it) or a form of :data:`scalinglab.laws.links.LINK_FORMS`; ``loss_options``
    go to the loss fit (``law=``, ``checkpoints_after=``, ...).
    """
    from scalinglab.fit.chainselect import (  # noqa: PLC0415
        choose_link,
        fit_route,
        route_labels,
        split_label,
    )

    frame = runs if isinstance(runs, pd.DataFrame) else load_runs(runs, require=())
    table_warnings = list(frame.attrs.get("warnings", []))
    column = task_column(task)
    accuracy = check_accuracy(frame, column)
    frame = frame.loc[np.isfinite(accuracy)].reset_index(drop=True)
    groups = run_groups(frame)
    by_run = len(np.unique(groups)) >= MIN_RUNS_FOR_RUN_BOOTSTRAP
    frame = frame.assign(_unit=groups if by_run else np.arange(len(frame)))
    chance = resolve_chance(column, chance, accuracy)
    if not isinstance(bootstrap, int) or bootstrap < 0:
        raise ScalingLabError(f"bootstrap must be a whole number >= 0, got {bootstrap!r}")
    _check_loss_column(frame, loss_column, via)
    routes = route_labels(_routes(frame, column, loss_column, via), loss_options,
                          has_scale(frame))
    items = item_grid(accuracy)
    link, selection = choose_link(frame, column, chance, routes, link, loss_column,
                                  loss_options, items=items)
    user_options = dict(loss_options)
    chosen, loss_options = split_label(selection["chosen"], loss_options)
    fitted = fit_route(frame, column, chance, chosen, link, loss_column, loss_options,
                       calibrate=True)
    out = TaskFit(task=column, chance=chance, via=chosen, link=fitted.link,
                  scatter=fitted.scatter, loss_fit=fitted.loss_fit,
                  intermediate=fitted.intermediate, selection=selection, level=level,
                  seed=seed, n_rows=len(fitted.x), n_runs=int(len(np.unique(fitted.groups))),
                  x_range=(float(np.min(fitted.x)), float(np.max(fitted.x))),
                  bootstrap_unit="runs" if by_run else "rows (fewer than "
                  f"{MIN_RUNS_FOR_RUN_BOOTSTRAP} runs)")
    out.above_chance = near_chance_check(out, fitted.x, fitted.acc,
                                         _reference_scatter(frame, column, chance, chosen, link,
                                                            loss_column, loss_options))
    out.items = items
    from scalinglab.fit.chainpredict import few_runs_guard  # noqa: PLC0415

    out.notes.extend(g.message for g in few_runs_guard(out))
    out.notes.extend(_other_losses_note(frame, loss_column, via))
    step1 = [] if out.loss_fit is None else [f"step 1: {w}" for w in out.loss_fit.warnings
                                              if w not in table_warnings]
    out.warnings = table_warnings + step1
    out.alternatives = _fit_alternatives(frame, column, chance, selection, link, loss_column,
                                         user_options)
    if bootstrap:
        from scalinglab.fit.chainpredict import joint_bootstrap  # noqa: PLC0415

        joint_bootstrap(out, fitted, link, loss_options, bootstrap, seed)
    return out


def _other_losses(frame: pd.DataFrame) -> list[str]:
    """Columns of validation losses on named sets (``loss_c4``) that hold values."""
    return [str(c) for c in frame.columns if str(c).startswith(OTHER_LOSS_PREFIX)
            and pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _check_loss_column(frame: pd.DataFrame, loss_column: str, via: str) -> None:
    """A named loss column the table lacks is an error when the table has other losses (a
    misspelt or wrong name) or the route needs it; a table of no losses at all goes on through
    the routes it has (via auto: compute, the task loss)."""
    if loss_column == "loss" or loss_column in frame.columns:
        return
    losses = [str(c) for c in frame.columns
              if str(c) == "loss" or str(c).startswith(OTHER_LOSS_PREFIX)]   # named, filled or not
    if losses or via == "loss":
        raise ScalingLabError(f"loss_column {loss_column!r} is not in the table; its losses: "
                              f"{', '.join(losses) or 'none'}")


def _other_losses_note(frame: pd.DataFrame, loss_column: str, via: str) -> list[str]:
    """When ``via="auto"`` lacks the validation-loss route because the table names its losses
    otherwise (``loss_c4``, ``loss_pile``): say which could serve, and how to choose one."""
    if via != "auto" or loss_column in frame.columns:
        return []
    others = _other_losses(frame)
    if not others:
        return []
    return [f"the validation-loss route was not scored: the table has no {loss_column!r} "
            f"column, but has {', '.join(others)}; name one as the intermediate "
            f"(loss_column=NAME)"]


def _fit_alternatives(frame: pd.DataFrame, column: str, chance: float,
                      selection: dict[str, Any], link: str, loss_column: str,
                      loss_options: dict[str, Any]) -> list[dict[str, Any]]:
    """Fit, on every row, the routes the backtests cannot tell from the chosen one."""
    from scalinglab.fit.chainselect import fit_route, split_label  # noqa: PLC0415

    out = []
    for label in selection.get("alternative_routes", []):
        via, options = split_label(label, loss_options)
        try:
            route = fit_route(frame, column, chance, via, link, loss_column, options,
                              calibrate=False)
        except (ScalingLabError, ValueError):
            continue
        out.append(alternative_record(route, label))
    return out


def _routes(frame: pd.DataFrame, column: str, loss_column: str, via: str) -> list[str]:
    have = available_vias(frame, column, loss_column)
    if via == "auto":
        if not have:
            others = _other_losses(frame)
            hint = (f"; it has {', '.join(others)}: name one as the intermediate "
                    f"(loss_column=NAME)" if others else "")
            raise FitError(f"{column}: the table has no loss ({loss_column}, "
                           f"{task_loss_column(column)}) with n_params and tokens, and no "
                           f"compute: nothing to predict the accuracy from{hint}")
        return have
    if via not in VIA_CHOICES:
        raise ScalingLabError(f"via must be one of {', '.join(VIA_CHOICES)} or auto, got {via!r}")
    if via not in have:
        need = {"loss": f"a {loss_column!r} column with n_params and tokens",
                "task_loss": f"a {task_loss_column(column)!r} column with n_params and tokens",
                "compute": "n_params and tokens, or flops"}[via]
        raise FitError(f"via {via} needs {need}; this table offers: "
                       f"{', '.join(have) or 'none'}")
    return [via]


def _reference_scatter(frame: pd.DataFrame, column: str, chance: float, via: str, form: str,
                       loss_column: str, loss_options: dict[str, Any]) -> float | None:
    """The run scatter around the chance-floor link (chainselect.LINK_CANDIDATES[0]) on the
    chosen route, when the backtests chose the fitted floor; else None."""
    from scalinglab.fit.chainselect import LINK_CANDIDATES, fit_route  # noqa: PLC0415

    if form not in FITTED_FLOOR_FORMS:
        return None
    try:
        return fit_route(frame, column, chance, via, LINK_CANDIDATES[0], loss_column,
                         loss_options, calibrate=False).scatter
    except (ScalingLabError, ValueError):
        return None


def near_chance_check(fit: TaskFit, x: np.ndarray, acc: np.ndarray,
                      reference_scatter: float | None = None) -> dict[str, float]:
    """Refuse (:class:`TaskRefusal`) a task whose best rows are within noise of chance.

    The noise is the larger of the fit's run scatter and ``reference_scatter`` (that around a
    link whose floor is chance), so that whether a task rose above chance does not hang on
    which link form the backtests preferred: a floor fitted below chance fits the rows under
    chance more closely and would otherwise let a task pass on a smaller scatter."""
    order = np.argsort(x) if fit.link.slope < 0 else np.argsort(-x)
    top = acc[order[:max(3, len(acc) // 5)]]
    lift = float(np.mean(top) - fit.chance)
    noise = max(fit.scatter, reference_scatter or 0.0)
    needed = max(NEAR_CHANCE_SCATTERS * noise, NEAR_CHANCE_POINTS)
    stats = {"best_rows_mean": float(np.mean(top)), "lift": lift, "needed": needed}
    if lift < needed:
        raise TaskRefusal(
            f"{fit.task}: the fitted runs are all near chance (best rows average "
            f"{np.mean(top):.3f}, chance {fit.chance:.3g}, run scatter {noise:.3f}; need "
            f"{needed:.3f} above chance): the link's slope is unidentified, so the small runs "
            f"cannot tell what a larger run will score")
    return stats


def link_band(fit: TaskFit, x: np.ndarray) -> np.ndarray:
    """Accuracies of every bootstrap link at ``x`` (draws, points); the fitted link if none."""
    params = fit.link.raw()[None, :] if fit.link_draws is None else fit.link_draws
    return link_values(params, np.atleast_1d(x), fit.chance)


def free_link_parameters(fit: TaskFit) -> int:
    return free_parameters(fit.link.form, fit.chance)


__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_LINK", "TaskFit", "TaskRefusal", "fit_task",
           "run_groups", "log10_compute"]
