"""One sweep sequence for every caller: add the runs, make the executor, show progress, train
what is not done, close the executor.

``scalinglab sweep run`` and the study pipeline (the sweep, then the validation run) both call
:func:`run_sweep`; it is idempotent (runs already done are skipped, so re-running resumes).

Typical use::

    from scalinglab.sweep import SQLiteRunStore, SweepSettings, run_sweep
    with SQLiteRunStore("my-sweep") as store:
        result = run_sweep(store, "my-sweep", plan.runs, "kjv", "byte", SweepSettings(workers=2))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from scalinglab.errors import ScalingLabError
from scalinglab.sweep.executors import (
    Executor,
    LocalExecutor,
    RunOutcome,
    make_executor,
    run_pending,
)
from scalinglab.sweep.plan import PlannedRun
from scalinglab.sweep.progress import SweepProgress
from scalinglab.sweep.store import RunStore, StoredRun


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep's runs are trained.

    ``executor``: ``local`` or ``ray``; ``workers``: local processes; ``ray_address``: a Ray
    cluster to join (None starts one); ``threads``: torch threads per run (None: cpu_count /
    workers); ``retries``: attempts after the first before a run is failed; ``isolate``: train
    even one local worker's runs in a spawned process (passive OpenMP wait; see
    :class:`~scalinglab.sweep.executors.LocalExecutor`); ``gpus_per_run``: GPUs per run
    (``CUDA_VISIBLE_DEVICES`` per local worker, ``num_gpus`` per Ray task); ``trainer``: an
    :class:`~scalinglab.sweep.external.ExternalTrainer` that trains the runs instead of the
    built-in GPT (None: the built-in trainer); ``tasks``: every evaluation also scores the
    held-out task suite (:mod:`scalinglab.train.tasks`), so the records carry ``acc_<task>`` and
    ``task_loss_<task>`` (built-in trainer only; it leaves the losses unchanged).
    """

    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    threads: int | None = None
    retries: int = 1
    isolate: bool = False
    gpus_per_run: int = 0
    trainer: Any = None
    tasks: bool = False

    def __post_init__(self) -> None:
        if self.tasks and self.trainer is not None:
            raise ScalingLabError("the task suite is scored by the built-in trainer only; an "
                                  "external trainer logs its own task columns (acc_<task>)")

    def make_executor(self) -> Executor:
        """The executor these settings describe (the caller closes it)."""
        if self.executor == "local" and self.isolate:
            return LocalExecutor(self.workers, threads=self.threads, isolate=True)
        return make_executor(self.executor, self.workers, self.ray_address, self.threads,
                             self.gpus_per_run)


@dataclass
class SweepStart:
    """What a sweep is about to do: runs to train, runs asked for, and the executor's workers."""

    to_do: int
    total: int
    workers: int

    @property
    def already_done(self) -> int:
        return self.total - self.to_do


@dataclass
class SweepRunResult:
    """The runs asked for, as the store holds them afterwards, and the outcomes of this call."""

    start: SweepStart
    runs: list[StoredRun] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)


def run_sweep(store: RunStore, directory: str | Path, runs: Sequence[PlannedRun], corpus: str,
              tokenizer: str, settings: SweepSettings, *, console: Console | None = None,
              title: str = "sweep", show_progress: bool = True,
              on_start: Callable[[SweepStart], None] | None = None) -> SweepRunResult:
    """Add ``runs`` to ``store`` and train those not done, with progress bars on ``console``.

    Checkpoints go under ``directory``; ``on_start`` is told how many runs are to do before
    any trains.  Runs that fail after their retries are marked failed in the store (see
    :func:`~scalinglab.sweep.executors.run_pending` for Ctrl-C and a full disk).
    """
    store.add_runs(r.stored() for r in runs)
    stored = [store.get(r.key) for r in runs]
    todo = [r for r in stored if r.status != "done"]
    executor = settings.make_executor()
    try:
        start = SweepStart(len(todo), len(stored), executor.workers)
        if on_start is not None:
            on_start(start)
        outcomes: list[RunOutcome] = []
        if todo:
            with SweepProgress(console or Console(stderr=True), todo, title,
                               enabled=show_progress) as bars:
                outcomes = run_pending(store, executor, directory, corpus, tokenizer,
                                       runs=todo, retries=settings.retries,
                                       progress=bars.event, on_outcome=bars.finished,
                                       trainer=settings.trainer,
                                       task_suite=settings.tasks)
    finally:
        executor.close()
    return SweepRunResult(start, [store.get(r.key) for r in runs], outcomes)


__all__ = ["SweepRunResult", "SweepSettings", "SweepStart", "run_sweep"]
