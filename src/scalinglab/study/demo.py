"""The main job: plan -> train the sweep -> fit -> predict -> train the validation run -> compare.

:func:`run_demo` is what ``scalinglab demo`` and ``scalinglab run CONFIG.toml`` call.  The
prediction (point and bootstrap interval from Approach 3) is written to ``prediction.json`` and
to the store *before* the validation run starts, so it cannot be tuned on its result.

Default design (measured on the project's 2-core CPU, see bench/README.md): five IsoFLOP
levels 1e11, 2e11, 4e11, 1e12, 2e12 FLOPs (the synthetic language: three), five sizes per
level, one WSD run per size with cooldown branches (every point a fully cooled-down run) at
0.7x the trainer's learning rate, and a validation run at 10x the largest level, sized at the
first credible compute-optimal N.  Backtests that hold out whole levels calibrate the run interval's
extrapolation term; the validation run trains in its own process (passive OpenMP wait).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from scalinglab.errors import ScalingLabError
from scalinglab.fit.intervals import describe_sources
from scalinglab.jsonutil import to_jsonable
from scalinglab.laws.forms import Chinchilla
from scalinglab.records import write_runs
from scalinglab.sweep.executors import Executor, LocalExecutor, make_executor, run_pending
from scalinglab.sweep.plan import (
    PlannedRun,
    SweepPlan,
    SweepSpec,
    default_spec,
    level_budgets,
    plan_sweep,
    plan_validation,
    prior_optimal_size,
)
from scalinglab.sweep.progress import SweepProgress
from scalinglab.sweep.store import SQLiteRunStore

DEFAULT_OUT = "scalinglab-demo"
LOSS_COLUMNS = ("auto", "loss", "exact_loss")


@dataclass
class DemoConfig:
    """The sweep spec plus how to run and fit it.

    ``fit_min_steps``: Approach 3 uses only points trained for at least this many optimiser
    steps (shorter runs sit on the early-training plateau and bend the fit: issue 5's first
    experiment; on KJV the escape from the bigram plateau lasts to ~1500 steps of 512 tokens,
    and with 1500 the three seeds' 10x predictions agreed to 0.7%, with 1000 to 2.6%:
    bench/design_subsets.py).  ``bootstrap``: resamples for both fits.  ``workers``: local processes for the
    sweep (the validation run gets every core).  ``executor``: local or ray.  ``threads``:
    torch threads per run (None: cpu_count / workers for the sweep, cpu_count for the
    validation run); on a CPU that other jobs also load, use 1 -- multi-threaded runs then
    slow down by an order of magnitude (spinning OpenMP threads; measured on this machine).
    ``loss_column``: which loss the fits and the verdict use -- ``loss`` (sampled held-out
    cross-entropy), ``exact_loss`` (the synthetic language's exact expected loss, free of
    validation-sampling noise) or ``auto`` (``exact_loss`` when the corpus has one).
    """

    spec: SweepSpec = field(default_factory=SweepSpec)
    out: str = DEFAULT_OUT
    workers: int = 2
    executor: str = "local"
    ray_address: str | None = None
    retries: int = 1
    bootstrap: int = 400
    level: float = 0.9
    fit_min_steps: int = 1500
    n_column: str = "n_params"
    threads: int | None = None
    loss_column: str = "auto"

    def __post_init__(self) -> None:
        if self.loss_column not in LOSS_COLUMNS:
            raise ScalingLabError(f"loss_column must be one of {', '.join(LOSS_COLUMNS)}, "
                                  f"not {self.loss_column!r}")

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "spec"},
                "spec": self.spec.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> DemoConfig:
        data = dict(data)
        # the corpus's default design (e.g. the synthetic language's), overridden by the file
        settings = data.pop("spec", {}) or {}
        if not isinstance(settings, dict):
            raise ScalingLabError(f"the sweep settings must be a table, got {settings!r}")
        spec = default_spec(**settings)
        known = {"out", "workers", "executor", "ray_address", "retries", "bootstrap", "level",
                 "fit_min_steps", "n_column", "threads", "loss_column"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScalingLabError(f"unknown setting(s): {', '.join(unknown)}; known: "
                                  f"{', '.join(sorted(known | {'spec'}))}")
        return cls(spec=spec, **data)


def load_config_toml(path: str | Path, corpus: str | None = None) -> DemoConfig:
    """A :class:`DemoConfig` from TOML: top-level run settings and a ``[sweep]`` table.

    The sweep starts from the default design of its corpus (``corpus`` replaces the file's),
    and the file's settings override that design.
    """
    import tomllib  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise ScalingLabError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScalingLabError(f"cannot parse {str(path)!r}: {exc}") from None
    data.pop("trainer", None)  # an external trainer: read by `sweep run` (sweep/external.py)
    data["spec"] = data.pop("sweep", {})
    if corpus is not None and isinstance(data["spec"], dict):  # from_dict refuses a non-table
        data["spec"]["corpus"] = corpus
    return DemoConfig.from_dict(data)


@dataclass
class DemoResult:
    """What the demo measured; ``summary`` is what summary.json holds."""

    summary: dict[str, Any]
    out: Path


class _Console:
    """Human output (rich) on stdout, or on stderr when stdout carries JSON."""

    def __init__(self, quiet_stdout: bool):
        self.console = Console(stderr=quiet_stdout)

    def rule(self, text: str) -> None:
        self.console.rule(f"[bold]{text}")

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.console.print(*args, **kwargs)


def run_demo(config: DemoConfig, json_mode: bool = False, show_progress: bool = True
             ) -> DemoResult:
    """Run the whole pipeline; returns the summary (also written to ``out/summary.json``)."""
    from scalinglab.corpora import load_corpus  # noqa: PLC0415

    began = time.perf_counter()
    ui = _Console(json_mode)
    spec = config.spec
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(spec.corpus, tokenizer=spec.tokenizer)
    ui.rule(f"scalinglab demo: corpus {corpus.name} ({corpus.train_tokens:,} training tokens, "
            f"vocab {corpus.vocab_size})")
    loss_column = resolve_loss_column(config.loss_column, corpus)
    plan = plan_sweep(spec, corpus)
    _print_plan(ui, plan)
    with SQLiteRunStore(out) as store:
        store.set_meta("config", config.to_dict())
        store.add_runs(r.stored() for r in plan.runs)
        executor = make_executor(config.executor, config.workers, config.ray_address,
                                 config.threads)
        try:
            _train(ui, store, executor, out, spec, [r.key for r in plan.runs], config.retries,
                   "sweep", show_progress)
            records = store.records(role="sweep")
            if records.empty:
                raise ScalingLabError("no sweep run finished; see `scalinglab sweep status`")
            fits = fit_sweep(with_loss_column(records, loss_column), plan, config)
            _print_fits(ui, fits, config)
            validation = size_validation_run(spec, corpus, plan, fits)
            prediction = _frozen_prediction(store, fits, validation, config.level, out)
            _print_prediction(ui, validation, prediction)
            # its own spawned process, whose OpenMP threads sleep when idle (bench/busy_threads.py)
            val_executor = (executor if config.executor == "ray"
                            else LocalExecutor(1, threads=config.threads or os.cpu_count() or 1,
                                               isolate=True))
            _train(ui, store, val_executor, out, spec, [validation.key], config.retries,
                   "validation", show_progress)
        finally:
            executor.close()
        stored_val = store.get(validation.key)
        if stored_val.status != "done":
            raise ScalingLabError(f"the validation run failed: {stored_val.error}")
        val_records = store.run_records(validation.key)
        summary = _summary(config, corpus, plan, fits, validation, prediction, val_records,
                           store, time.perf_counter() - began, loss_column)
        summary["report"] = str(out / "report.html")
        _write_results(out, store, fits, summary)
    _print_verdict(ui, summary)
    _write_report(ui, out, summary)
    return DemoResult(summary, out)


def _frozen_prediction(store: SQLiteRunStore, fits: dict, validation: PlannedRun,
                       level: float, out: Path) -> dict[str, Any]:
    """Predict the validation run and freeze it in the store and prediction.json.

    On a re-run (the validation run finished, or was interrupted part-way), the prediction
    frozen the first time is kept: a new one would no longer be made before the run.
    """
    stored = store.get_meta("prediction")
    trained = _known(store, validation.key) and store.get(validation.key).status == "done"
    if stored and stored.get("key") == validation.key:
        return stored
    prediction = predict_validation(fits["approach3"], validation, level)
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


def _train(ui: _Console, store: SQLiteRunStore, executor: Executor, out: Path,
           spec: SweepSpec, keys: list[str], retries: int, title: str,
           show_progress: bool) -> None:
    runs = [store.get(k) for k in keys]
    todo = [r for r in runs if r.status != "done"]
    ui.rule(f"training the {title}: {len(todo)} of {len(runs)} run(s) to do "
            f"({len(runs) - len(todo)} already done), {executor.workers} worker(s)")
    if not todo:
        return
    with SweepProgress(ui.console, todo, title, enabled=show_progress) as bars:
        run_pending(store, executor, out, spec.corpus, spec.tokenizer, runs=todo,
                    retries=retries, progress=bars.event, on_outcome=bars.finished)


# ------------------------------------------------------------------------------------ fits
def resolve_loss_column(choice: str, corpus) -> str:
    """The record column the fits use: ``auto`` means ``exact_loss`` when the corpus's
    language is known exactly (the synthetic language), else the sampled ``loss``."""
    known = corpus.language is not None
    if choice == "exact_loss" and not known:
        raise ScalingLabError(f"loss_column exact_loss needs a corpus whose language is known "
                              f"exactly (synthetic), not {corpus.name}")
    if choice == "auto":
        return "exact_loss" if known else "loss"
    return choice


def with_loss_column(records: pd.DataFrame, column: str) -> pd.DataFrame:
    """``records`` with ``loss`` taken from ``column`` (the sampled loss kept as
    ``sampled_loss``), so every fitter reads the chosen loss from the usual column."""
    if column == "loss":
        return records
    values = pd.to_numeric(records[column], errors="coerce")
    if values.isna().any():
        raise ScalingLabError(f"{int(values.isna().sum())} record(s) have no {column}; "
                              f"fit on the sampled loss instead (loss_column = 'loss')")
    return records.assign(sampled_loss=records["loss"], loss=values)


def fit_sweep(records: pd.DataFrame, plan: SweepPlan, config: DemoConfig) -> dict[str, Any]:
    """Approach 3 (Chinchilla L(N, D), bootstrap over runs) and Approach 2 (IsoFLOP profiles).

    Approach 3 uses the ``final`` points (run ends and cooldown-branch ends) trained for at
    least ``fit_min_steps`` steps; each point is its own group in the bootstrap (branches of
    one WSD run share a trajectory, but their losses differ by the cooldown they had).
    """
    from scalinglab.fit import fit_isoflop, fit_parametric  # noqa: PLC0415

    finals = records[records["final"].astype(bool)].copy()
    finals["run_id"] = finals["run_id"].astype(str)
    steps = finals["tokens"] / finals["batch_tokens"]
    usable = finals[steps >= config.fit_min_steps]
    if len(usable) < 6:
        raise ScalingLabError(f"only {len(usable)} points have >= {config.fit_min_steps} steps; "
                              f"Approach 3 needs at least 6 (raise the compute levels)")
    # The sweep's points are planned on IsoFLOP lines within +-0.5 dex of the prior optimum and
    # filtered by fit_min_steps: no stray runs for the frontier filter to catch, and with ~10
    # points every valley edge is needed (the filter dropped the top level's two largest
    # models on KJV seed 0 and E fell to 0).
    # The run interval's extrapolation term is calibrated by backtests that hold out whole
    # compute levels (the within-sweep backtest, at every cut leaving two levels below).
    approach3 = fit_parametric(usable, "chinchilla", n_column=config.n_column,
                               bootstrap=config.bootstrap, level=config.level,
                               seed=config.spec.seed, frontier_filter=None,
                               calibration_cuts=level_cuts(plan))
    approach2, approach2_error = None, None
    try:
        approach2 = fit_isoflop(finals, budgets=level_budgets(plan), min_runs=3,
                                bootstrap=config.bootstrap, level=config.level,
                                seed=config.spec.seed,
                                target_flops=config.spec.validation_flops)
    except ScalingLabError as exc:
        approach2_error = str(exc)
    return {"approach3": approach3, "approach2": approach2, "approach2_error": approach2_error,
            "points_used": int(len(usable)), "points_total": int(len(finals)),
            "backtest": within_sweep_backtest(usable, plan, config.n_column)}


def level_cuts(plan: SweepPlan) -> list[float] | None:
    """FLOPs between consecutive compute levels, each leaving at least two levels below."""
    budgets = sorted(level_budgets(plan))
    cuts = [float(np.sqrt(a * b)) for a, b in zip(budgets[1:-1], budgets[2:], strict=True)]
    return cuts or None


def within_sweep_backtest(points: pd.DataFrame, plan: SweepPlan, n_column: str = "n_params"
                          ) -> dict[str, Any]:
    """Approach 3 fitted below the top level, scored on the top level's points.

    The bootstrap interval of the prediction reflects parameter uncertainty only; if the law's
    form is wrong for the data (misspecification), only an extrapolation the sweep can check
    shows it.  Returns the signed relative errors ((predicted - observed) / observed) of the
    top level's points and how far they lie beyond the fitted compute, or ``{"error": ...}``
    when too few points lie below the top level to fit the five parameters.
    """
    from scalinglab.fit.backtest import backtest  # noqa: PLC0415

    budgets = level_budgets(plan)
    if len(budgets) < 2:
        return {"error": "needs at least two compute levels"}
    cut = float(np.sqrt(budgets[-2] * budgets[-1]))  # between the top two levels, FLOPs
    try:
        result = backtest(points, cut_flops=cut,
                          fit_kwargs={"n_column": n_column, "frontier_filter": None})
    except ScalingLabError as exc:
        return {"error": str(exc), "cut_flops": cut}
    errors = result.per_run["rel_error"].to_numpy(dtype=float)
    return {"cut_flops": cut, "fitted_points": result.summary["n_fitted_runs"],
            "held_out_points": result.summary["n_held_out"],
            "median_rel_error": float(np.median(errors)), "min_rel_error": float(errors.min()),
            "max_rel_error": float(errors.max()),
            "max_extrapolation": result.summary.get("max_extrapolation", math.nan)}


#: Exponent a of N_opt ∝ C^a that sizes the validation run: published estimates lie within
#: 0.45-0.75 (Kaplan et al. 2020: 0.73; Hoffmann et al. 2022: 0.46-0.51; Besiroglu et al. 2024:
#: 0.51); a sweep's own estimate outside this generous band is noise, not a finding (on KJV,
#: Approach 2 fitted a = 1.06 on two seeds of three and sized the run at 2.3 tokens/parameter).
CREDIBLE_N_OPT_EXPONENT = (0.3, 0.8)


def size_validation_run(spec: SweepSpec, corpus, plan: SweepPlan, fits: dict) -> PlannedRun:
    """Size the validation run at the compute-optimal N, raised if needed to stay within one epoch.

    N_opt comes from the first credible source (:func:`validation_size_source`): Approach 2,
    Approach 3's frontier, or the design's prior.  The laws assume fresh data, so a validation
    run that repeats the corpus would test the data-constrained regime instead (Muennighoff et
    al. 2023); the size is raised until the run's tokens fit in one pass over the training
    split.  The size stays within 4x the largest sweep size.
    """
    target = spec.extrapolation * plan.largest_point_flops
    n_opt, source = validation_size_source(spec, corpus, fits, target)
    sizes = [r.shape.n_params for r in plan.runs]
    n_val = float(np.clip(n_opt, min(sizes), 4 * max(sizes)))
    one_epoch = _smallest_size_within_one_epoch(corpus, spec, target, 4 * max(sizes))
    run = plan_validation(spec, corpus, max(n_val, one_epoch), plan.largest_point_flops)
    note = f"sized by {source}: N_opt = {n_opt:.3g} at {target:.3g} FLOPs"
    if one_epoch > n_val:
        note += f", raised to {run.shape.n_params:.3g} to stay within one pass over the data"
    run.notes.append(note)
    return run


def validation_size_source(spec: SweepSpec, corpus, fits: dict, flops: float
                           ) -> tuple[float, str]:
    """N_opt (non-embedding parameters) at ``flops`` and where it came from.

    Approach 2 (IsoFLOP minima) when its exponent a is credible, else Approach 3's frontier
    (a = beta / (alpha + beta)) when credible, else the sweep's prior tokens per parameter.
    """
    low, high = CREDIBLE_N_OPT_EXPONENT
    approach2 = fits.get("approach2")
    if approach2 is not None and low <= approach2.a <= high:
        return float(approach2.predict_n_opt(flops)), f"Approach 2 (N_opt ~ C^{approach2.a:.2f})"
    rejected = ([] if approach2 is None else
                [f"Approach 2's a = {approach2.a:.2f}"])
    approach3 = fits["approach3"]
    if isinstance(approach3.law, Chinchilla):
        a3 = approach3.law.optimal_exponents()[0]
        if low <= a3 <= high:
            n_opt = float(approach3.frontier(flops)["N_opt"]["value"])
            return n_opt, f"Approach 3's frontier (N_opt ~ C^{a3:.2f})"
        rejected.append(f"Approach 3's a = {a3:.2f}")
    n_opt = prior_optimal_size(flops, corpus.vocab_size, spec.seq_len, spec.tokens_per_param,
                               spec.min_layers)
    why = f" ({', '.join(rejected)} outside {low}-{high})" if rejected else ""
    return n_opt, f"the prior {spec.tokens_per_param:g} tokens/parameter{why}"


def _smallest_size_within_one_epoch(corpus, spec: SweepSpec, flops: float,
                                    largest: float) -> float:
    """The smallest ladder size (<= ``largest``) whose ``flops`` fit in one pass of the data."""
    from scalinglab.train.shape import ModelShape  # noqa: PLC0415

    available = (corpus.train_tokens - 1) // spec.seq_len * spec.seq_len
    for n in np.geomspace(1e3, largest, 200):
        shape = ModelShape.for_params(float(n), corpus.vocab_size, spec.seq_len,
                                      min_layers=spec.min_layers)
        if flops / shape.flops_per_token() <= available:
            return float(n)
    return float(largest)


def predict_validation(fit, run: PlannedRun, level: float) -> dict[str, Any]:
    """Approach 3's point prediction and run interval (nats/token) at the run's N, D.

    The run interval (``kind="run"``) adds run-to-run scatter and an extrapolation term,
    calibrated by nested backtests inside the sweep (the within-sweep backtest generalised to
    several cuts), to the bootstrap's parameter uncertainty; ``components`` says how much
    each contributes.
    """
    n_value = run.shape.n_params if fit.columns.get("N") == "n_params" else \
        run.shape.n_params_total
    kind = "run" if fit.run_interval is not None else "law"
    interval = fit.predict_interval(level, kind=kind, N=float(n_value),
                                    D=float(run.config.tokens))
    return {"loss": float(interval["loss"]), "low": float(interval.get("low", math.nan)),
            "high": float(interval.get("high", math.nan)), "level": float(interval["level"]),
            "kind": kind, "components": interval.get("components"),
            "n_params": run.shape.n_params, "n_params_total": run.shape.n_params_total,
            "tokens": float(run.config.tokens), "flops": run.planned_flops,
            "run": run.name, "key": run.key, "law": "chinchilla (Approach 3)"}


# ------------------------------------------------------------------------------ results
def _summary(config: DemoConfig, corpus, plan: SweepPlan, fits: dict, validation: PlannedRun,
             prediction: dict, val_records: list, store: SQLiteRunStore,
             wall_seconds: float, loss_column: str = "loss") -> dict[str, Any]:
    finals = [r for r in val_records if r.final and r.run_id == validation.name]
    measured = float(getattr(finals[-1], loss_column)) if finals else math.nan
    sampled = float(finals[-1].loss) if finals else math.nan
    error = (prediction["loss"] - measured) / measured
    sweep_runs = store.runs(role="sweep")
    approach3, approach2 = fits["approach3"], fits["approach2"]
    summary: dict[str, Any] = {
        "corpus": corpus.name, "tokenizer": corpus.tokenizer, "seed": config.spec.seed,
        "out": str(config.out),
        "prediction": {k: prediction[k] for k in ("loss", "low", "high", "level", "kind",
                                                  "components") if k in prediction},
        "loss_column": loss_column, "measured_loss": measured,
        "measured_sampled_loss": sampled, "relative_error": error,
        "inside_interval": bool(prediction["low"] <= measured <= prediction["high"]),
        "extrapolation_factor": validation.planned_flops / plan.largest_point_flops,
        "extrapolation_over_costliest_run": validation.planned_flops / max(
            r.planned_flops for r in sweep_runs),
        "sweep_flops": float(sum(r.spent_flops for r in sweep_runs)),
        "validation_flops": float(store.get(validation.key).spent_flops),
        "largest_point_flops": plan.largest_point_flops,
        "wall_seconds": wall_seconds,
        "sweep_wall_seconds": float(sum(r.wall_seconds or 0 for r in sweep_runs)),
        "validation_wall_seconds": float(store.get(validation.key).wall_seconds or 0),
        "validation": {"name": validation.name, "n_params": validation.shape.n_params,
                       "n_params_total": validation.shape.n_params_total,
                       "tokens": float(validation.config.tokens),
                       "notes": validation.notes, "warnings": validation.warnings},
        "validation_already_trained": prediction.get("validation_already_trained", False),
        "approach3": {"params": approach3.params,
                      "intervals": (approach3.intervals()
                                    if approach3.bootstrap_params is not None else None),
                      "points_used": fits["points_used"], "points_total": fits["points_total"],
                      "fit_min_steps": config.fit_min_steps, "warnings": approach3.warnings},
        "approach2": (None if approach2 is None else
                      {"a": approach2.a, "b": approach2.b,
                       "n_opt_at_validation": float(approach2.predict_n_opt(
                           config.spec.validation_flops)),
                       "warnings": approach2.warnings}),
        "approach2_error": fits["approach2_error"],
        "within_sweep_backtest": fits["backtest"],
        "runs": {"sweep": len(sweep_runs), "failed": sum(r.status == "failed"
                                                         for r in sweep_runs)},
    }
    language = corpus.language
    if language is not None:
        best = float(language.best_possible_loss(config.spec.seq_len))
        fitted_e = float(approach3.params["E"])
        summary["exact_best_loss"] = best
        summary["fitted_E"] = fitted_e
        summary["fitted_E_relative_error"] = (fitted_e - best) / best
        if approach3.bootstrap_params is not None:
            low, high = approach3.intervals()["E"]
            summary["fitted_E_interval"] = [low, high]
            summary["exact_best_loss_inside_E_interval"] = bool(low <= best <= high)
        summary["entropy_rate"] = float(language.entropy_rate())
    return summary


def _write_results(out: Path, store: SQLiteRunStore, fits: dict, summary: dict) -> None:
    fits["approach3"].save(out / "fit_approach3.json")
    if fits["approach2"] is not None:
        fits["approach2"].save(out / "fit_approach2.json")
    write_runs(store.records(), out / "runs.csv")
    rows = [(r.name, r.role, r.status, r.config.get("params"), r.config.get("tokens"),
             r.planned_flops, r.spent_flops, r.wall_seconds) for r in store.runs()]
    table = pd.DataFrame(rows, columns=["name", "role", "status", "n_params", "tokens",
                                        "planned_flops", "spent_flops", "wall_seconds"])
    (out / "summary.md").write_text(_markdown_summary(table, summary))
    (out / "summary.json").write_text(json.dumps(to_jsonable(summary), indent=2))


def _markdown_summary(table: pd.DataFrame, summary: dict) -> str:
    p = summary["prediction"]
    lines = ["# scalinglab demo", "",
             f"corpus {summary['corpus']}, seed {summary['seed']}, "
             f"wall {summary['wall_seconds']:.0f} s", "",
             f"predicted {p['loss']:.4f} nats/token ({p['level']:.0%} interval "
             f"{p['low']:.4f}-{p['high']:.4f}), measured {summary['measured_loss']:.4f} "
             f"({summary.get('loss_column', 'loss')}), "
             f"error {summary['relative_error']:+.2%} at "
             f"{summary['extrapolation_factor']:.1f}x the largest sweep point", "",
             _backtest_line(summary["within_sweep_backtest"], p["level"]), "",
             "| run | role | status | N | tokens | planned FLOPs | spent FLOPs | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in table.itertuples(index=False):
        lines.append(f"| {row.name} | {row.role} | {row.status} | {row.n_params:.0f} | "
                     f"{row.tokens:.3g} | {row.planned_flops:.3g} | {row.spent_flops:.3g} | "
                     f"{(row.wall_seconds or 0):.1f} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ printing
def _print_plan(ui: _Console, plan: SweepPlan) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"sweep plan ({plan.spec.design}): {len(plan.runs)} runs, "
                        f"{plan.sweep_flops:.3g} FLOPs; validation at "
                        f"{plan.spec.extrapolation:g}x {plan.largest_point_flops:.3g} FLOPs",
                  title_justify="left")
    for column in ("run", "N", "shape", "tokens", "points at levels (FLOPs)", "FLOPs"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in plan.runs:
        table.add_row(run.name, f"{run.shape.n_params:,}",
                      f"{run.shape.n_layer}x{run.shape.d_model}", f"{run.config.tokens:.3g}",
                      ", ".join(f"{p['level']:.2g}" for p in run.points),
                      f"{run.planned_flops:.3g}")
    ui.print(table)


def _print_fits(ui: _Console, fits: dict, config: DemoConfig) -> None:
    ui.rule("fits")
    a3 = fits["approach3"]
    p = a3.params
    ui.print(f"Approach 3 (Chinchilla L(N, D), {fits['points_used']} of "
             f"{fits['points_total']} points with >= {config.fit_min_steps} steps): "
             f"E={p['E']:.4f} A={p['A']:.4g} alpha={p['alpha']:.3f} B={p['B']:.4g} "
             f"beta={p['beta']:.3f}", markup=False)
    for warning in a3.warnings:
        ui.print(f"  warning: {warning}", markup=False)
    ui.print(_backtest_line(fits["backtest"], config.level), markup=False)
    a2 = fits["approach2"]
    if a2 is not None:
        ui.print(f"Approach 2 (IsoFLOP profiles): N_opt ~ C^{a2.a:.3f}, D_opt ~ C^{a2.b:.3f}",
                 markup=False)
    else:
        ui.print(f"Approach 2 could not be fitted: {fits['approach2_error']}", markup=False)


def _backtest_line(check: dict, level: float) -> str:
    if "error" in check:
        return f"within-sweep backtest not possible: {check['error']}"
    return (f"within-sweep backtest: fitted on the {check['fitted_points']} points below "
            f"{check['cut_flops']:.3g} FLOPs, the law predicts the top level's "
            f"{check['held_out_points']} points (up to {check['max_extrapolation']:.1f}x beyond) "
            f"with errors {check['min_rel_error']:+.2%} to {check['max_rel_error']:+.2%} "
            f"(median {check['median_rel_error']:+.2%}); nested backtests of this kind "
            f"calibrate the extrapolation term of the {level:.0%} run interval below")


def _print_prediction(ui: _Console, run: PlannedRun, prediction: dict) -> None:
    ui.rule("prediction (made before the validation run trains)")
    ui.print(f"validation run {run.name}: N={run.shape.n_params:,}, D={run.config.tokens:.3g} "
             f"tokens, {run.planned_flops:.3g} FLOPs", markup=False)
    what = "run interval" if prediction.get("kind") == "run" else "law interval (parameters only)"
    ui.print(f"PREDICTED loss {prediction['loss']:.4f} nats/token, "
             f"{prediction['level']:.0%} {what} [{prediction['low']:.4f}, "
             f"{prediction['high']:.4f}]", markup=False)
    if prediction.get("components"):
        ui.print(f"  {describe_sources(prediction['components'])}", markup=False)
    for note in run.notes:
        ui.print(f"  note: {note}", markup=False)
    for warning in run.warnings:
        ui.print(f"  warning: {warning}", markup=False)


def _print_verdict(ui: _Console, summary: dict) -> None:
    ui.rule("verdict")
    p = summary["prediction"]
    inside = "inside" if summary["inside_interval"] else "OUTSIDE"
    which = " (exact expected loss)" if summary.get("loss_column") == "exact_loss" else ""
    ui.print(f"measured{which} {summary['measured_loss']:.4f} vs predicted {p['loss']:.4f} "
             f"nats/token: "
             f"relative error {summary['relative_error']:+.2%}, {inside} the {p['level']:.0%} "
             f"{'run ' if p.get('kind') == 'run' else ''}interval, at {summary['extrapolation_factor']:.1f}x the largest sweep point "
             f"({summary['wall_seconds']:.0f} s in all)", markup=False)
    if "exact_best_loss" in summary:
        ui.print(f"fitted E {summary['fitted_E']:.4f} vs exact best possible loss E_T "
                 f"{summary['exact_best_loss']:.4f} nats/token "
                 f"({summary['fitted_E_relative_error']:+.2%}){_e_interval(summary)}",
                 markup=False)


def _e_interval(summary: dict) -> str:
    if "fitted_E_interval" not in summary:
        return ""
    low, high = summary["fitted_E_interval"]
    inside = "inside" if summary["exact_best_loss_inside_E_interval"] else "OUTSIDE"
    return (f"; E_T is {inside} the fitted E's {summary['prediction']['level']:.0%} interval "
            f"[{low:.4f}, {high:.4f}]")


def _write_report(ui: _Console, out: Path, summary: dict) -> None:
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
        summary.pop("report", None)
        (out / "summary.json").write_text(json.dumps(to_jsonable(summary), indent=2))
        ui.print(f"[yellow]warning:[/yellow] report not written: {exc}", highlight=False)
        return
    ui.print(f"report: {written.path} ({len(written.figures)} figures)", highlight=False)
