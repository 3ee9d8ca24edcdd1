"""Backtest: fit a law on small runs, predict the big ones, and measure how wrong it was.

A run is *fitted* when its whole training lies below the cut (its largest FLOP count is below
``cut_flops`` and its N below ``cut_params``) and *held out* otherwise, so no checkpoint of a big
run leaks into the fit.  The fit is :func:`scalinglab.fit.parametric.fit_parametric` on every row
of the fitted runs (its own row selection applies: final rows, or ``checkpoints_after``).  Each
held-out run is predicted at its final row(s), and we report

* ``are`` -- absolute relative error of the predicted loss, ``|L_hat - L| / L``;
* ``extrapolation`` -- held-out C / largest fitted C (how far the law was pushed);
* ``naive_are`` -- the same error for the naive baseline that predicts the best (lowest) loss of
  the fitted runs: a law that does not beat it has learnt nothing usable about scale;
* the run-level prediction interval at the fit's level (``kind="run"``: parameters, run-to-run
  scatter and extrapolation, calibrated inside the fitted runs) and whether it covered the
  observed loss; the law's parameter-only interval covered just 2 of 23 held-out Epoch runs at
  90% (cut 1e21 FLOPs), the run interval 20 of 23 (bench/extrapolation.py).  With
  ``fit_kwargs={"calibrate": False}`` and a bootstrap, the law's interval is scored instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.auto import fit_auto
from scalinglab.fit.cuts import CUT_FRACTIONS, detect_levels, fraction_cuts
from scalinglab.fit.optimise import make_law
from scalinglab.fit.parametric import fit_parametric
from scalinglab.fit.result import FitResult
from scalinglab.fit.rows import select_rows, with_compute
from scalinglab.fit.settings import FitSettings
from scalinglab.jsonutil import to_jsonable
from scalinglab.laws.base import VARIABLE_COLUMNS
from scalinglab.records import load_runs
from scalinglab.results import SavableResult, frame_to_columns

FORMAT_VERSION = 1


@dataclass
class BacktestResult(SavableResult):
    """Per held-out run errors of a law fitted below a cut, beside the naive baseline.

    ``per_run`` has one row per held-out evaluation: run_id, n_params (parameters), tokens,
    flops (FLOPs), loss (observed, nats/token), predicted (nats/token), rel_error
    (signed, (pred - obs) / obs), are (absolute relative error), extrapolation (C / largest
    fitted C), naive (baseline prediction), naive_are, and with a bootstrap low/high/covered.
    ``summary`` holds the aggregate statistics, ``fit`` the law fitted below the cut.
    """

    per_run: pd.DataFrame
    summary: dict[str, Any]
    fit: FitResult
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def summary_table(self) -> pd.DataFrame:
        """Mean, median and max ARE of the law and the naive baseline, one row each."""
        rows = []
        for method, key in (("law", "are"), ("naive (best fitted loss)", "naive_are")):
            rows.append({"method": method, "mean_are": self.summary[f"mean_{key}"],
                         "median_are": self.summary[f"median_{key}"],
                         "max_are": self.summary[f"max_{key}"]})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        s = self.summary
        return (f"BacktestResult(fitted={s['n_fitted_runs']}, held_out={s['n_held_out']}, "
                f"median_are={s['median_are']:.4g}, median_naive_are={s['median_naive_are']:.4g})")

    def to_dict(self) -> dict[str, Any]:
        fit = self.fit
        return to_jsonable({
            "format": "scalinglab.backtest", "version": FORMAT_VERSION,
            "settings": self.settings, "summary": self.summary, "warnings": list(self.warnings),
            "law": fit.law.to_dict(), "columns": fit.columns, "fit_warnings": fit.warnings,
            "fit_intervals": ({k: list(v) for k, v in fit.intervals().items()}
                              if fit.bootstrap_params is not None else None),
            "per_run": frame_to_columns(self.per_run),
        })


def backtest(runs: pd.DataFrame | str, cut_flops: float | None = None,
             cut_params: float | None = None, law: str = "auto",
             fit_kwargs: dict[str, Any] | None = None) -> BacktestResult:
    """Fit ``law`` on the runs below the cut(s), predict every run above, report the errors.

    ``law``: ``"auto"`` (the default, as ``scalinglab backtest``'s: the law the fitted runs'
    own nested backtests choose, :func:`~scalinglab.fit.auto.fit_auto`) or a form name
    (``"chinchilla"`` pins Hoffmann et al.'s form).
    ``cut_flops`` (FLOPs) and/or ``cut_params`` (parameters, the fit's N column): a run is
    fitted when all its rows are below every given cut; with neither, :func:`default_cut`
    chooses one (``settings["cut_rule"]`` says how).  ``fit_kwargs`` go to
    :func:`~scalinglab.fit.parametric.fit_parametric` (e.g. ``{"bootstrap": 200}``,
    ``{"variable": "C"}`` with ``law="power"``, ``{"E_fixed": 1.7}``).
    """
    fit_kwargs = dict(fit_kwargs or {})
    _check_cuts(cut_flops, cut_params)
    n_column = fit_kwargs.get("n_column", "n_params")
    # each row's compute by the fit's one rule (row_compute): to rank runs and measure extrapolation
    frame, compute_note = with_compute(load_runs(runs, require=("loss",)), n_column)
    cut_rule = "given"
    if cut_flops is None and cut_params is None:
        cut_flops, cut_rule = default_cut(frame)
    needed = (["flops"] if cut_flops is not None else []) + \
        ([n_column] if cut_params is not None else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ScalingLabError(f"the cut needs column(s) {', '.join(missing)}, which the table "
                              f"lacks")
    below = _runs_below(frame, cut_flops, cut_params, n_column)
    train, held = frame[below], frame[~below]
    n_fitted = train["run_id"].nunique()
    if held.empty:
        raise ScalingLabError(f"nothing is held out: every run lies below the cut "
                              f"({_describe_cut(cut_flops, cut_params)})")
    n_free = _free_parameters(law, fit_kwargs)
    if n_fitted <= n_free:
        raise FitError(f"the cut ({_describe_cut(cut_flops, cut_params)}) leaves {n_fitted} "
                       f"fitted run(s); the {law} law has {n_free} free parameters and needs "
                       f"more runs than that")
    if law == "auto":   # the law chosen by the fitted runs' own backtests (fit/auto.py)
        fit = fit_auto(train.reset_index(drop=True), None, **fit_kwargs)
    else:
        fit = fit_parametric(train.reset_index(drop=True), law, **fit_kwargs)
    targets = select_rows(held.reset_index(drop=True))
    fitted_rows = select_rows(train.reset_index(drop=True))
    table = _score(fit, targets, fitted_rows)
    far = _far_guards(fit, targets)
    summary = _summarise(table, n_fitted, fitted_rows)
    settings = {"cut_flops": cut_flops, "cut_params": cut_params, "cut_rule": cut_rule,
                "law": law,
                "fit_kwargs": fit_kwargs, "held_out_rows": "final rows of each held-out run",
                "naive": "lowest loss among the fitted runs' final rows",
                "flops": compute_note or "flops column"}
    result = BacktestResult(per_run=table, summary=summary, fit=fit, settings=settings)
    result.warnings = _warnings(summary, fit) + [f"held-out runs: {g.message}" for g in far]
    return result


def _far_guards(fit: FitResult, targets: pd.DataFrame) -> list:
    """Distance guards of the held-out runs (warnings: a backtest scores every run); a
    degenerate law is not repeated here: the fit's own warnings say it."""
    inputs = {v: targets[fit.columns.get(v, VARIABLE_COLUMNS[v])].to_numpy(dtype=float)
              for v in fit.law.variables}
    return [g for g in fit.question_guards(inputs, allow_far=True)
            if g.action == "warn" and g.name != "degenerate"]


def default_cut(frame: pd.DataFrame) -> tuple[float, str]:
    """The cut (FLOPs) of a backtest asked without one, and the rule that chose it.

    As the run intervals' calibration cuts (:mod:`scalinglab.fit.cuts`): an IsoFLOP design
    holds out its top compute level (the cut between the top two levels); a table without
    levels holds out about the largest quarter of its runs by compute (the first of
    :data:`~scalinglab.fit.cuts.CUT_FRACTIONS`).  Each run counts at its largest compute.
    """
    if "flops" not in frame.columns:
        raise ScalingLabError("a backtest needs a cut: the table has no compute to choose one "
                              "by; give cut_flops (FLOPs) or cut_params")
    size = frame.groupby(frame["run_id"].astype(str))["flops"].max().to_numpy(dtype=float)
    size = size[np.isfinite(size) & (size > 0)]
    plan = detect_levels(size) if len(size) else None
    if plan is not None and plan.cuts:
        return plan.cuts[-1], (f"default: the top of {len(plan.levels)} compute levels held "
                               f"out (the cut between the top two)")
    cuts = fraction_cuts(size)
    if not cuts:
        raise ScalingLabError(f"a backtest needs a cut: the table has too few distinct run "
                              f"sizes ({len(np.unique(size))}) to choose one; give cut_flops "
                              f"(FLOPs) or cut_params")
    return cuts[0], (f"default: about the largest {1 - CUT_FRACTIONS[0]:.0%} of the runs by "
                     f"compute held out")


def _check_cuts(cut_flops: float | None, cut_params: float | None) -> None:
    for name, value in (("cut_flops", cut_flops), ("cut_params", cut_params)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ScalingLabError(f"{name} must be a finite number > 0, got {value}")


def _describe_cut(cut_flops: float | None, cut_params: float | None) -> str:
    parts = ([f"C < {cut_flops:.3g} FLOPs"] if cut_flops is not None else []) + \
        ([f"N < {cut_params:.3g}"] if cut_params is not None else [])
    return " and ".join(parts)


def _runs_below(frame: pd.DataFrame, cut_flops: float | None, cut_params: float | None,
                n_column: str) -> np.ndarray:
    """Row mask: True for every row of a run whose rows all lie below the cut(s)."""
    row_ok = np.ones(len(frame), dtype=bool)
    if cut_flops is not None:
        row_ok &= frame["flops"].to_numpy(dtype=float) < cut_flops
    if cut_params is not None:
        row_ok &= frame[n_column].to_numpy(dtype=float) < cut_params
    run_ok = pd.Series(row_ok, index=frame.index).groupby(frame["run_id"]).transform("all")
    return run_ok.to_numpy(dtype=bool)


def _free_parameters(law: str, fit_kwargs: dict[str, Any]) -> int:
    settings = FitSettings(law="chinchilla" if law == "auto" else law, variable=fit_kwargs.get("variable"),
                           irreducible=fit_kwargs.get("irreducible", True))
    template = make_law(settings)
    return len(template.raw_names) - (1 if fit_kwargs.get("E_fixed") is not None else 0)


def _score(fit: FitResult, targets: pd.DataFrame, fitted_rows: pd.DataFrame) -> pd.DataFrame:
    """Predictions, errors, extrapolation factors and the naive baseline per held-out row."""
    inputs = {}
    for variable in fit.law.variables:
        column = fit.columns.get(variable, VARIABLE_COLUMNS[variable])
        if column not in targets.columns:
            raise ScalingLabError(f"held-out runs lack column {column!r} needed to predict "
                                  f"with the {fit.law.name} law")
        inputs[variable] = targets[column].to_numpy(dtype=float)
    observed = targets["loss"].to_numpy(dtype=float)
    predicted = np.asarray(fit.predict(**inputs), dtype=float).reshape(observed.shape)
    naive = float(fitted_rows["loss"].min())
    table = pd.DataFrame({"run_id": targets["run_id"].astype(str).to_numpy()})
    for col in ("n_params", "tokens", "flops"):
        if col in targets.columns:
            table[col] = targets[col].to_numpy(dtype=float)
    table["loss"] = observed
    table["predicted"] = predicted
    table["rel_error"] = (predicted - observed) / observed
    table["are"] = np.abs(table["rel_error"])
    if "flops" in targets.columns and "flops" in fitted_rows.columns:
        table["extrapolation"] = table["flops"] / float(fitted_rows["flops"].max())
    table["naive"] = naive
    table["naive_are"] = np.abs(naive - observed) / observed
    kind = "run" if fit.run_interval is not None else (
        "law" if fit.bootstrap_params is not None and len(fit.bootstrap_params) else None)
    if kind is not None:
        # a backtest scores every held-out run, however far: the guards are reported, not obeyed
        band = fit.predict_interval(kind=kind, allow_far=True, **inputs)
        table["interval_kind"] = kind
        table["low"] = np.asarray(band["low"], dtype=float).reshape(observed.shape)
        table["high"] = np.asarray(band["high"], dtype=float).reshape(observed.shape)
        table["covered"] = (table["low"] <= observed) & (observed <= table["high"])
    sort_key = "flops" if "flops" in table.columns else "loss"
    return table.sort_values(sort_key).reset_index(drop=True)


def _summarise(table: pd.DataFrame, n_fitted: int, fitted_rows: pd.DataFrame) -> dict[str, Any]:
    summary: dict[str, Any] = {"n_fitted_runs": int(n_fitted), "n_held_out": int(len(table))}
    for key in ("are", "naive_are"):
        values = table[key].to_numpy(dtype=float)
        summary[f"mean_{key}"] = float(np.mean(values))
        summary[f"median_{key}"] = float(np.median(values))
        summary[f"max_{key}"] = float(np.max(values))
    summary["mean_rel_error"] = float(table["rel_error"].mean())
    summary["law_beats_naive"] = int((table["are"] < table["naive_are"]).sum())
    if "extrapolation" in table.columns:
        summary["largest_fitted_flops"] = float(fitted_rows["flops"].max())
        summary["median_extrapolation"] = float(table["extrapolation"].median())
        summary["max_extrapolation"] = float(table["extrapolation"].max())
    if "covered" in table.columns:
        summary["coverage"] = float(table["covered"].mean())
    return summary


def _warnings(summary: dict[str, Any], fit: FitResult) -> list[str]:
    out = [f"fit: {w}" for w in fit.warnings]
    if summary["median_are"] >= summary["median_naive_are"]:
        out.append("the fitted law does not beat the naive baseline (best fitted loss) in "
                   "median error: it says nothing reliable about larger runs")
    if summary["n_held_out"] < 3:
        out.append(f"only {summary['n_held_out']} held-out run(s): the error statistics are "
                   f"anecdotes, not estimates")
    return out
