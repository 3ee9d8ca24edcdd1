"""The main job: plan -> train the sweep -> fit -> predict -> train the validation run -> compare.

:func:`run_demo` is what ``scalinglab demo`` and ``scalinglab run CONFIG.toml`` call.  The
prediction (point and bootstrap interval from Approach 3) is written to ``prediction.json`` and
to the store *before* the validation run starts, so it cannot be tuned on its result.

Default design (measured on the project's 2-core CPU, see bench/README.md): six IsoFLOP
levels 1e11, 2e11, 4e11, 6e11, 1e12, 2e12 FLOPs (the synthetic language: three), five sizes per
level less the points shorter than ``fit_min_steps`` (not trained: the fit would drop them),
one WSD run per size with cooldown branches (every point a fully cooled-down run) at 0.7x the
trainer's learning rate, and a validation run at 10x the largest level, sized at the
first credible compute-optimal N (:mod:`scalinglab.study.sizing`).  Backtests that hold out
whole levels calibrate the run interval's extrapolation term (:mod:`scalinglab.study.fits`);
the validation run trains in its own process (passive OpenMP wait).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.jsonutil import to_jsonable
from scalinglab.records import write_runs
from scalinglab.study import render
from scalinglab.study.config import DemoConfig
from scalinglab.study.fits import (
    SweepFits,
    fit_sweep,
    predict_validation,
    resolve_loss_column,
    with_loss_column,
)
from scalinglab.study.sizing import size_validation_run
from scalinglab.study.summary import (
    Approach2Summary,
    Approach3Summary,
    DemoSummary,
    ExactLanguageSummary,
    PredictionSummary,
    ValidationSummary,
)
from scalinglab.study.tasks import measure_tasks, sweep_task_predictions
from scalinglab.sweep.plan import PlannedRun, SweepPlan, SweepSpec, plan_sweep
from scalinglab.sweep.runner import SweepSettings, SweepStart, run_sweep
from scalinglab.sweep.store import SQLiteRunStore


@dataclass
class DemoResult:
    """What the demo measured; ``summary`` is what summary.json holds."""

    summary: DemoSummary
    out: Path


def run_demo(config: DemoConfig, json_mode: bool = False, show_progress: bool = True,
             spell: Callable[[str], str] | None = None) -> DemoResult:
    """Run the whole pipeline; returns the summary (also written to ``out/summary.json``).
    ``spell`` rewrites the printed warnings (the command line passes its flags' spelling)."""
    from scalinglab.corpora import load_corpus  # noqa: PLC0415

    began = time.perf_counter()
    ui = render.DemoConsole(json_mode, spell)
    spec = config.planning_spec()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(spec.corpus, tokenizer=spec.tokenizer)
    ui.rule(f"scalinglab demo: corpus {corpus.name} ({corpus.train_tokens:,} training tokens, "
            f"vocab {corpus.vocab_size})")
    loss_column = resolve_loss_column(config.loss_column, corpus)
    plan = plan_sweep(spec, corpus)
    render.print_plan(ui, plan)
    with SQLiteRunStore(out) as store:
        store.set_meta("config", config.to_dict())
        _train(ui, store, out, spec, plan.runs, sweep_settings(config), "sweep", show_progress)
        records = store.records(role="sweep")
        if records.empty:
            raise ScalingLabError("no sweep run finished; see `scalinglab sweep status`")
        records = with_loss_column(records, loss_column)
        fits = fit_sweep(records, plan, config)
        render.print_fits(ui, fits, config.fit_min_steps, config.level)
        validation = size_validation_run(spec, corpus, plan, fits.approach3, fits.approach2)
        tasks = ((lambda: sweep_task_predictions(records, plan, validation, config))
                 if config.tasks else None)
        prediction = _frozen_prediction(store, fits, validation, config.level, out, tasks)
        render.print_prediction(ui, validation, prediction)
        _train(ui, store, out, spec, [validation], validation_settings(config), "validation",
               show_progress)
        stored_val = store.get(validation.key)
        if stored_val.status != "done":
            raise ScalingLabError(f"the validation run failed: {stored_val.error}")
        summary = summarise(config, corpus, plan, fits, validation, prediction, store,
                            time.perf_counter() - began, loss_column)
        summary.report = str(out / "report.html")
        _write_results(out, store, fits, summary)
    render.print_verdict(ui, summary)
    _write_report(ui, out, summary)
    return DemoResult(summary, out)


def sweep_settings(config: DemoConfig) -> SweepSettings:
    """How the sweep's runs train: the config's executor, workers, threads and retries."""
    return SweepSettings(executor=config.executor, workers=config.workers,
                         ray_address=config.ray_address, threads=config.threads,
                         retries=config.retries, tasks=config.tasks)


def validation_settings(config: DemoConfig) -> SweepSettings:
    """How the validation run trains: on Ray as the sweep; locally in its own spawned process
    with every core, whose OpenMP threads sleep when idle (bench/busy_threads.py)."""
    if config.executor == "ray":
        return sweep_settings(config)
    return SweepSettings(workers=1, threads=config.threads or os.cpu_count() or 1,
                         retries=config.retries, isolate=True, tasks=config.tasks)


def _train(ui: render.DemoConsole, store: SQLiteRunStore, out: Path, spec: SweepSpec,
           runs: list[PlannedRun], settings: SweepSettings, title: str,
           show_progress: bool) -> None:
    def announce(start: SweepStart) -> None:
        ui.rule(f"training the {title}: {start.to_do} of {start.total} run(s) to do "
                f"({start.already_done} already done), {start.workers} worker(s)")

    run_sweep(store, out, runs, spec.corpus, spec.tokenizer, settings, console=ui.console,
              title=title, show_progress=show_progress, on_start=announce)


def _frozen_prediction(store: SQLiteRunStore, fits: SweepFits, validation: PlannedRun,
                       level: float, out: Path,
                       tasks: Callable[[], list[dict[str, Any]]] | None = None
                       ) -> dict[str, Any]:
    """Predict the validation run and freeze it in the store and prediction.json; ``tasks``
    (when given) makes the task predictions, frozen under ``"tasks"``.

    On a re-run (the validation run finished, or was interrupted part-way), the prediction
    frozen the first time is kept: a new one would no longer be made before the run.
    """
    stored = store.get_meta("prediction")
    trained = _known(store, validation.key) and store.get(validation.key).status == "done"
    if stored and stored.get("key") == validation.key:
        return stored
    prediction = predict_validation(fits.approach3, validation, level)
    if tasks is not None:
        prediction["tasks"] = to_jsonable(tasks())
    prediction.update({"made_at": time.time(), "validation_already_trained": trained})
    store.add_runs([validation.stored()])
    store.set_meta("prediction", prediction)
    (out / "prediction.json").write_text(json.dumps(to_jsonable(prediction), indent=2))
    return prediction


def _known(store: SQLiteRunStore, key: str) -> bool:
    try:
        store.get(key)
    except ScalingLabError:
        return False
    return True


# ------------------------------------------------------------------------------ results
def summarise(config: DemoConfig, corpus, plan: SweepPlan, fits: SweepFits,
              validation: PlannedRun, prediction: dict, store: SQLiteRunStore,
              wall_seconds: float, loss_column: str = "loss") -> DemoSummary:
    """The :class:`DemoSummary` of a finished demo (the validation run done)."""
    val_records = store.run_records(validation.key)
    finals = [r for r in val_records if r.final and r.run_id == validation.name]
    measured = float(getattr(finals[-1], loss_column)) if finals else math.nan
    tasks = (measure_tasks(prediction.get("tasks"), finals[-1].tasks if finals else {})
             if config.tasks else None)
    sampled = float(finals[-1].loss) if finals else math.nan
    sweep_runs = store.runs(role="sweep")
    stored_val = store.get(validation.key)
    approach3, approach2 = fits.approach3, fits.approach2
    return DemoSummary(
        corpus=corpus.name, tokenizer=corpus.tokenizer, seed=config.spec.seed,
        out=str(config.out),
        prediction=PredictionSummary(**{k: prediction[k] for k in (
            "loss", "low", "high", "level", "kind", "components") if k in prediction}),
        loss_column=loss_column, measured_loss=measured, measured_sampled_loss=sampled,
        relative_error=(prediction["loss"] - measured) / measured,
        inside_interval=bool(prediction["low"] <= measured <= prediction["high"]),
        extrapolation_factor=validation.planned_flops / plan.largest_point_flops,
        extrapolation_over_costliest_run=validation.planned_flops / max(
            r.planned_flops for r in sweep_runs),
        sweep_flops=float(sum(r.spent_flops for r in sweep_runs)),
        validation_flops=float(stored_val.spent_flops),
        largest_point_flops=plan.largest_point_flops, wall_seconds=wall_seconds,
        sweep_wall_seconds=float(sum(r.wall_seconds or 0 for r in sweep_runs)),
        validation_wall_seconds=float(stored_val.wall_seconds or 0),
        validation=ValidationSummary(validation.name, validation.shape.n_params,
                                     validation.shape.n_params_total,
                                     float(validation.config.tokens), validation.notes,
                                     validation.warnings),
        validation_already_trained=prediction.get("validation_already_trained", False),
        approach3=Approach3Summary(
            approach3.params,
            approach3.intervals() if approach3.bootstrap_params is not None else None,
            fits.points_used, fits.points_total, config.fit_min_steps, approach3.warnings),
        approach2=(None if approach2 is None else Approach2Summary(
            approach2.a, approach2.b, float(approach2.predict_n_opt(plan.validation_flops)),
            approach2.warnings)),
        approach2_error=fits.approach2_error, within_sweep_backtest=fits.backtest,
        runs={"sweep": len(sweep_runs), "failed": sum(r.status == "failed" for r in sweep_runs)},
        exact=_exact_language(corpus, config.spec.seq_len, approach3), tasks=tasks)


def _exact_language(corpus, seq_len: int, approach3) -> ExactLanguageSummary | None:
    """Fitted E against the exact best possible loss, where the corpus's language is known."""
    language = corpus.language
    if language is None:
        return None
    best = float(language.best_possible_loss(seq_len))
    fitted_e = float(approach3.params["E"])
    exact = ExactLanguageSummary(best, fitted_e, (fitted_e - best) / best,
                                 float(language.entropy_rate()))
    if approach3.bootstrap_params is not None:
        low, high = approach3.intervals()["E"]
        exact.fitted_E_interval = [low, high]
        exact.exact_best_loss_inside_E_interval = bool(low <= best <= high)
    return exact


def _write_results(out: Path, store: SQLiteRunStore, fits: SweepFits,
                   summary: DemoSummary) -> None:
    fits.approach3.save(out / "fit_approach3.json")
    if fits.approach2 is not None:
        fits.approach2.save(out / "fit_approach2.json")
    write_runs(store.records(), out / "runs.csv")
    rows = [(r.name, r.role, r.status, r.config.get("params"), r.config.get("tokens"),
             r.planned_flops, r.spent_flops, r.wall_seconds) for r in store.runs()]
    table = pd.DataFrame(rows, columns=["name", "role", "status", "n_params", "tokens",
                                        "planned_flops", "spent_flops", "wall_seconds"])
    (out / "summary.md").write_text(render.markdown_summary(table, summary))
    _write_summary(out, summary)


def _write_summary(out: Path, summary: DemoSummary) -> None:
    (out / "summary.json").write_text(json.dumps(to_jsonable(summary.to_dict()), indent=2))


def _write_report(ui: render.DemoConsole, out: Path, summary: DemoSummary) -> None:
    """The self-contained HTML report of the results folder (``out/report.html``).

    A report that cannot be written does not undo the demo: the reason is printed and
    ``report`` is dropped from summary.json.
    """
    from scalinglab.report.html import command_line, write_report  # noqa: PLC0415
    from scalinglab.report.sources import load_source  # noqa: PLC0415

    program = Path(sys.argv[0]).name if sys.argv else ""
    command = command_line() if program == "scalinglab" else None
    try:
        written = write_report(out / "report.html", load_source(out), command=command)
    except Exception as exc:  # noqa: BLE001  (the measured results are already on disk)
        summary.report = None
        _write_summary(out, summary)
        ui.print(f"[yellow]warning:[/yellow] report not written: {exc}", highlight=False)
        return
    ui.print(f"report: {written.path} ({len(written.figures)} figures)", highlight=False)
