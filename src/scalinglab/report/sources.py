"""What a report is made of, and where it comes from: a run table, a fit file or a results folder.

:class:`ReportInputs` gathers every result a report can show (a parametric fit, IsoFLOP
profiles, the demo's prediction and verdict, the run table).  :func:`load_source` builds it from
a path: a CSV/Parquet run table (fitted here, Approach 3 and, where the table has IsoFLOP
budgets, Approach 2), a result JSON (``scalinglab.fit`` / ``scalinglab.isoflop``, format
version checked), or a demo / sweep results folder.  Anything else is a one-line
:class:`~scalinglab.errors.ScalingLabError`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.isoflop import IsoFlopResult
from scalinglab.fit.result import FORMAT_VERSION as FIT_FORMAT_VERSION
from scalinglab.fit.result import FitResult
from scalinglab.records import drop_highest_losses, load_runs
from scalinglab.report.figures._common import used_by_fit
from scalinglab.results import FRONTIER_FORMAT_VERSION, read_result_json
from scalinglab.study.summary import DemoSummary

#: files that make a folder a demo results folder (written by ``scalinglab demo``)
DEMO_FILES = ("summary.json", "fit_approach3.json", "runs.csv")
#: a report of a run table predicts the frontier this many times beyond its costliest run
DEFAULT_TARGET_FACTOR = 10.0


@dataclass
class ReportInputs:
    """Everything one report shows; any field may be missing (the report says what it lacks).

    ``runs``: every row to show (canonical record columns; loss in nats/token, N in parameters,
    D in tokens, C in FLOPs); ``fit_runs``: the rows the parametric fit saw (default ``runs``);
    ``fit``: Approach 3; ``isoflop`` / ``isoflop_error``: Approach 2 or why it could not be
    fitted; ``prediction``: the frozen prediction of a validation run (the demo's
    ``prediction.json``) and ``measured`` its measured loss; ``summary``: the demo's
    ``summary.json``; ``target_compute``: FLOPs at which the summary reports the frontier.
    ``seeds`` and ``wall_seconds`` (s) feed the environment section.
    """

    source: str
    kind: str  # "table" | "fit" | "demo" | "sweep"
    runs: pd.DataFrame | None = None
    fit_runs: pd.DataFrame | None = None
    fit: FitResult | None = None
    isoflop: IsoFlopResult | None = None
    isoflop_error: str | None = None
    envelope: Any = None
    backtest: Any = None
    prediction: dict[str, Any] | None = None
    measured: float | None = None
    summary: DemoSummary | None = None
    target_compute: float | None = None
    target_note: str = ""
    seeds: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    task_fit: Any = None                        # a TaskFit (issue 24) and its target (N, D)
    task_target: dict[str, float] | None = None

    @property
    def rows_for_fit(self) -> pd.DataFrame | None:
        return self.fit_runs if self.fit_runs is not None else self.runs


def load_source(source: str | Path, columns: str | None = None, derive_tokens: bool = False,
                drop_highest: int = 0, runs: str | Path | None = None,
                fit_options: dict[str, Any] | None = None, bootstrap: int = 1000,
                level: float = 0.9, seed: int = 0, budgets: list[float] | None = None,
                target_compute: float | None = None,
                derive_flops: bool = False) -> ReportInputs:
    """Build :class:`ReportInputs` from a run table, a result JSON or a results folder.

    ``columns``/``derive_tokens``/``derive_flops``/``drop_highest`` read a foreign run table
    as ``scalinglab fit`` does (C = 6ND with ``fit_options["n_column"]`` as N); ``runs`` is the table behind a fit JSON (for the figures that need rows);
    ``fit_options`` go to :func:`~scalinglab.fit.parametric.fit_parametric` (its ``law``
    too, default chinchilla); ``budgets``
    (FLOPs) are Approach 2's compute budgets (default: clustered from the table).
    """
    path = Path(source)
    reading = {"columns": columns, "derive_tokens": derive_tokens, "derive_flops": derive_flops,
               "drop_highest": drop_highest, "n_column": (fit_options or {}).get("n_column")}
    if not path.exists():
        raise ScalingLabError(f"{str(path)!r} does not exist")
    if path.is_dir():
        inputs = _from_directory(path, bootstrap, level, seed, fit_options, budgets)
    elif path.suffix.lower() == ".json":
        inputs = _from_json(path)
        if runs is not None:         # a task table need not carry a loss (Pythia: compute)
            need = ("loss",) if inputs.task_fit is None else ()
            inputs.runs = _step1_loss(inputs, read_table(runs, require=need, **reading))
    else:
        table = read_table(path, **reading)
        inputs = inputs_from_table(table, str(path), bootstrap=bootstrap, level=level, seed=seed,
                                   fit_options=fit_options, budgets=budgets)
    if target_compute is not None:
        inputs.target_compute = float(target_compute)
        inputs.target_note = "given on the command line"
    elif inputs.target_compute is None:
        _default_target(inputs)
    return inputs


def _step1_loss(inputs: ReportInputs, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows behind a task fit whose step 1 was fitted to another loss than ``loss`` (the
    task loss, nats per token of the correct continuation): that column becomes the ``loss``
    the loss figures draw beside the law, and a note says so."""
    task_fit = inputs.task_fit
    column = None if task_fit is None or task_fit.loss_fit is None else task_fit.intermediate
    if not column or column == "loss" or column not in runs.columns:
        return runs
    out = runs.assign(loss=pd.to_numeric(runs[column], errors="coerce"))
    inputs.notes.append(f"the loss figures and the run table show {column} (nats) as the "
                        f"loss: step 1 of this task chain was fitted to it")
    return out


def read_table(path: str | Path, columns: str | None = None, derive_tokens: bool = False,
               drop_highest: int = 0, derive_flops: bool = False,
               n_column: str | None = None, require: tuple[str, ...] = ("loss",)
               ) -> pd.DataFrame:
    """A run table (CSV/Parquet) through an optional column mapping; drop the K highest losses."""
    frame = load_runs(path, columns=columns, derive_tokens=derive_tokens,
                      derive_flops=derive_flops, n_column=n_column, require=require)
    return drop_highest_losses(frame, drop_highest)


def inputs_from_table(table: pd.DataFrame, source: str, bootstrap: int = 1000,
                      level: float = 0.9, seed: int = 0,
                      fit_options: dict[str, Any] | None = None,
                      budgets: list[float] | None = None, kind: str = "table") -> ReportInputs:
    """Fit Approach 3 (Chinchilla L(N, D)) and try Approach 2 on a run table, timed."""
    from scalinglab.fit import fit_isoflop, fit_parametric  # noqa: PLC0415

    began = time.perf_counter()
    options = dict(fit_options or {})
    law = options.pop("law", "chinchilla")
    if law == "auto":   # the law chosen by the table's own backtests (fit/auto.py)
        from scalinglab.fit.auto import fit_auto  # noqa: PLC0415

        fit = fit_auto(table, None, bootstrap=bootstrap, level=level, seed=seed, **options)
    else:
        fit = fit_parametric(table, law, bootstrap=bootstrap, level=level, seed=seed,
                             **options)
    isoflop, isoflop_error = None, None
    try:  # a table without flops is grouped by C = 6ND (the fit says so in a warning)
        isoflop = fit_isoflop(table, budgets=budgets, bootstrap=bootstrap, level=level,
                              seed=seed)
    except ScalingLabError as exc:
        isoflop_error = str(exc)
    return ReportInputs(source=source, kind=kind, runs=table, fit=fit, isoflop=isoflop,
                        isoflop_error=isoflop_error, seeds={"bootstrap seed": seed},
                        wall_seconds=time.perf_counter() - began)


# ------------------------------------------------------------------------------------------------
def _from_json(path: Path) -> ReportInputs:
    try:
        fmt = json.loads(path.read_text()).get("format")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        fmt = None
    if fmt == "scalinglab.fit":
        data = read_result_json(path, "scalinglab.fit", versions=(FIT_FORMAT_VERSION,))
        fit = _fit_from_dict(data, path)
        return ReportInputs(source=str(path), kind="fit", fit=fit,
                            seeds=_fit_seed(fit))
    if fmt == "scalinglab.taskfit":
        from scalinglab.fit.chain import TaskFit  # noqa: PLC0415

        task_fit = TaskFit.load(path)
        inputs = ReportInputs(source=str(path), kind="fit", fit=task_fit.loss_fit,
                              task_fit=task_fit)
        _step1_draws_as_bootstrap(inputs)
        return inputs
    if fmt == "scalinglab.isoflop":
        data = read_result_json(path, "scalinglab.isoflop", versions=(FRONTIER_FORMAT_VERSION,))
        return ReportInputs(source=str(path), kind="fit", isoflop=IsoFlopResult.from_dict(data))
    if fmt is None:
        read_result_json(path, "scalinglab.fit")  # the one-line error for unreadable files
    raise ScalingLabError(f"{str(path)!r} is a {fmt!r} file; a report reads scalinglab.fit or "
                          f"scalinglab.isoflop results, run tables and results folders")


def _step1_draws_as_bootstrap(inputs: ReportInputs) -> None:
    """A task chain's step 1 is fitted without a bootstrap of its own: its uncertainty is the
    chain's joint bootstrap (each resample refits step 1 and the link on the same runs).  The
    report shows those draws as step 1's bootstrap, and says so.  On a copy: the task fit's
    own step 1 stays as fitted, so the accuracy it predicts here is ``predict``'s."""
    task_fit, fit = inputs.task_fit, inputs.fit
    if fit is None or fit.bootstrap_params is not None or len(task_fit.step1_draws) < 2:
        return
    names = list(fit.law.params)
    draws = [law.params for law in task_fit.step1_draws if list(law.params) == names]
    if len(draws) < 2:
        return
    inputs.fit = replace(fit, bootstrap_params=pd.DataFrame(draws, columns=names))
    inputs.notes.append(f"step 1's parameter intervals are the task chain's joint bootstrap "
                        f"({len(draws)} resamples of the runs, each refitting step 1 and the "
                        f"link together)")


def _fit_from_dict(data: dict[str, Any], path: Path) -> FitResult:
    try:
        return FitResult.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise ScalingLabError(f"fit file {str(path)!r} lacks field {exc}") from None


def _fit_seed(fit: FitResult | None) -> dict[str, Any]:
    if fit is None:
        return {}
    return {"bootstrap seed": fit.settings.seed}


def _from_directory(path: Path, bootstrap: int, level: float, seed: int,
                    fit_options: dict[str, Any] | None,
                    budgets: list[float] | None) -> ReportInputs:
    if (path / "fit_approach3.json").is_file():
        return _from_demo(path)
    if (path / "store.sqlite").is_file():
        from scalinglab.sweep.store import SQLiteRunStore  # noqa: PLC0415

        with SQLiteRunStore(path) as store:
            records = store.records()
        if records.empty:
            raise ScalingLabError(f"the sweep in {str(path)!r} has no finished runs to report")
        finals = records[records["final"].astype(bool)] if "final" in records else records
        return inputs_from_table(finals.reset_index(drop=True), str(path), bootstrap=bootstrap,
                                 level=level, seed=seed, fit_options=fit_options,
                                 budgets=budgets, kind="sweep")
    raise ScalingLabError(f"{str(path)!r} is not a scalinglab results directory (no "
                          f"fit_approach3.json or store.sqlite; `scalinglab demo --out DIR` "
                          f"or `scalinglab sweep run` writes one)")


def _from_demo(path: Path) -> ReportInputs:
    fit_data = read_result_json(path / "fit_approach3.json", "scalinglab.fit",
                                versions=(FIT_FORMAT_VERSION,))
    fit = _fit_from_dict(fit_data, path / "fit_approach3.json")
    inputs = ReportInputs(source=str(path), kind="demo", fit=fit, seeds=_fit_seed(fit))
    iso_path = path / "fit_approach2.json"
    if iso_path.is_file():
        inputs.isoflop = IsoFlopResult.from_dict(read_result_json(
            iso_path, "scalinglab.isoflop", versions=(FRONTIER_FORMAT_VERSION,)))
    data = _json_or_none(path / "summary.json")
    summary = None if data is None else DemoSummary.from_dict(data)
    inputs.summary = summary
    prediction = _json_or_none(path / "prediction.json")
    inputs.prediction = prediction
    if summary is not None:
        inputs.isoflop_error = summary.approach2_error
        inputs.measured = _finite(summary.measured_loss)
        inputs.wall_seconds = _finite(summary.wall_seconds)
        if summary.seed is not None:
            inputs.seeds = {"sweep seed": summary.seed, **inputs.seeds}
        if summary.validation_flops:
            inputs.target_compute = float(summary.validation_flops)
            inputs.target_note = "the validation run's compute"
    elif prediction is not None and prediction.get("flops"):
        inputs.target_compute = float(prediction["flops"])
        inputs.target_note = "the validation run's compute"
    if (path / "runs.csv").is_file():
        _demo_runs(inputs, load_runs(path / "runs.csv", require=("loss",)), summary, fit)
    else:
        inputs.notes.append("runs.csv is missing from the folder, so no figure shows the runs")
    return inputs


def _demo_runs(inputs: ReportInputs, records: pd.DataFrame, summary: DemoSummary | None,
               fit: FitResult) -> None:
    """Split the demo's records into sweep rows and the validation run; the fitted subset."""
    loss_column = summary.loss_column if summary is not None else "loss"
    if loss_column != "loss" and loss_column in records.columns:
        values = pd.to_numeric(records[loss_column], errors="coerce")
        if values.notna().all():
            records = records.assign(sampled_loss=records["loss"], loss=values)
            inputs.notes.append(f"losses are the {loss_column} column, as the demo's fits used")
    validation = (summary.validation.name if summary is not None and summary.validation
                  else None)
    run_ids = records["run_id"].astype(str)
    sweep = records[run_ids != str(validation)].reset_index(drop=True)
    inputs.runs = sweep
    finals = sweep[sweep["final"].astype(bool)] if "final" in sweep else sweep
    if fit.rows is not None:  # the rows the fit itself says it used
        finals = finals[used_by_fit(fit, finals)]
    else:  # a version-1 fit file: the demo's selection again, from its summary
        min_steps = (summary.approach3.fit_min_steps
                     if summary is not None and summary.approach3 is not None else None)
        if min_steps is not None and {"tokens", "batch_tokens"} <= set(finals.columns):
            finals = finals[finals["tokens"] / finals["batch_tokens"] >= min_steps]
    inputs.fit_runs = finals.reset_index(drop=True)


def _json_or_none(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScalingLabError(f"{str(path)!r} is not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else None


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _default_target(inputs: ReportInputs) -> None:
    frame = inputs.runs
    if frame is None or frame.empty:
        return
    if "flops" in frame.columns:
        flops = pd.to_numeric(frame["flops"], errors="coerce")
    elif {"n_params", "tokens"} <= set(frame.columns):
        flops = 6.0 * frame["n_params"] * frame["tokens"]
    else:
        return
    top = float(np.nanmax(flops.to_numpy(dtype=float)))
    if np.isfinite(top) and top > 0:
        inputs.target_compute = DEFAULT_TARGET_FACTOR * top
        inputs.target_note = f"{DEFAULT_TARGET_FACTOR:g}x the costliest run in the table"


def inputs_from_result(result: Any, runs: pd.DataFrame | None, source: str,
                       target_compute: float | None = None,
                       wall_seconds: float | None = None) -> ReportInputs:
    """:class:`ReportInputs` of one fitted result (Approach 3, 2 or 1) and its run table."""
    from scalinglab.fit.envelope import EnvelopeResult  # noqa: PLC0415

    inputs = ReportInputs(source=source, kind="table", runs=runs, wall_seconds=wall_seconds)
    if isinstance(result, FitResult):
        inputs.fit = result
        inputs.seeds = _fit_seed(result)
    elif isinstance(result, IsoFlopResult):
        inputs.isoflop = result
    elif isinstance(result, EnvelopeResult):
        inputs.envelope = result
        inputs.isoflop_error = "this report is of an Approach 1 (envelope) fit"
    else:
        raise ScalingLabError(f"a report cannot show a {type(result).__name__}")
    if target_compute is not None:
        inputs.target_compute = float(target_compute)
        inputs.target_note = "given on the command line"
    else:
        _default_target(inputs)
    return inputs
