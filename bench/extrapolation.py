"""Benchmark: extrapolation on the development library of real scaling sweeps.

For every extrapolation task of ``../shared/data/scaling-dev/`` (README there) and for the
Epoch backtests of Chinchilla (cuts 3e20 and 1e21 FLOPs), fit on the small runs, predict the
held-out targets, and score each method:

* ``naive``     -- the lowest loss of the fit set (final rows, or the fit rows of a curve task);
* ``plain_ref`` -- the data README's plain-fit predictions, read from ``baselines.json``
                   (a fixed yardstick, independent of scalinglab's code);
* ``plain``     -- scalinglab's plain fit: Chinchilla L(N, D) on the fit set's final rows (all
                   fit rows where the task says so), or L(D) = E + B/D^beta for single-size curve
                   tasks; point plus the law-kind bootstrap interval;
* ``default``   -- ``scalinglab.fit(fit_rows, bootstrap=B)`` with the library's defaults, then
                   ``predict_interval(..., kind="run")`` (``kind`` = "law" until that exists);
* ``--variant NAME=JSON`` -- ``scalinglab.fit(fit_rows, bootstrap=B, **JSON)``, same scoring.

``--centre`` moves the scalinglab methods' run intervals (same log half-width) from the point
estimate (``point``, the library's) to a summary of the bootstrap laws' predictions: their
``median``, geometric mean (``geomean``) or a trimmed geometric mean (``trim10``, ``trim25``:
the mean of log predictions without the lowest and highest 10% / 25%) -- bagging (Breiman
1996), which averages over directions the data leave flat.

Scores per task and method: mean ARE = |pred - true| / true, mean signed error
(pred - true) / true, 90% interval coverage (targets inside [low, high]) and median interval
half-width (high - low) / 2 as % of the predicted loss.  Losses keep each family's own unit
(nats/token, nats/byte, normalised log-loss, span-corruption cross-entropy): every score is
relative, so units never mix.

Usage:  python bench/extrapolation.py [--families F,..] [--tasks PATTERN,..] [--bootstrap 200]
            [--variant 'ckpt10={"checkpoints_after": 0.1}'] [--methods naive,plain,default]
            [--centre point|median|geomean|trim10|trim25] [--quick] [--per-run] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import inspect
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import trim_mean

import scalinglab
from scalinglab.errors import ScalingLabError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalisation import (  # noqa: E402  (bench/ sibling module)
    discover_families,
    frontier_methods,
    frontier_scores,
    frontier_tasks,
    generalisation_goals,
    generic_tasks,
    leave_one_family_out,
    print_generalisation,
    run_frontier,
)

from scalinglab.fit import FitSettings, fit_parametric
from scalinglab.fit.optimise import make_law
from scalinglab.jsonutil import to_jsonable

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "scaling-dev"
EPOCH = ROOT.parent / "shared" / "data" / "chinchilla" / "epoch_svg_extracted_data.csv"
LEVEL = 0.9
SEED = 0
BUILTIN_METHODS = ("naive", "plain_ref", "plain", "default")
CENTRES = ("point", "median", "geomean", "trim10", "trim25")
ARE_TIE = 1e-4  # mean AREs within 0.01 percentage points count as equal ("no worse")
#: Families with hand-written tasks (the data README's); every other ``*.csv`` of the library
#: gets :func:`generalisation.generic_tasks`.
KNOWN_FAMILIES = ("chinchilla", "datablations", "t5_pile", "cerebras_gpt", "pythia_pile_test",
                  "gzip_pcfg", "revisiting_lm", "llm360", "redpajama_incite", "ibm_moe")
DEV_FAMILIES = discover_families(DEV) if DEV.is_dir() else KNOWN_FAMILIES

Selector = Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]


class BenchError(Exception):
    """Bad benchmark input: printed as one ``error:`` line, exit status 2."""


# -- tasks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One extrapolation task: which rows to fit, which targets to predict, the plain law.

    ``group`` is the data README's task (the unit that is scored and averaged); a per-run task
    of the README is expanded into one Task per run, all sharing the group.  ``law`` is
    ``"chinchilla"`` (L(N, D)) or ``"L(D)"`` (E + B/D^beta, single-size curves).
    ``plain_rows`` says which of the fit rows the plain law (and the naive baseline) use:
    ``"final"`` (each fit run's final row) or ``"all"`` (every fit row: curve tasks).
    ``ref`` locates the README baseline in baselines.json: (task name, part name or None).
    """

    family: str
    group: str
    name: str
    select: Selector
    law: str = "chinchilla"
    plain_rows: str = "final"
    ref: tuple[str, str | None] | None = None
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.family}/{self.name}"


def _final(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["final"].astype(bool)]


def _runs_where(frame: pd.DataFrame, mask_on_final: pd.Series) -> pd.DataFrame:
    """All rows of the runs whose final row satisfies the mask (mask indexed like frame)."""
    finals = frame[frame["final"].astype(bool) & mask_on_final]
    return frame[frame["run_id"].isin(set(finals["run_id"]))]


def _by_runs(fit_pred: Callable[[pd.DataFrame], pd.Series],
             target_pred: Callable[[pd.DataFrame], pd.Series],
             fit_final_only: bool = False) -> Selector:
    """Fit = runs whose final row passes ``fit_pred`` (all their rows, or only final rows);
    targets = final rows of the runs whose final row passes ``target_pred``."""
    def select(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        fit_rows = _runs_where(frame, fit_pred(frame))
        if fit_final_only:
            fit_rows = _final(fit_rows)
        return fit_rows, _final(frame[target_pred(frame)])
    return select


def _curve(run_id: str, rows: Callable[[pd.DataFrame], pd.Series]) -> Selector:
    """Within-run curve task: fit the rows of ``run_id`` passing ``rows``, predict its final row.

    The fit rows keep the file's ``final`` flags (all 0: the run is not finished there).
    """
    def select(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        run = frame[frame["run_id"] == run_id]
        if run.empty:
            raise BenchError(f"run {run_id!r} not found")
        return run[rows(run)], _final(run)
    return select


def _token_fraction(fraction: float) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda run: run["tokens"] <= fraction * run["tokens"].max()


def _epoch_cut(cut: float) -> Selector:
    def select(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        below = frame["flops"] < cut
        return frame[below], frame[~below]
    return select


def _c4(frame: pd.DataFrame) -> pd.Series:
    return frame["dataset"] == "c4"


def _single_epoch(frame: pd.DataFrame) -> pd.Series:
    return frame["tokens"] <= frame["unique_tokens"] * (1 + 1e-3)


REVISITING_RUNS = ("lamda-1.07e+09", "lamda-1.34e+08", "lamda-1.68e+07", "lamda-2.62e+08",
                   "lamda-4.53e+08")
LLM360_RUNS = ("Amber-7B", "K2-65B")
REDPAJAMA_RUNS = ("redpajama-incite-2.4B", "redpajama-incite-6.7B")
# the README's curve baseline: the runs with at least 4 checkpoints in the first half
IBM_RUNS = ("ST-k2_Pile_GPT2", "h1-k4_Pile_Codegen_shuffled", "st-deep-48l_Pile_Codegen_shuffled")
GZIP_DATASETS = ("gzipscale-0.12-10M", "gzipscale-0.23-10M", "gzipscale-0.33-10M",
                 "gzipscale-0.45-10M", "gzipscale-0.61-10M")
T5_FIT = ("pile-t5-base", "pile-t5-large", "pile-t5-xl")


def _gzip(dataset: str) -> Selector:
    def select(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        part = frame[frame["dataset"] == dataset]
        largest = part["n_params"].max()
        fit_rows = part[part["n_params"] < largest]
        big = part[part["n_params"] == largest]
        return fit_rows, big[big["tokens"] == big["tokens"].max()]
    return select


def dev_tasks() -> list[Task]:
    """Every task of every family in scaling-dev/README.md, in README order."""
    b = "per run: fit rows with tokens <= {} x final tokens, predict the final row"
    tasks = [
        Task("chinchilla", "C<2e21->C>4e21", "C<2e21->C>4e21",
             _by_runs(lambda f: f["flops"] < 2e21, lambda f: f["flops"] > 4e21),
             ref=("fit C < 2e21 FLOP, predict the runs with C > 4e21", None)),
        Task("datablations", "c4-1epoch", "c4-1epoch",
             _by_runs(lambda f: _c4(f) & _single_epoch(f) & (f["n_params"] <= 4.3e9),
                      lambda f: f["run_id"] == "c4_8b7178b178b"),
             ref=("C4, single-epoch runs only: fit N <= 4.3e9, predict the largest run "
                  "(8.67e9 params, 178B unique tokens)", None),
             note="fit rows include the curves of the two single-epoch repetition runs"),
        Task("datablations", "c4-all-epochs", "c4-all-epochs",
             _by_runs(lambda f: _c4(f) & (f["n_params"] <= 4.3e9),
                      lambda f: f["run_id"].str.startswith("c4_8b7178b")),
             ref=("C4, all epochs (plain law with D = total tokens, repetition ignored): fit "
                  "N <= 4.3e9, predict the eight 8.67e9 x 178B-token runs (1-44 epochs)", None),
             note="repetition ignored by the law (D = total tokens)"),
        Task("t5_pile", "final->xxl", "final->xxl",
             _by_runs(lambda f: f["run_id"].isin(T5_FIT), lambda f: f["run_id"] == "pile-t5-xxl",
                      fit_final_only=True),
             ref=("final rows: fit base/large/xl, predict xxl", None),
             note="3 fit points"),
        Task("t5_pile", "curves->xxl", "curves->xxl",
             _by_runs(lambda f: f["run_id"].isin(T5_FIT), lambda f: f["run_id"] == "pile-t5-xxl"),
             plain_rows="all",
             ref=("curve rows (tokens >= 1e10) of base/large/xl, predict xxl final", None),
             note="every curve row has tokens >= 1e10"),
        Task("cerebras_gpt", "SP<=2.7B", "SP<=2.7B",
             _by_runs(lambda f: (f["parametrization"] == "SP") & (f["n_params_total"] <= 2.7e9),
                      lambda f: f["run_id"].isin(["Cerebras-GPT-6.7B", "Cerebras-GPT-13B"])),
             ref=("SP runs: fit N <= 2.7B (5 runs), predict 6.7B and 13B", None),
             note="5 fit points, N and D collinear"),
    ]
    for data, label in (("pile", "pile"), ("pile-deduped", "pile-deduped")):
        tasks.append(Task(
            "pythia_pile_test", label, label,
            _by_runs(lambda f, d=data: (f["data"] == d) & (f["n_params_total"] <= 2.8e9),
                     lambda f, d=data: (f["data"] == d) & (f["n_params_total"] > 2.8e9)),
            ref=(f"{label}: fit N_total <= 2.8B (6 runs), predict 6.9B and 12B", None),
            note="all runs at 300B tokens"))
    gzip_ref = ("per dataset: fit the 5 smaller sizes (all 5 budgets), predict the largest size "
                "at the largest budget (5 datasets)")
    tasks += [Task("gzip_pcfg", "per-dataset", ds, _gzip(ds), ref=(gzip_ref, ds))
              for ds in GZIP_DATASETS]
    tasks += [Task("revisiting_lm", "per-run", run,
                   _curve(run, lambda r: r["fit_split"] == 1), law="L(D)", plain_rows="all",
                   ref=("per run: fit the authors' fit_split==1 rows, predict the last (test) "
                        "row", run), note="normalised log-loss, not nats")
              for run in REVISITING_RUNS]
    for family, runs, fraction in (("llm360", LLM360_RUNS, 0.25),
                                   ("redpajama_incite", REDPAJAMA_RUNS, 0.3),
                                   ("ibm_moe", IBM_RUNS, 0.5)):
        tasks += [Task(family, "per-run", run, _curve(run, _token_fraction(fraction)),
                       law="L(D)", plain_rows="all", ref=(b.format(fraction), run))
                  for run in runs]
    for family in DEV_FAMILIES:  # families added to the library after this script was written
        if family not in KNOWN_FAMILIES:
            tasks += generic_tasks(family, load_family(family), Task)
    return tasks


def epoch_tasks() -> list[Task]:
    """Epoch's Chinchilla backtests: default settings (no drop-highest), fit C < cut."""
    return [Task("epoch", f"cut {cut:.0e}", f"cut {cut:.0e}", _epoch_cut(cut),
                 note="Epoch extraction, 245 runs, no drop-highest")
            for cut in (3e20, 1e21)]


def load_family(family: str) -> pd.DataFrame:
    """The family's table as a user loads it (``scalinglab.load_runs``)."""
    if family == "epoch":
        if not EPOCH.is_file():
            raise BenchError(f"Epoch data not found at {EPOCH}")
        return scalinglab.load_runs(EPOCH, columns={"N": "Model Size", "C": "Training FLOP",
                                                    "loss": "loss"}, derive_tokens=True)
    path = DEV / f"{family}.csv"
    if not path.is_file():
        raise BenchError(f"development data not found at {path}")
    return scalinglab.load_runs(path)


def load_baselines() -> dict[str, Any]:
    path = DEV / "baselines.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def reference_predictions(task: Task, baselines: dict[str, Any]) -> dict[str, float] | None:
    """{run_id: README plain-fit prediction} for the task, or None if baselines lack it."""
    if task.ref is None:
        return None
    name, part = task.ref
    for entry in baselines.get(task.family, []):
        if entry["name"] != name:
            continue
        if entry.get("kind") == "nd_multi":
            entry = next((p for p in entry["parts"] if p["name"] == part), None)
            if entry is None:
                return None
        targets = entry["per_target"]
        if part is not None and entry.get("kind") == "curve":
            targets = [t for t in targets if t["run_id"] == part]
        return {t["run_id"]: float(t["pred"]) for t in targets}
    return None


# -- methods -------------------------------------------------------------------------------------
@dataclass
class Prediction:
    """One method's output on one task: per-target point, low, high (nan where none)."""

    point: np.ndarray
    low: np.ndarray
    high: np.ndarray
    interval_kind: str = ""               # "law", "run" or "" (no interval)
    error: str | None = None              # the fit's failure message, if it failed
    info: dict[str, Any] = field(default_factory=dict)


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _failed(n: int, exc: Exception) -> Prediction:
    return Prediction(_nan(n), _nan(n), _nan(n), error=f"{type(exc).__name__}: {exc}")


def plain_subset(task: Task, fit_rows: pd.DataFrame) -> pd.DataFrame:
    return fit_rows if task.plain_rows == "all" else _final(fit_rows)


def _inputs(result, targets: pd.DataFrame) -> dict[str, np.ndarray]:
    return {v: targets[col].to_numpy(dtype=float) for v, col in result.columns.items()}


def _fit_info(result) -> dict[str, Any]:
    return {"params": result.params, "n_points": result.n_points, "n_runs": result.n_runs,
            "warnings": list(result.warnings),
            "bootstrap": 0 if result.bootstrap_params is None else len(result.bootstrap_params)}


def _interval(result, inputs: dict[str, np.ndarray], kind: str,
              n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, dict[str, Any]]:
    """(point, low, high, kind used, extra keys) from ``predict_interval(kind=kind)``.

    Code without the ``kind`` argument gives the law (parameter-only) interval: marked "law".
    """
    parameters = inspect.signature(result.predict_interval).parameters
    takes_kind = "kind" in parameters
    # a benchmark scores every target, however far from the data (guards warn, not refuse)
    far = {"allow_far": True} if "allow_far" in parameters else {}
    if takes_kind:
        band, used = result.predict_interval(level=LEVEL, kind=kind, **far, **inputs), kind
    else:
        band, used = result.predict_interval(level=LEVEL, **inputs), "law"
    extra = {k: v for k, v in band.items() if k not in ("loss", "low", "high", "level")}

    def arr(key: str) -> np.ndarray:
        return (np.broadcast_to(np.asarray(band[key], dtype=float), (n,)).copy()
                if key in band else _nan(n))
    return arr("loss"), arr("low"), arr("high"), used if "low" in band else "", extra


def method_naive(task: Task, fit_rows: pd.DataFrame, targets: pd.DataFrame,
                 bootstrap: int) -> Prediction:
    n = len(targets)
    best = float(plain_subset(task, fit_rows)["loss"].min())
    return Prediction(np.full(n, best), _nan(n), _nan(n), info={"best_fit_loss": best})


def _supported(options: dict[str, Any]) -> dict[str, Any]:
    """The options ``fit_parametric`` accepts in this version of scalinglab (its settings'
    fields, or its keyword parameters in versions before FitSettings held them all)."""
    accepted = set(inspect.signature(fit_parametric).parameters)
    accepted |= {f.name for f in dataclasses.fields(FitSettings)}
    return {k: v for k, v in options.items() if k in accepted}


def method_plain(task: Task, fit_rows: pd.DataFrame, targets: pd.DataFrame,
                 bootstrap: int) -> Prediction:
    n = len(targets)
    rows = plain_subset(task, fit_rows).copy()
    rows["final"] = 1  # the plain law uses exactly these rows
    kwargs = {"law": "power", "variable": "D"} if task.law == "L(D)" else {"law": "chinchilla"}
    single_run = rows["run_id"].nunique() < 2
    if single_run:  # resampling whole runs of a one-run table repeats it: a zero-width interval
        bootstrap = 0
    try:
        # the plain fit: exactly these rows, no row filter, no run-interval calibration,
        # Hoffmann's Huber delta
        plain_options = _supported({"checkpoints_after": None, "frontier_filter": None,
                                    "calibrate": False, "huber_delta": 1e-3})
        result = fit_parametric(rows, bootstrap=bootstrap, seed=SEED, **kwargs, **plain_options)
        point, low, high, kind, _ = _interval(result, _inputs(result, targets), "law", n)
    except ScalingLabError as exc:
        return _failed(n, exc)
    expected = make_law(FitSettings(**kwargs)).param_names
    if tuple(result.law.param_names) != tuple(expected):
        return _failed(n, ScalingLabError(
            f"the fit returned {result.law.name} with parameters "
            f"{', '.join(result.law.param_names)}, not the plain {task.law} law "
            f"({', '.join(expected)})"))
    info = _fit_info(result)
    if single_run:
        info["note"] = "one run: no run bootstrap, so no law interval"
    return Prediction(point, low, high, kind if bootstrap else "", info=info)


def bootstrap_centre(result, inputs: dict[str, np.ndarray], how: str) -> np.ndarray | None:
    """A summary of the bootstrap laws' predicted losses at ``inputs`` (None: no bootstrap).

    ``how``: ``median``; ``geomean`` (exp of the mean log prediction); ``trimP`` (exp of the
    mean log prediction without the lowest and highest P% of the draws).
    """
    if how not in CENTRES or how == "point":
        raise BenchError(f"centre must be one of {', '.join(CENTRES)}, got {how!r}")
    if result.bootstrap_params is None or len(result.bootstrap_params) < 2:
        return None
    draws = np.array([np.broadcast_to(np.asarray(law.predict(**inputs), dtype=float),
                                      np.shape(next(iter(inputs.values()))))
                      for law in result.draw_laws()])  # (draws, targets)
    if how == "median":
        return np.median(draws, axis=0)
    logs = np.log(draws)
    if how == "geomean":
        return np.exp(np.mean(logs, axis=0))
    return np.exp(trim_mean(logs, int(how[len("trim"):]) / 100, axis=0))


def make_scalinglab_method(options: dict[str, Any],
                           centre: str = "point") -> Callable[..., Prediction]:
    """``scalinglab.fit(fit_rows, bootstrap=B, **options)`` scored by its run interval.

    ``centre`` other than ``point`` moves the interval (same log half-width) to that summary
    of the bootstrap predictions (:func:`bootstrap_centre`).
    """
    def method(task: Task, fit_rows: pd.DataFrame, targets: pd.DataFrame,
               bootstrap: int) -> Prediction:
        n = len(targets)
        try:
            result = scalinglab.fit(fit_rows.reset_index(drop=True), bootstrap=bootstrap,
                                    **options)
        except ScalingLabError as exc:
            return _failed(n, exc)
        info = _fit_info(result)
        inputs = _inputs(result, targets)
        try:
            point, low, high, kind, extra = _interval(result, inputs, "run", n)
        except ScalingLabError as exc:  # the fit stands; its interval could not be made
            point = np.broadcast_to(np.asarray(result.predict(**inputs), dtype=float),
                                    (n,)).copy()
            low, high, kind, extra = _nan(n), _nan(n), "", {}
            info["interval_error"] = f"{type(exc).__name__}: {exc}"
        if centre != "point":
            moved = bootstrap_centre(result, inputs, centre)
            if moved is not None:
                ratio = moved / point
                info["point_estimate"] = point.tolist()
                point, low, high = moved, low * ratio, high * ratio
            info["centre"] = centre if moved is not None else "point (no bootstrap)"
        info["interval"] = extra
        return Prediction(point, low, high, kind, info=info)
    return method


def make_reference_method(baselines: dict[str, Any]) -> Callable[..., Prediction | None]:
    def method(task: Task, fit_rows: pd.DataFrame, targets: pd.DataFrame,
               bootstrap: int) -> Prediction | None:
        n = len(targets)
        if task.ref is None:
            return None  # not applicable (the Epoch backtests have no README baseline)
        ref = reference_predictions(task, baselines)
        if ref is None:
            return Prediction(_nan(n), _nan(n), _nan(n), error="baselines.json lacks this task")
        missing = [r for r in targets["run_id"] if r not in ref]
        if missing:
            return Prediction(_nan(n), _nan(n), _nan(n),
                              error=f"README baseline lacks target(s) {', '.join(missing)}")
        return Prediction(np.array([ref[r] for r in targets["run_id"]]), _nan(n), _nan(n))
    return method


# -- scoring -------------------------------------------------------------------------------------
def score(pred: Prediction, true: np.ndarray) -> dict[str, Any]:
    """Mean ARE, mean signed error, coverage and median half-width (% of predicted loss)."""
    out: dict[str, Any] = {"n_targets": int(len(true)), "error": pred.error,
                           "interval_kind": pred.interval_kind}
    signed = (pred.point - true) / true
    ok = np.isfinite(signed)
    out["are"] = float(np.mean(np.abs(signed))) if ok.all() else math.nan
    out["signed"] = float(np.mean(signed)) if ok.all() else math.nan
    has = np.isfinite(pred.low) & np.isfinite(pred.high)
    inside = (pred.low <= true) & (true <= pred.high)
    out["n_intervals"] = int(has.sum())
    out["covered"] = int(inside[has].sum())
    out["coverage"] = float(inside[has].mean()) if has.any() else math.nan
    half = (pred.high - pred.low) / 2 / pred.point
    out["halfwidth"] = float(np.median(half[has])) if has.any() else math.nan
    return out


@dataclass
class TaskRun:
    """One task, its targets, and every method's prediction, score and wall time."""

    task: Task
    n_fit_rows: int
    n_fit_runs: int
    targets: pd.DataFrame
    extrapolation: np.ndarray             # target C / largest fitted C
    predictions: dict[str, Prediction] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_task(task: Task, frame: pd.DataFrame, methods: dict[str, Callable[..., Prediction]],
             bootstrap: int) -> TaskRun:
    fit_rows, targets = task.select(frame)
    fit_rows, targets = fit_rows.reset_index(drop=True), targets.reset_index(drop=True)
    if fit_rows.empty or targets.empty:
        raise BenchError(f"task {task.key} selects {len(fit_rows)} fit rows and "
                         f"{len(targets)} targets; the data do not match its definition")
    extrapolation = targets["flops"].to_numpy(dtype=float) / float(fit_rows["flops"].max())
    tr = TaskRun(task, len(fit_rows), int(fit_rows["run_id"].nunique()), targets, extrapolation)
    true = targets["loss"].to_numpy(dtype=float)
    for name, method in methods.items():
        start = time.perf_counter()
        pred = method(task, fit_rows, targets, bootstrap)
        if pred is None:
            continue
        tr.seconds[name] = time.perf_counter() - start
        tr.predictions[name] = pred
        tr.scores[name] = score(pred, true)
    return tr


# -- aggregation ---------------------------------------------------------------------------------
def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def group_scores(runs: list[TaskRun], method: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Scores per README task (group): targets of its sub-tasks pooled."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for tr in runs:
        key = (tr.task.family, tr.task.group)
        g = out.setdefault(key, {"are_sum": 0.0, "signed_sum": 0.0, "n_ok": 0, "n_targets": 0,
                                 "failed": 0, "n_intervals": 0, "covered": 0, "half": [],
                                 "subtasks": 0, "errors": []})
        s, pred = tr.scores[method], tr.predictions[method]
        g["subtasks"] += 1
        g["n_targets"] += s["n_targets"]
        if np.isfinite(s["are"]):
            g["are_sum"] += s["are"] * s["n_targets"]
            g["signed_sum"] += s["signed"] * s["n_targets"]
            g["n_ok"] += s["n_targets"]
        else:
            g["failed"] += 1
            g["errors"].append(pred.error or "no prediction")
        has = np.isfinite(pred.low) & np.isfinite(pred.high)
        g["n_intervals"] += int(has.sum())
        g["covered"] += s["covered"]
        g["half"] += list(((pred.high - pred.low) / 2 / pred.point)[has])
    for g in out.values():
        g["are"] = g["are_sum"] / g["n_ok"] if g["n_ok"] else math.nan
        g["signed"] = g["signed_sum"] / g["n_ok"] if g["n_ok"] else math.nan
        g["coverage"] = g["covered"] / g["n_intervals"] if g["n_intervals"] else math.nan
        g["halfwidth"] = float(np.median(g["half"])) if g["half"] else math.nan
        g["complete"] = g["failed"] == 0
    return out


def family_scores(groups: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per family: mean of its tasks' mean ARE; coverage pooled over its targets."""
    fams: dict[str, dict[str, Any]] = {}
    for (family, _), g in groups.items():
        f = fams.setdefault(family, {"ares": [], "complete": True, "covered": 0,
                                     "n_intervals": 0, "half": []})
        f["ares"].append(g["are"])
        f["complete"] &= g["complete"]
        f["covered"] += g["covered"]
        f["n_intervals"] += g["n_intervals"]
        f["half"] += g["half"]
    for f in fams.values():
        f["are"] = _mean(f["ares"]) if f["complete"] else math.nan
        f["are_partial"] = _mean(f["ares"])
        f["coverage"] = f["covered"] / f["n_intervals"] if f["n_intervals"] else math.nan
        f["halfwidth"] = float(np.median(f["half"])) if f["half"] else math.nan
    return fams


def summarise(runs: list[TaskRun], methods: list[str]) -> dict[str, Any]:
    """Per-method summary over the development library (Epoch backtests reported apart)."""
    dev = [tr for tr in runs if tr.task.family != "epoch"]
    out: dict[str, Any] = {}
    per_method = {m: (group_scores(dev, m), None) for m in methods}
    per_method = {m: (g, family_scores(g)) for m, (g, _) in per_method.items()}
    for m in methods:
        groups, fams = per_method[m]
        n_fail = sum(1 for tr in dev if not np.isfinite(tr.scores[m]["are"]))
        complete = [f for f in fams.values() if f["complete"]]
        covered = sum(g["covered"] for g in groups.values())
        n_int = sum(g["n_intervals"] for g in groups.values())
        half = [h for g in groups.values() for h in g["half"]]
        entry = {
            "subtasks": len(dev), "subtasks_failed": n_fail,
            "tasks": len(groups), "tasks_complete": sum(g["complete"] for g in groups.values()),
            "mean_are_tasks": (_mean(g["are"] for g in groups.values())
                               if all(g["complete"] for g in groups.values()) else math.nan),
            "mean_are_tasks_partial": _mean(g["are"] for g in groups.values()),
            "mean_are_families": (_mean(f["are"] for f in fams.values())
                                  if len(complete) == len(fams) else math.nan),
            "mean_are_families_partial": _mean(f["are_partial"] for f in fams.values()),
            "coverage": covered / n_int if n_int else math.nan,
            "n_intervals": n_int, "covered": covered,
            "halfwidth_median": float(np.median(half)) if half else math.nan,
            "seconds": sum(tr.seconds.get(m, 0.0) for tr in runs),
            "interval_kinds": sorted({tr.scores[m]["interval_kind"] for tr in runs
                                      if m in tr.scores and tr.scores[m]["interval_kind"]}),
            "families": {k: {x: f[x] for x in ("are", "are_partial", "coverage", "halfwidth",
                                                "complete", "covered", "n_intervals")}
                         for k, f in fams.items()},
        }
        out[m] = entry
    for base in ("plain_ref", "plain"):
        if base not in out:
            continue
        bf = out[base]["families"]
        for m in methods:
            if m == base:
                continue
            mf = out[m]["families"]
            common = [k for k in bf if np.isfinite(bf[k]["are"])]
            worse = [k for k in common if not (np.isfinite(mf[k]["are"])
                                                and mf[k]["are"] <= bf[k]["are"] + ARE_TIE)]
            base_avg = _mean(bf[k]["are"] for k in common)
            m_avg = _mean(mf[k]["are"] for k in common) if not [
                k for k in common if not np.isfinite(mf[k]["are"])] else math.nan
            out[m][f"vs_{base}"] = {
                "families_compared": common, "families_worse_or_failed": worse,
                "no_worse_every_family": (not worse) if common else None,
                "mean_are_families": m_avg, "base_mean_are_families": base_avg,
                "ratio": m_avg / base_avg if base_avg else math.nan,
                "at_least_20pct_lower": (bool(np.isfinite(m_avg) and m_avg <= 0.8 * base_avg)
                                         if common else None),
            }
    return out


def goals(summary: dict[str, Any], epoch: list[dict[str, Any]],
          methods: list[str]) -> dict[str, dict[str, bool | None]]:
    """The issue's goals per interval method: True/False, or None where not measured."""
    def in_range(c: float) -> bool | None:
        return None if c is None or not np.isfinite(c) else bool(0.80 <= c <= 0.97)

    out: dict[str, dict[str, bool | None]] = {}
    for m in methods:
        if m in ("naive", "plain_ref"):
            continue
        g: dict[str, bool | None] = {}
        if m in summary:
            ref = summary[m].get("vs_plain_ref")
            g["dev coverage 80-97%"] = in_range(summary[m]["coverage"])
            g["dev ARE <= plain_ref on every family"] = \
                None if ref is None else ref["no_worse_every_family"]
            g["dev ARE >= 20% below plain_ref"] = \
                None if ref is None else ref["at_least_20pct_lower"]
        for row in epoch:
            if row["method"] != m:
                continue
            cut = row["task"]
            g[f"epoch {cut}: coverage 80-97%"] = in_range(row["coverage"])
            g[f"epoch {cut}: median hw <= 3%"] = (None if not np.isfinite(row["halfwidth"])
                                                  else bool(row["halfwidth"] <= 0.03))
            if cut == "cut 1e+21":
                g[f"epoch {cut}: median ARE <= 0.9%"] = (
                    None if row["error"] else bool(row["median_are"] <= 0.009))
        out[m] = g
    return out


def epoch_summary(runs: list[TaskRun], methods: list[str]) -> list[dict[str, Any]]:
    rows = []
    for tr in runs:
        if tr.task.family != "epoch":
            continue
        true = tr.targets["loss"].to_numpy(dtype=float)
        naive = tr.predictions["naive"].point if "naive" in tr.predictions else None
        for m in methods:
            if m not in tr.predictions:
                continue
            p, s = tr.predictions[m], tr.scores[m]
            are = np.abs(p.point - true) / true
            row = {"task": tr.task.name, "method": m, "n_fit": tr.n_fit_runs,
                   "n_held": len(true), "median_are": float(np.median(are)),
                   "mean_are": s["are"], "signed": s["signed"], "coverage": s["coverage"],
                   "halfwidth": s["halfwidth"], "interval_kind": s["interval_kind"],
                   "max_extrapolation": float(tr.extrapolation.max()), "error": s["error"]}
            if naive is not None and m != "naive":
                row["beats_naive"] = int((are < np.abs(naive - true) / true).sum())
            rows.append(row)
    return rows


# -- printing ------------------------------------------------------------------------------------
def pct(x: float, digits: int = 2) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"


def yesno(x: bool | None) -> str:
    return "-" if x is None else ("yes" if x else "no")


def print_tables(runs: list[TaskRun], methods: list[str], summary: dict[str, Any],
                 per_run: bool, bootstrap: int) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(width=200)
    interval_methods = [m for m in methods if m not in ("naive", "plain_ref")]
    dev = [tr for tr in runs if tr.task.family != "epoch"]

    def task_table(title: str, rows: list[tuple[str, str, int, int, dict[str, dict]]]) -> None:
        t = Table(title=title)
        for col in ("family", "task", "fit runs", "targets"):
            t.add_column(col, justify="left" if col in ("family", "task") else "right")
        for m in methods:
            t.add_column(f"{m} ARE% (signed)", justify="right")
        for m in interval_methods:
            t.add_column(f"{m} cov / hw%", justify="right")
        for family, name, n_fit, n_t, sc in rows:
            cells = [family, name, str(n_fit), str(n_t)]
            for m in methods:
                s = sc[m]
                cells.append("FAILED" if not np.isfinite(s["are"]) else
                             f"{pct(s['are'])} ({pct(s['signed'], 1)})")
            for m in interval_methods:
                s = sc[m]
                cells.append("-" if not s["n_intervals"] else
                             f"{s['covered']}/{s['n_intervals']} / {pct(s['halfwidth'], 1)}")
            t.add_row(*cells)
        console.print(t)

    if dev:
        groups = {m: group_scores(dev, m) for m in methods}
        fit_runs: dict[tuple[str, str], int] = {}
        for tr in dev:
            key = (tr.task.family, tr.task.group)
            fit_runs[key] = fit_runs.get(key, 0) + tr.n_fit_runs
        rows = []
        for key in groups[methods[0]]:
            sc = {m: groups[m][key] for m in methods}
            rows.append((key[0], key[1], fit_runs[key], sc[methods[0]]["n_targets"], sc))
        task_table(f"development library: README tasks (B={bootstrap}, level {LEVEL}; "
                   f"per-run tasks pooled over their runs)", rows)
        if per_run:
            rows = [(tr.task.family, tr.task.name, tr.n_fit_runs, len(tr.targets), tr.scores)
                    for tr in dev]
            task_table("development library: every sub-task", rows)

        fam = Table(title="per family (each family's tasks averaged; coverage pooled)")
        fam.add_column("family")
        for m in methods:
            fam.add_column(f"{m} ARE%", justify="right")
        for m in interval_methods:
            fam.add_column(f"{m} coverage", justify="right")
        families = list(summary[methods[0]]["families"])
        for f in families:
            cells = [f]
            for m in methods:
                e = summary[m]["families"][f]
                cells.append(pct(e["are"]) if e["complete"] else
                             f"FAILED ({pct(e['are_partial'])} partial)"
                             if np.isfinite(e["are_partial"]) else "FAILED")
            for m in interval_methods:
                e = summary[m]["families"][f]
                cells.append("-" if not e["n_intervals"] else
                             f"{e['covered']}/{e['n_intervals']}")
            fam.add_row(*cells)
        console.print(fam)

        st = Table(title="summary over the development library (goals: coverage 80-97%, "
                         "no family worse than plain, >= 20% lower on average)")
        for col in ("method", "sub-tasks failed", "mean ARE% tasks", "mean ARE% families",
                    "coverage", "median hw%", "interval", "<= plain_ref every family",
                    ">=20% below plain_ref", "<= plain every family", ">=20% below plain",
                    "seconds"):
            st.add_column(col, justify="left" if col in ("method", "interval") else "right")
        for m in methods:
            e = summary[m]
            ref, pl = e.get("vs_plain_ref"), e.get("vs_plain")
            fam_mean = pct(e["mean_are_families"]) if np.isfinite(e["mean_are_families"]) \
                else f"({pct(e['mean_are_families_partial'])} partial)"
            task_mean = pct(e["mean_are_tasks"]) if np.isfinite(e["mean_are_tasks"]) \
                else f"({pct(e['mean_are_tasks_partial'])} partial)"
            st.add_row(m, f"{e['subtasks_failed']}/{e['subtasks']}", task_mean, fam_mean,
                       f"{pct(e['coverage'], 1)}% ({e['covered']}/{e['n_intervals']})"
                       if e["n_intervals"] else "-",
                       pct(e["halfwidth_median"], 1), ",".join(e["interval_kinds"]) or "-",
                       yesno(ref and ref["no_worse_every_family"]) if ref else "-",
                       yesno(ref and ref["at_least_20pct_lower"]) if ref else "-",
                       yesno(pl and pl["no_worse_every_family"]) if pl else "-",
                       yesno(pl and pl["at_least_20pct_lower"]) if pl else "-",
                       f"{e['seconds']:.1f}")
        console.print(st)
        for m in methods:
            if m in BUILTIN_METHODS and m != "default":
                continue
            for base in ("plain_ref", "plain"):
                v = summary[m].get(f"vs_{base}")
                if v and v["families_worse_or_failed"]:
                    console.print(f"{m} vs {base}: worse or failed on "
                                  f"{', '.join(v['families_worse_or_failed'])}", highlight=False)

    ep = epoch_summary(runs, methods)
    if ep:
        t = Table(title="Epoch Chinchilla backtests (245 runs, default settings, no "
                        "drop-highest; goals: coverage 80-97%, median hw <= 3%, median ARE "
                        "<= 0.9% at 1e21)")
        for col in ("cut", "method", "fit/held", "median ARE%", "mean ARE%", "signed%",
                    "beats naive", "coverage", "median hw%", "interval", "max extrap."):
            t.add_column(col, justify="left" if col in ("cut", "method", "interval") else "right")
        for r in ep:
            failed = r["error"] is not None
            t.add_row(r["task"], r["method"], f"{r['n_fit']}/{r['n_held']}",
                      "FAILED" if failed else pct(r["median_are"]), pct(r["mean_are"]),
                      pct(r["signed"]), str(r.get("beats_naive", "-")),
                      pct(r["coverage"], 1), pct(r["halfwidth"], 2),
                      r["interval_kind"] or "-", f"{r['max_extrapolation']:.1f}x")
        console.print(t)

    met = goals(summary, ep, methods)
    if met and any(met.values()):
        names = list(dict.fromkeys(k for g in met.values() for k in g))
        t = Table(title="the issue's goals (yes / no; - where not measured)")
        t.add_column("goal")
        for m in met:
            t.add_column(m, justify="center")
        for name in names:
            t.add_row(name, *[yesno(met[m].get(name)) for m in met])
        console.print(t)

    failures = [(tr.task.key, m, p.error) for tr in runs for m, p in tr.predictions.items()
                if p.error]
    notes = [(tr.task.key, m, p.info["interval_error"]) for tr in runs
             for m, p in tr.predictions.items() if "interval_error" in p.info]
    if failures or notes:
        console.print(f"failures ({len(failures)}): each counted above, none skipped",
                      highlight=False)
        for key, m, msg in failures:
            console.print(f"  {m:>10} {key}: {msg}", highlight=False)
        for key, m, msg in notes:
            console.print(f"  {m:>10} {key}: interval failed ({msg})", highlight=False)


# -- command line --------------------------------------------------------------------------------
def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    name, sep, text = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise BenchError(f"--variant needs NAME=JSON, got {spec!r}")
    if name in BUILTIN_METHODS:
        raise BenchError(f"variant name {name!r} clashes with a built-in method")
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchError(f"--variant {name}: invalid JSON ({exc.msg})") from None
    if not isinstance(options, dict):
        raise BenchError(f"--variant {name}: JSON must be an object of fit options")
    for key in ("bootstrap", "seed"):
        if key in options:
            raise BenchError(f"--variant {name}: {key!r} is set by the benchmark")
    return name, options


def select_tasks(families: list[str] | None, patterns: list[str] | None,
                 quick: bool) -> list[Task]:
    tasks = dev_tasks() + epoch_tasks()
    known = set(DEV_FAMILIES) | {"epoch"}
    if families:
        unknown = [f for f in families if f not in known]
        if unknown:
            raise BenchError(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} "
                             f"{', '.join(unknown)}; choose from {', '.join(sorted(known))}")
        tasks = [t for t in tasks if t.family in families]
    if patterns:
        tasks = [t for t in tasks if any(_matches(t, p, tasks) for p in patterns)]
    if quick:  # one sub-task per README task
        seen: set[tuple[str, str]] = set()
        kept = []
        for t in tasks:
            if (t.family, t.group) not in seen:
                seen.add((t.family, t.group))
                kept.append(t)
        tasks = kept
    if not tasks:
        raise BenchError("no task matches the given --families / --tasks")
    return tasks


def _matches(task: Task, pattern: str, tasks: list[Task]) -> bool:
    """An exact FAMILY/TASK key selects only that task; else a glob, else a substring."""
    if any(t.key == pattern for t in tasks):
        return task.key == pattern
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(task.key, pattern)
    return pattern in task.key


def build_methods(names: list[str], variants: list[tuple[str, dict[str, Any]]],
                  baselines: dict[str, Any],
                  plain_bootstrap: int | None = None,
                  centre: str = "point") -> dict[str, Callable[..., Prediction]]:
    def plain(task: Task, fit_rows: pd.DataFrame, targets: pd.DataFrame,
              bootstrap: int) -> Prediction:
        b = bootstrap if plain_bootstrap is None else plain_bootstrap
        return method_plain(task, fit_rows, targets, b)

    table: dict[str, Callable[..., Prediction]] = {
        "naive": method_naive, "plain_ref": make_reference_method(baselines),
        "plain": plain, "default": make_scalinglab_method({}, centre)}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise BenchError(f"unknown method(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(BUILTIN_METHODS)} (add others with --variant)")
    methods = {n: table[n] for n in names}
    for name, options in variants:
        if name in methods:
            raise BenchError(f"variant {name!r} given twice")
        methods[name] = make_scalinglab_method(options, centre)
    return methods


def run_benchmark(tasks: list[Task], methods: dict[str, Callable[..., Prediction]],
                  bootstrap: int, progress: bool = True) -> list[TaskRun]:
    frames: dict[str, pd.DataFrame] = {}
    out = []
    for task in tasks:
        if task.family not in frames:
            frames[task.family] = load_family(task.family)
        if progress:
            print(f"  {task.key} ...", file=sys.stderr, flush=True)
        out.append(run_task(task, frames[task.family], methods, bootstrap))
    return out


def to_json(runs: list[TaskRun], methods: list[str], summary: dict[str, Any],
            variants: dict[str, Any], bootstrap: int, seconds: float,
            centre: str = "point") -> dict[str, Any]:
    tasks = []
    for tr in runs:
        t = tr.task
        entry = {"family": t.family, "group": t.group, "name": t.name, "law": t.law,
                 "plain_rows": t.plain_rows, "note": t.note, "n_fit_rows": tr.n_fit_rows,
                 "n_fit_runs": tr.n_fit_runs, "methods": {}}
        targets = tr.targets
        for m in methods:
            if m not in tr.predictions:
                continue
            p = tr.predictions[m]
            entry["methods"][m] = {
                **tr.scores[m], "seconds": tr.seconds[m], "info": p.info,
                "per_target": [
                    {"run_id": str(targets["run_id"].iloc[i]),
                     "n_params": float(targets["n_params"].iloc[i]),
                     "tokens": float(targets["tokens"].iloc[i]),
                     "true": float(targets["loss"].iloc[i]),
                     "extrapolation": float(tr.extrapolation[i]),
                     "pred": float(p.point[i]), "low": float(p.low[i]),
                     "high": float(p.high[i])}
                    for i in range(len(targets))]}
        tasks.append(entry)
    return to_jsonable({
        "format": "scalinglab.bench.extrapolation", "version": 1,
        "settings": {"bootstrap": bootstrap, "level": LEVEL, "seed": SEED, "methods": methods,
                     "variants": variants, "centre": centre,
                     "halfwidth": "(high - low) / 2 / predicted loss",
                     "data": str(DEV), "epoch": str(EPOCH)},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "numpy": np.__version__, "scalinglab": scalinglab.__version__},
        "wall_seconds": seconds, "summary": summary,
        "goals": goals(summary, epoch_summary(runs, methods), methods),
        "epoch": epoch_summary(runs, methods), "tasks": tasks})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=None,
                        help=f"comma list of families ({', '.join(DEV_FAMILIES)}, epoch)")
    parser.add_argument("--tasks", default=None,
                        help="comma list of patterns matched against FAMILY/TASK "
                             "(substring or glob)")
    parser.add_argument("--bootstrap", type=int, default=None,
                        help="bootstrap resamples per fit (default 200; 50 with --quick)")
    parser.add_argument("--methods", default=",".join(BUILTIN_METHODS),
                        help="comma list of built-in methods (default: all)")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=JSON: also score scalinglab.fit(rows, bootstrap=B, **JSON)")
    parser.add_argument("--plain-bootstrap", type=int, default=None,
                        help="bootstrap resamples of the plain fit's law interval (default: "
                             "--bootstrap; 0 skips it)")
    parser.add_argument("--centre", default="point", choices=CENTRES,
                        help="centre of the scalinglab methods' run intervals: the point "
                             "estimate (the library's) or a summary of the bootstrap "
                             "predictions (default: point)")
    parser.add_argument("--quick", action="store_true",
                        help="one sub-task per README task and B=50 unless --bootstrap is given")
    parser.add_argument("--per-run", action="store_true", help="also print every sub-task")
    parser.add_argument("--no-frontier", action="store_true",
                        help="skip the compute-optimal (frontier) tasks")
    parser.add_argument("--json", type=Path, default=None, help="write everything to this file")
    args = parser.parse_args(argv)
    try:
        bootstrap = args.bootstrap if args.bootstrap is not None else (50 if args.quick else 200)
        if bootstrap < 0:
            raise BenchError(f"--bootstrap must be >= 0, got {bootstrap}")
        variants = [parse_variant(v) for v in args.variant]
        names = [n.strip() for n in args.methods.split(",") if n.strip()]
        tasks = select_tasks(_split(args.families), _split(args.tasks), args.quick)
        if any(t.family != "epoch" for t in tasks) and not DEV.is_dir():
            raise BenchError(f"development data not found at {DEV}")
        if args.plain_bootstrap is not None and args.plain_bootstrap < 0:
            raise BenchError(f"--plain-bootstrap must be >= 0, got {args.plain_bootstrap}")
        methods = build_methods(names, variants, load_baselines(), args.plain_bootstrap,
                                args.centre)
        if not methods:
            raise BenchError("no method to run")
        start = time.perf_counter()
        runs = run_benchmark(tasks, methods, bootstrap)
        families = list(dict.fromkeys(t.family for t in tasks))
        frontier = [] if args.no_frontier else run_frontier(
            frontier_tasks(families, load_family), load_family,
            frontier_methods(list(methods), dict(variants)), bootstrap,
            lambda key: print(f"  {key} ...", file=sys.stderr, flush=True))
        seconds = time.perf_counter() - start
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = list(methods)
    summary = summarise(runs, names)
    print_tables(runs, names, summary, args.per_run, bootstrap)
    general = generalisation(runs, frontier, names, summary, dict(variants))
    print(f"{len(runs)} sub-tasks, {len(frontier)} frontier tasks, {len(names)} methods, "
          f"{seconds:.1f} s in all")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = to_json(runs, names, summary, dict(variants), bootstrap, seconds, args.centre)
        payload["generalisation"] = to_jsonable(general)
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")
    return 0


def generalisation(runs: list[TaskRun], frontier: list, names: list[str],
                   summary: dict[str, Any], variants: dict[str, Any]) -> dict[str, Any]:
    """Frontier scores, the leave-one-family-out table and issue 25's goals; printed."""
    from rich.console import Console  # noqa: PLC0415

    fscores = {m: frontier_scores(frontier, m) for m in names
               if any(m in fr.preds or m in fr.errors for fr in frontier)}
    candidates = [m for m in names if m == "default" or m in variants]
    dev_summary = {m: e for m, e in summary.items()}
    lofo = leave_one_family_out(dev_summary, candidates) if candidates and any(
        tr.task.family != "epoch" for tr in runs) else None
    met = generalisation_goals(summary, fscores, lofo) if any(
        tr.task.family != "epoch" for tr in runs) else {}
    print_generalisation(Console(width=200), frontier, names, fscores, lofo, met)
    return {"frontier": fscores, "frontier_tasks": [
        {"task": fr.task.key, "cut": fr.task.cut, "n_fit_runs": fr.n_fit_runs,
         "targets": fr.targets[["run_id", "n_params", "tokens", "loss"]].to_dict("records"),
         "predictions": {m: {k: (v.tolist() if hasattr(v, "tolist") else v)
                             for k, v in p.items()} for m, p in fr.preds.items()},
         "errors": fr.errors} for fr in frontier],
        "lofo": lofo, "goals": met}


def _split(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


if __name__ == "__main__":
    sys.exit(main())
