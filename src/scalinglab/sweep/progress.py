"""Rich progress for sweeps: an overall FLOPs bar and one bar per run in flight."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from scalinglab.sweep.executors import ProgressEvent, RunOutcome
from scalinglab.sweep.store import StoredRun


class SweepProgress:
    """Context manager turning executor events into rich bars (no-op when ``enabled`` is False).

    The overall bar counts planned FLOPs of finished runs; run bars count optimiser steps.
    """

    def __init__(self, console: Console, runs: list[StoredRun], title: str,
                 enabled: bool = True):
        self.enabled = enabled
        self.names = {r.key: r.name for r in runs}
        self.flops = {r.key: r.planned_flops for r in runs}
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                                 TimeElapsedColumn(), console=console, transient=False,
                                 disable=not enabled)
        total = sum(self.flops.values()) or 1.0
        self.overall = self.progress.add_task(f"[bold]{title}", total=round(total / 1e9),
                                              status="GFLOPs")
        self.bars: dict[str, int] = {}

    def __enter__(self) -> SweepProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def event(self, event: ProgressEvent) -> None:
        key, step, total, loss, rate, phase = event
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(f"  {self.names.get(key, key)}",
                                                    total=total, status="")
        loss_text = f"loss {loss:.3f}" if math.isfinite(loss) else ""
        self.progress.update(self.bars[key], completed=step, total=total,
                             status=f"{loss_text} {rate:,.0f} tok/s {phase}")

    def finished(self, run: StoredRun, outcome: RunOutcome) -> None:
        if outcome.key in self.bars:
            self.progress.remove_task(self.bars.pop(outcome.key))
        self.progress.advance(self.overall, round(self.flops.get(outcome.key, 0.0) / 1e9))
        if not self.enabled:
            return
        for warning in outcome.meta.get("warnings", []):  # e.g. a corrupt checkpoint
            self.progress.console.print(f"  warning: {run.name}: {warning}", markup=False)
        if outcome.interrupted:
            self.progress.console.print(f"  stopped {run.name}: {outcome.error}; it resumes "
                                        f"from there", markup=False)
        elif outcome.ok:
            finals = [r for r in outcome.records if r["final"]]
            losses = ", ".join(f"{r['loss']:.4f}" for r in finals)
            exact = [r.get("exact_loss") for r in finals]
            if finals and all(isinstance(x, float) and math.isfinite(x) for x in exact):
                # the synthetic language: its exact expected loss, which its fits use
                losses += " (exact " + ", ".join(f"{x:.4f}" for x in exact) + ")"
            self.progress.console.print(f"  [green]done[/] {run.name}: {len(finals)} point(s), "
                                        f"loss {losses} nats/token, "
                                        f"{outcome.wall_seconds:.1f} s")
        else:
            self.progress.console.print(f"  [red]failed[/] {run.name} after {outcome.attempts} "
                                        f"attempt(s): {outcome.error}", markup=True)
