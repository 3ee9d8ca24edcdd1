"""The demo in words: its console output (rich) and ``summary.md``.

Everything here reads what the pipeline measured (:class:`~scalinglab.study.summary.DemoSummary`,
:class:`~scalinglab.study.fits.SweepFits`, the plan) and computes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from rich.console import Console

from scalinglab.fit.interval_text import describe_sources
from scalinglab.study.fits import SweepFits
from scalinglab.study.sizing import CREDIBLE_N_OPT_EXPONENT
from scalinglab.study.summary import DemoSummary, TaskSummary
from scalinglab.sweep.plan import PlannedRun, SweepPlan


class DemoConsole:
    """Human output (rich) on stdout, or on stderr when stdout carries JSON."""

    def __init__(self, quiet_stdout: bool, spell: Callable[[str], str] | None = None):
        self.console = Console(stderr=quiet_stdout)
        self.spell = spell or (lambda text: text)

    def rule(self, text: str) -> None:
        self.console.rule(f"[bold]{text}")

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.console.print(*args, **kwargs)

    def line(self, text: str) -> None:
        """``text`` without rich markup, in the caller's spelling of settings (``spell``: the
        command line names its flags where the library names keywords)."""
        self.console.print(self.spell(text), markup=False)


def print_plan(ui: DemoConsole, plan: SweepPlan) -> None:
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


def print_fits(ui: DemoConsole, fits: SweepFits, fit_min_steps: int, level: float) -> None:
    ui.rule("fits")
    p = fits.approach3.params
    ui.line(f"Approach 3 (Chinchilla L(N, D), {fits.points_used} of {fits.points_total} points "
            f"with >= {fit_min_steps} steps): E={p['E']:.4f} A={p['A']:.4g} "
            f"alpha={p['alpha']:.3f} B={p['B']:.4g} beta={p['beta']:.3f}")
    for warning in fits.approach3.warnings:
        ui.line(f"  warning: {warning}")
    ui.line(backtest_line(fits.backtest, level))
    a2 = fits.approach2
    if a2 is not None:
        low, high = CREDIBLE_N_OPT_EXPONENT
        verdict = ("" if low <= a2.a <= high else
                   f" -- not credible (a outside {low:g}-{high:g}; published 0.46-0.73): "
                   f"the sweep's IsoFLOP minima are too noisy to size the run")
        ui.line(f"Approach 2 (IsoFLOP profiles): N_opt ~ C^{a2.a:.3f}, D_opt ~ C^{a2.b:.3f}"
                f"{verdict}")
    else:
        ui.line(f"Approach 2 could not be fitted: {fits.approach2_error}")


def backtest_line(check: dict, level: float) -> str:
    """The within-sweep backtest in one sentence (or why it was not possible)."""
    if "error" in check:
        return f"within-sweep backtest not possible: {check['error']}"
    return (f"within-sweep backtest: fitted on the {check['fitted_points']} points below "
            f"{check['cut_flops']:.3g} FLOPs, the law predicts the top level's "
            f"{check['held_out_points']} points (up to {check['max_extrapolation']:.1f}x beyond) "
            f"with errors {check['min_rel_error']:+.2%} to {check['max_rel_error']:+.2%} "
            f"(median {check['median_rel_error']:+.2%}); nested backtests of this kind "
            f"calibrate the extrapolation term of the {level:.0%} run interval below")


def print_prediction(ui: DemoConsole, run: PlannedRun, prediction: dict) -> None:
    ui.rule("prediction (made before the validation run trains)")
    ui.line(f"validation run {run.name}: N={run.shape.n_params:,}, D={run.config.tokens:.3g} "
            f"tokens, {run.planned_flops:.3g} FLOPs")
    what = "run interval" if prediction.get("kind") == "run" else "law interval (parameters only)"
    ui.line(f"PREDICTED loss {prediction['loss']:.4f} nats/token, "
            f"{prediction['level']:.0%} {what} [{prediction['low']:.4f}, "
            f"{prediction['high']:.4f}]")
    if prediction.get("components"):
        ui.line(f"  {describe_sources(prediction['components'])}")
    for note in run.notes:
        ui.line(f"  note: {note}")
    for warning in run.warnings:
        ui.line(f"  warning: {warning}")
    for task in prediction.get("tasks") or []:
        ui.line(task_prediction_line(task))
        for warning in task.get("warnings") or []:
            ui.line(f"  warning: {warning}")


def _task_name(task: str | None) -> str:
    return "task suite" if task is None else task.removeprefix("acc_")


def task_prediction_line(task: dict) -> str:
    """One task's frozen prediction (accuracy, fraction) in one line, or why there is none."""
    name = _task_name(task.get("task"))
    if task.get("refused"):
        return f"no accuracy prediction for {name}: {task['refused']}"
    through = (f"through the {task['intermediate']} {task['intermediate_loss']:.4f}"
               if task.get("intermediate") and task.get("intermediate_loss") is not None
               else f"via {task.get('via')}")
    return (f"PREDICTED accuracy on {name} {task['accuracy']:.3f}, {task['level']:.0%} run "
            f"interval [{task['low']:.3f}, {task['high']:.3f}] (chance {task['chance']:.2f}; "
            f"task chain {through})")


def task_verdict_line(task: TaskSummary) -> str:
    """One task's measured accuracy beside its prediction (or the stated refusal)."""
    name = _task_name(task.task)
    measured = "not measured" if task.measured is None else f"measured {task.measured:.3f}"
    if task.refused:
        return f"{name}: no accuracy prediction ({task.refused}); {measured}"
    if task.measured is None:
        return (f"{name}: predicted {task.predicted:.3f} [{task.low:.3f}, {task.high:.3f}], "
                f"not measured")
    inside = "inside" if task.inside_interval else "OUTSIDE"
    return (f"{name} accuracy: measured {task.measured:.3f} vs predicted {task.predicted:.3f} "
            f"({task.measured - task.predicted:+.3f}), {inside} the {task.level:.0%} run "
            f"interval [{task.low:.3f}, {task.high:.3f}]")


def print_verdict(ui: DemoConsole, summary: DemoSummary) -> None:
    ui.rule("verdict")
    p = summary.prediction
    inside = "inside" if summary.inside_interval else "OUTSIDE"
    which = " (exact expected loss)" if summary.loss_column == "exact_loss" else ""
    ui.line(f"measured{which} {summary.measured_loss:.4f} vs predicted {p.loss:.4f} "
            f"nats/token: relative error {summary.relative_error:+.2%}, {inside} the "
            f"{p.level:.0%} {'run ' if p.kind == 'run' else ''}interval, at "
            f"{summary.extrapolation_factor:.1f}x the largest sweep point "
            f"({summary.wall_seconds:.0f} s in all)")
    for task in summary.tasks or []:
        ui.line(task_verdict_line(task))
    exact = summary.exact
    if exact is not None:
        ui.line(f"fitted E {exact.fitted_E:.4f} vs exact best possible loss E_T "
                f"{exact.exact_best_loss:.4f} nats/token "
                f"({exact.fitted_E_relative_error:+.2%}){_e_interval(summary)}")


def _e_interval(summary: DemoSummary) -> str:
    exact = summary.exact
    if exact is None or exact.fitted_E_interval is None:
        return ""
    low, high = exact.fitted_E_interval
    inside = "inside" if exact.exact_best_loss_inside_E_interval else "OUTSIDE"
    return (f"; E_T is {inside} the fitted E's {summary.prediction.level:.0%} interval "
            f"[{low:.4f}, {high:.4f}]")


def markdown_summary(table: pd.DataFrame, summary: DemoSummary) -> str:
    """``summary.md``: the verdict, the within-sweep backtest and one row per run."""
    p = summary.prediction
    lines = ["# scalinglab demo", "",
             f"corpus {summary.corpus}, seed {summary.seed}, "
             f"wall {summary.wall_seconds:.0f} s", "",
             f"predicted {p.loss:.4f} nats/token ({p.level:.0%} interval "
             f"{p.low:.4f}-{p.high:.4f}), measured {summary.measured_loss:.4f} "
             f"({summary.loss_column}), error {summary.relative_error:+.2%} at "
             f"{summary.extrapolation_factor:.1f}x the largest sweep point", "",
             *[f"{task_verdict_line(task)}\n" for task in summary.tasks or []],
             backtest_line(summary.within_sweep_backtest, p.level), "",
             "| run | role | status | N | tokens | planned FLOPs | spent FLOPs | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in table.itertuples(index=False):
        lines.append(f"| {row.name} | {row.role} | {row.status} | {row.n_params:.0f} | "
                     f"{row.tokens:.3g} | {row.planned_flops:.3g} | {row.spent_flops:.3g} | "
                     f"{(row.wall_seconds or 0):.1f} |")
    return "\n".join(lines) + "\n"
