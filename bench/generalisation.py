"""Generalisation parts of bench/extrapolation.py (issue 25, item 6).

* :func:`discover_families` -- every ``*.csv`` of the development library, so that a family
  added later is benchmarked without code changes (:func:`generic_tasks` gives it tasks);
* compute-optimal (frontier) tasks: fit the runs below a compute cut, predict the lowest loss
  of each held-out IsoFLOP bin (the envelope of loss against compute), scored apart from the
  point tasks;
* the leave-one-family-out table: the default procedure chosen among the benchmarked
  scalinglab methods *without* a family, scored on that family.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import scalinglab
from scalinglab.errors import ScalingLabError
from scalinglab.fit import fit_parametric

#: IsoFLOP bins: runs whose 6ND rounds to the same 0.1 decade.
BIN_DECADES = 0.1
#: A held-out bin is a frontier target when it has this many runs spanning this many decades of N.
MIN_BIN_RUNS = 3
MIN_BIN_SPAN_DEX = 0.3
#: Each frontier task holds out the top k eligible bins (two tasks: k = 3 and 6).
HELD_BINS = (3, 6)
LEVEL = 0.9


# -- families -------------------------------------------------------------------------------------
def discover_families(dev: Path) -> tuple[str, ...]:
    """Every family file of the development library (``<family>.csv``), sorted."""
    return tuple(sorted(p.stem for p in dev.glob("*.csv")))


def generic_tasks(family: str, frame: pd.DataFrame, task_cls: type) -> list[Any]:
    """Tasks for a family without hand-written ones (one procedure for every new file).

    With at least 4 model sizes: fit the runs below the largest size, predict the final rows of
    the largest.  Otherwise, per run with a curve (>= 8 rows): fit its rows up to 30% of its
    final tokens, predict its final row.
    """
    finals = frame[frame["final"].astype(bool)]
    sizes = np.sort(finals["n_params"].unique())
    if len(sizes) >= 4:
        largest = float(sizes[-1])

        def select(f: pd.DataFrame, top: float = largest):
            fin = f[f["final"].astype(bool)]
            fit_runs = set(fin.loc[fin["n_params"] < top, "run_id"])
            return f[f["run_id"].isin(fit_runs)], fin[fin["n_params"] >= top]
        return [task_cls(family, "largest-N", "largest-N", select,
                         note="generic task: fit smaller sizes, predict the largest")]
    tasks = []
    for run_id, rows in frame.groupby("run_id"):
        if len(rows) < 8:
            continue

        def select(f: pd.DataFrame, rid: str = str(run_id)):
            run = f[f["run_id"] == rid]
            return run[run["tokens"] <= 0.3 * run["tokens"].max()], \
                run[run["final"].astype(bool)]
        tasks.append(task_cls(family, "per-run", str(run_id), select, law="L(D)",
                              plain_rows="all", note="generic curve task (30% of tokens)"))
    return tasks


# -- frontier tasks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrontierTask:
    """Fit the runs with 6ND < cut; targets: the lowest-loss run of each held-out bin."""

    family: str
    name: str
    cut: float                      # FLOPs (6ND)
    subset: Callable[[pd.DataFrame], pd.DataFrame]

    @property
    def key(self) -> str:
        return f"{self.family}/{self.name}"

    def select(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        part = self.subset(frame)
        compute = 6.0 * part["n_params"] * part["tokens"]
        finals = part[part["final"].astype(bool)]
        run_c = (6.0 * finals["n_params"] * finals["tokens"]).groupby(finals["run_id"]).max()
        fit_runs = set(run_c.index[run_c < self.cut])
        held = finals[compute.loc[finals.index] > self.cut]
        return part[part["run_id"].isin(fit_runs)], bin_minima(held)


def _bins(finals: pd.DataFrame) -> pd.Series:
    c = 6.0 * finals["n_params"] * finals["tokens"]
    return np.round(np.log10(c) / BIN_DECADES) * BIN_DECADES


def bin_minima(finals: pd.DataFrame) -> pd.DataFrame:
    """The lowest-loss run of each eligible IsoFLOP bin (>= 3 runs spanning >= 0.3 dex of N)."""
    if finals.empty:
        return finals
    b = _bins(finals)
    out = []
    for _, rows in finals.groupby(b):
        span = np.log10(rows["n_params"].max() / rows["n_params"].min())
        if len(rows) >= MIN_BIN_RUNS and span >= MIN_BIN_SPAN_DEX:
            out.append(rows.loc[[rows["loss"].idxmin()]])
    return pd.concat(out) if out else finals.iloc[:0]


def _subset(frame: pd.DataFrame, column: str | None, value: Any) -> pd.DataFrame:
    part = frame if column is None else frame[frame[column] == value]
    if "unique_tokens" in part.columns:  # repeated data is not the compute-optimal frontier
        rows_ok = part["tokens"] <= part["unique_tokens"] * (1 + 1e-3)
        finals = part[part["final"].astype(bool) & rows_ok]
        part = part[part["run_id"].isin(set(finals["run_id"]))]
    return part


def frontier_tasks_for(family: str, frame: pd.DataFrame) -> list[FrontierTask]:
    """Frontier tasks of one family: per ``dataset`` (when the column exists), two cuts each."""
    column = "dataset" if "dataset" in frame.columns and frame["dataset"].nunique() > 1 else None
    values = [None] if column is None else sorted(frame[column].dropna().unique())
    tasks = []
    for value in values:
        def subset(f: pd.DataFrame, v: Any = value) -> pd.DataFrame:
            return _subset(f, column, v)
        part = subset(frame)
        finals = part[part["final"].astype(bool)]
        eligible = sorted(_bins(bin_minima(finals)).unique()) if not finals.empty else []
        label = "" if value is None else f"{value} "
        for k in HELD_BINS:
            if len(eligible) < k + 3:  # keep at least 3 eligible bins to fit on
                continue
            cut = 10 ** (eligible[-k] - BIN_DECADES / 2)
            tasks.append(FrontierTask(family, f"{label}frontier C>{cut:.1e}", cut, subset))
    return tasks


def epoch_frontier_tasks() -> list[FrontierTask]:
    """The Epoch backtests' cuts (3e20, 1e21 FLOPs), frontier targets."""
    return [FrontierTask("epoch", f"frontier C>{cut:.0e}", cut, lambda f: f)
            for cut in (3e20, 1e21)]


# -- frontier methods -----------------------------------------------------------------------------
@dataclass
class FrontierRun:
    task: FrontierTask
    n_fit_runs: int
    targets: pd.DataFrame
    preds: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def frontier_plain(fit_rows: pd.DataFrame, C: np.ndarray, bootstrap: int) -> dict[str, Any]:
    """Chinchilla on the final rows, its closed-form frontier loss and law interval."""
    rows = fit_rows[fit_rows["final"].astype(bool)]
    result = fit_parametric(rows, "chinchilla", bootstrap=bootstrap, seed=0,
                            checkpoints_after=None, frontier_filter=None, calibrate=False)
    front = result.frontier(C, LEVEL)["loss"]
    return {"point": np.atleast_1d(front["value"]), "low": np.atleast_1d(front.get("low", _nan(len(C)))),
            "high": np.atleast_1d(front.get("high", _nan(len(C))))}


def frontier_scalinglab(fit_rows: pd.DataFrame, C: np.ndarray, bootstrap: int,
                        options: dict[str, Any]) -> dict[str, Any]:
    """``scalinglab.fit`` and the run interval of a new run at the predicted optimum."""
    result = scalinglab.fit(fit_rows.reset_index(drop=True), bootstrap=bootstrap, **options)
    band = result.frontier(C, LEVEL, allow_far=True)["loss"]   # the labelled run interval
    return {"point": np.atleast_1d(band["value"]), "low": np.atleast_1d(band["low"]),
            "high": np.atleast_1d(band["high"]), "law": result.law.name,
            "source": band.get("source", "law_frontier"),
            "chosen": (result.diagnostics.get("selection") or {}).get("chosen", result.law.name)}


def frontier_naive(fit_rows: pd.DataFrame, C: np.ndarray, bootstrap: int) -> dict[str, Any]:
    best = float(fit_rows[fit_rows["final"].astype(bool)]["loss"].min())
    return {"point": np.full(len(C), best), "low": _nan(len(C)), "high": _nan(len(C))}


def run_frontier(tasks: list[FrontierTask], load: Callable[[str], pd.DataFrame],
                 methods: dict[str, Callable[..., dict[str, Any]]], bootstrap: int,
                 progress: Callable[[str], None] | None = None) -> list[FrontierRun]:
    out = []
    for task in tasks:
        frame = load(task.family)
        fit_rows, targets = task.select(frame)
        if progress:
            progress(task.key)
        fr = FrontierRun(task, int(fit_rows["run_id"].nunique()), targets.reset_index(drop=True))
        C = 6.0 * targets["n_params"].to_numpy(dtype=float) * targets["tokens"].to_numpy(dtype=float)
        for name, method in methods.items():
            try:
                fr.preds[name] = method(fit_rows, C, bootstrap)
            except (ScalingLabError, ValueError) as exc:
                fr.errors[name] = f"{type(exc).__name__}: {exc}"
        out.append(fr)
    return out


def frontier_scores(runs: list[FrontierRun], method: str) -> dict[str, Any]:
    """Per task and pooled: mean ARE, signed error, coverage, median half-width."""
    rows, all_are, covered, n_int, halves = [], [], 0, 0, []
    for fr in runs:
        true = fr.targets["loss"].to_numpy(dtype=float)
        if method in fr.errors or method not in fr.preds:
            rows.append({"task": fr.task.key, "error": fr.errors.get(method, "not run"),
                         "are": math.nan})
            continue
        p = fr.preds[method]
        signed = (p["point"] - true) / true
        has = np.isfinite(p["low"]) & np.isfinite(p["high"])
        inside = (p["low"] <= true) & (true <= p["high"])
        half = (p["high"] - p["low"]) / 2 / p["point"]
        rows.append({"task": fr.task.key, "n": len(true), "are": float(np.mean(np.abs(signed))),
                     "signed": float(np.mean(signed)), "covered": int(inside[has].sum()),
                     "n_intervals": int(has.sum()),
                     "halfwidth": float(np.median(half[has])) if has.any() else math.nan,
                     "chosen": p.get("chosen", "")})
        all_are += list(np.abs(signed))
        covered += int(inside[has].sum())
        n_int += int(has.sum())
        halves += list(half[has])
    task_ares = [r["are"] for r in rows]
    return {"tasks": rows,
            "mean_are_tasks": float(np.mean(task_ares)) if task_ares and
            all(np.isfinite(task_ares)) else math.nan,
            "coverage": covered / n_int if n_int else math.nan, "covered": covered,
            "n_intervals": n_int,
            "halfwidth_median": float(np.median(halves)) if halves else math.nan}


# -- leave one family out -------------------------------------------------------------------------
def leave_one_family_out(summary: dict[str, Any], candidates: list[str],
                         base: str = "plain_ref") -> dict[str, Any]:
    """Choose the default among ``candidates`` without each family, score it on that family.

    The choice (the rule the defaults are chosen by): the lowest mean family ARE over the
    other families among the candidates that are worse than ``base`` by at most
    :data:`FAMILY_TOLERANCE` on none of them (all candidates when none qualifies, or without
    ``base``).  Returns the per-family rows and the mean over families, beside the in-sample
    choice (made with every family) and its mean.  With a single candidate the two coincide
    by construction.
    """
    fams = [f for f in summary[candidates[0]]["families"]
            if all(np.isfinite(summary[m]["families"][f]["are"]) for m in candidates)]
    if not fams:
        return {"rows": [], "lofo_mean": math.nan, "in_sample_mean": math.nan}

    def mean_over(m: str, keep: list[str]) -> float:
        return float(np.mean([summary[m]["families"][f]["are"] for f in keep]))

    def choose(keep: list[str]) -> str:
        return min(_within_base(summary, candidates, keep, base),
                   key=lambda m: mean_over(m, keep))

    in_choice = choose(fams)
    rows = []
    for f in fams:
        others = [g for g in fams if g != f]
        choice = choose(others)
        entry = {"family": f, "chosen_without": choice,
                 "are": summary[choice]["families"][f]["are"],
                 "in_sample_are": summary[in_choice]["families"][f]["are"]}
        if base in summary:
            entry["base_are"] = summary[base]["families"][f]["are"]
        rows.append(entry)
    lofo = float(np.mean([r["are"] for r in rows]))
    in_sample = mean_over(in_choice, fams)
    return {"rows": rows, "candidates": candidates, "in_sample_choice": in_choice,
            "lofo_mean": lofo, "in_sample_mean": in_sample,
            "ratio": lofo / in_sample if in_sample else math.nan}


#: a default may be worse than the plain final-row fit by at most this much on a family (ARE,
#: fraction: 0.1 point), issue 25's goal
FAMILY_TOLERANCE = 0.001


def _within_base(summary: dict[str, Any], candidates: list[str], families: list[str],
                 base: str) -> list[str]:
    """The candidates no worse than ``base`` by more than FAMILY_TOLERANCE on any of
    ``families`` (every candidate when none is, or when ``base`` was not run)."""
    if base not in summary:
        return list(candidates)
    ref = summary[base]["families"]
    ok = [m for m in candidates
          if all(summary[m]["families"][f]["are"] <= ref[f]["are"] + FAMILY_TOLERANCE
                 for f in families if np.isfinite(ref[f]["are"]))]
    return ok or list(candidates)


# -- wiring for extrapolation.py ------------------------------------------------------------------
def frontier_methods(names: list[str], variants: dict[str, dict[str, Any]]
                     ) -> dict[str, Callable[..., dict[str, Any]]]:
    """The frontier counterpart of each benchmarked method (plain_ref has none)."""
    table: dict[str, Callable[..., dict[str, Any]]] = {}
    for name in names:
        if name == "naive":
            table[name] = frontier_naive
        elif name == "plain":
            table[name] = frontier_plain
        elif name == "default" or name in variants:
            options = variants.get(name, {})
            table[name] = (lambda rows, C, b, o=options: frontier_scalinglab(rows, C, b, o))
    return table


def frontier_tasks(families: list[str], load: Callable[[str], pd.DataFrame]) -> list[FrontierTask]:
    tasks: list[FrontierTask] = []
    for family in families:
        tasks += epoch_frontier_tasks() if family == "epoch" else \
            frontier_tasks_for(family, load(family))
    return tasks


def generalisation_goals(summary: dict[str, Any], frontier: dict[str, dict[str, Any]],
                         lofo: dict[str, Any] | None) -> dict[str, dict[str, bool | None]]:
    """Issue 25's development-library goals per scalinglab method."""
    def in_range(c: float) -> bool | None:
        return None if c is None or not np.isfinite(c) else bool(0.80 <= c <= 0.97)

    out: dict[str, dict[str, bool | None]] = {}
    for m, entry in summary.items():
        if m in ("naive", "plain_ref"):
            continue
        ref = entry.get("vs_plain_ref")
        g: dict[str, bool | None] = {"point coverage 80-97%": in_range(entry["coverage"])}
        if ref:
            g["mean family ARE >= 40% below plain_ref"] = bool(
                np.isfinite(ref["mean_are_families"])
                and ref["mean_are_families"] <= 0.6 * ref["base_mean_are_families"])
            fams = entry["families"]
            base = summary["plain_ref"]["families"]
            g["no family worse than plain_ref by > 0.1 point"] = all(
                np.isfinite(fams[f]["are"]) and fams[f]["are"] <= base[f]["are"] + FAMILY_TOLERANCE
                for f in ref["families_compared"])
        if m in frontier:
            g["frontier coverage 80-97%"] = in_range(frontier[m]["coverage"])
        out[m] = g
    if lofo and lofo.get("rows"):
        for m in out:
            out[m]["LOFO mean ARE within 10% of in-sample"] = bool(lofo["ratio"] <= 1.10)
    return out


def print_generalisation(console, frontier_runs: list[FrontierRun], names: list[str],
                         fscores: dict[str, dict[str, Any]], lofo: dict[str, Any] | None,
                         met: dict[str, dict[str, bool | None]]) -> None:
    from rich.table import Table  # noqa: PLC0415

    def pct(x: float, digits: int = 2) -> str:
        return "-" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"

    if frontier_runs:
        t = Table(title="compute-optimal (frontier) tasks: lowest loss of each held-out IsoFLOP "
                        "bin; ARE % (signed), coverage / median half-width %")
        t.add_column("task")
        t.add_column("fit runs / targets", justify="right")
        for m in fscores:
            t.add_column(m, justify="right")
        for i, fr in enumerate(frontier_runs):
            cells = [fr.task.key, f"{fr.n_fit_runs}/{len(fr.targets)}"]
            for m in fscores:
                r = fscores[m]["tasks"][i]
                if not np.isfinite(r["are"]):
                    cells.append("FAILED")
                    continue
                cov = f"{r['covered']}/{r['n_intervals']} / {pct(r['halfwidth'], 1)}" \
                    if r["n_intervals"] else "-"
                cells.append(f"{pct(r['are'])} ({pct(r['signed'], 1)}) {cov}")
            t.add_row(*cells)
        console.print(t)
        s = Table(title="frontier summary")
        for col in ("method", "mean ARE % tasks", "coverage", "median hw %"):
            s.add_column(col, justify="right" if col != "method" else "left")
        for m, f in fscores.items():
            s.add_row(m, pct(f["mean_are_tasks"]),
                      f"{pct(f['coverage'], 1)}% ({f['covered']}/{f['n_intervals']})"
                      if f["n_intervals"] else "-", pct(f["halfwidth_median"], 1))
        console.print(s)
    if lofo and lofo.get("rows"):
        t = Table(title=f"leave one family out: the default chosen among "
                        f"{', '.join(lofo['candidates'])} without the family, scored on it")
        for col in ("family", "chosen without it", "ARE %", "in-sample choice ARE %",
                    "plain_ref ARE %"):
            t.add_column(col, justify="left" if col in ("family", "chosen without it") else "right")
        for r in lofo["rows"]:
            t.add_row(r["family"], r["chosen_without"], pct(r["are"]), pct(r["in_sample_are"]),
                      pct(r.get("base_are", math.nan)))
        t.add_row("mean", f"(in-sample: {lofo['in_sample_choice']})", pct(lofo["lofo_mean"]),
                  pct(lofo["in_sample_mean"]), "")
        console.print(t)
    if met:
        names_ = list(dict.fromkeys(k for g in met.values() for k in g))
        t = Table(title="issue 25 goals (development library)")
        t.add_column("goal")
        for m in met:
            t.add_column(m, justify="center")
        for n in names_:
            t.add_row(n, *["-" if met[m].get(n) is None else ("yes" if met[m][n] else "no")
                           for m in met])
        console.print(t)
