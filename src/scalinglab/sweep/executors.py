"""Executors: who trains the planned runs -- this process, a local process pool, or Ray.

Workers only train (and write their own checkpoints); the driver owns the store.  Each task
gets a run's config and returns a :class:`RunOutcome` (records, timings or the error text), and
:func:`run_pending` writes it, so the same code serves a process pool and a Ray cluster whose
workers cannot reach the driver's SQLite file.  A failing run is retried ``retries`` times
(resuming from its checkpoint), then recorded as failed; the sweep goes on.

Faults (issue 13): Ctrl-C (SIGINT) asks every run in flight to checkpoint and stop (the pool
workers get the signal forwarded); interrupted runs go back to ``planned`` and
:func:`run_pending` raises :class:`SweepInterrupted` saying how to resume.  A full disk
(``ENOSPC``/``EDQUOT``) fails the run with the reason without retrying and stops the sweep
cleanly, since every other run would fail the same way.  Ray tasks are retried by Ray itself
(``max_retries``) when their worker process dies, and resume from their checkpoints.

Threads: a pool of W workers pins each to ``cpu_count // W`` torch threads; on a 2-core CPU two
one-thread processes train more tokens per second than one two-thread process (the trainer
issue's measurement: OpenMP threads spin when a core is busy).
"""

from __future__ import annotations

import concurrent.futures as futures
import errno
import functools
import multiprocessing
import os
import queue
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.records import RunRecord
from scalinglab.sweep.store import RunStore, StoredRun

#: Progress event: (run key, step, total steps, train loss nats/token, tokens/s, phase).
ProgressEvent = tuple[str, int, int, float, float, str]
ProgressCallback = Callable[[ProgressEvent], None]
#: Ray's default object store takes 30% of RAM; run outcomes are a few kB.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024**2
#: errors that no retry can cure: the disk is full (or over quota)
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: set when this process is asked to stop (SIGINT in the driver or in a pool worker)
STOP = threading.Event()
#: seconds the driver waits for pool workers to checkpoint after a stop before killing them
STOP_GRACE_SECONDS = 30.0


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped on Ctrl-C after checkpointing its runs; the message says how to resume."""


class SweepStopped(ScalingLabError):
    """A sweep stopped cleanly because of a fault no retry can cure (e.g. a full disk)."""


@dataclass
class RunTask:
    """What a worker needs to train one run (plain data, picklable, Ray-serialisable)."""

    key: str
    name: str
    config: dict[str, Any]
    corpus: str
    tokenizer: str
    checkpoint_dir: str
    threads: int | None
    retries: int = 1
    trainer: dict[str, Any] | None = None  # an external trainer's payload (sweep/external.py)
    tasks: bool = False  # score the held-out task suite at evaluations (built-in trainer)


@dataclass
class RunOutcome:
    """What a worker sends back: records and timings, or the error after the last attempt."""

    key: str
    ok: bool
    records: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
    spent_flops: float = 0.0
    error: str | None = None
    attempts: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False     # stopped on request; resumes from its checkpoint
    fatal: bool = False           # a fault that stops the sweep (a full disk)


@functools.lru_cache(maxsize=4)
def _corpus(source: str, tokenizer: str):
    from scalinglab.corpora import load_corpus  # noqa: PLC0415 (workers import lazily)

    return load_corpus(source, tokenizer=tokenizer)


def train_task(task: RunTask, progress: ProgressCallback | Any | None = None) -> RunOutcome:
    """Train one run, resuming from its checkpoint; retry, then report the error text.

    ``progress`` is a callable or a queue (``put``) receiving :data:`ProgressEvent` tuples.
    (A pool worker exits when its driver dies.)  A ``trainer`` task runs sweep/external_run.py.
    """
    if task.trainer is not None:
        from scalinglab.sweep.external_run import run_external  # noqa: PLC0415

        return RunOutcome(**run_external(task, progress, STOP))
    from scalinglab.train import TrainConfig, train_run  # noqa: PLC0415

    emit = getattr(progress, "put", progress)

    def on_progress(info) -> None:
        if emit is not None:
            emit((task.key, info.step, info.total_steps, info.train_loss,
                  info.tokens_per_second, info.phase))

    from scalinglab.train.loop import TrainingInterrupted  # noqa: PLC0415

    config = TrainConfig.from_dict({**task.config, "checkpoint_dir": task.checkpoint_dir,
                                    "threads": task.threads})
    error = ""
    for attempt in range(1, task.retries + 2):
        if STOP.is_set():
            return RunOutcome(task.key, False, error="interrupted before it started",
                              attempts=attempt - 1, interrupted=True)
        try:
            result = train_run(config, _corpus(task.corpus, task.tokenizer), resume=True,
                               progress=on_progress, should_stop=STOP.is_set, tasks=task.tasks)
        except TrainingInterrupted as exc:
            return RunOutcome(task.key, False, error=str(exc), attempts=attempt,
                              interrupted=True)
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if exc.errno in DISK_FULL_ERRNOS:
                return RunOutcome(task.key, False, error=error, attempts=attempt, fatal=True)
            continue
        except Exception as exc:  # noqa: BLE001 -- any failure is recorded, the sweep goes on
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            continue
        notes = [w for w in result.warnings if w not in result.plan.warnings]
        return RunOutcome(task.key, True, [r.to_dict() for r in result.records],
                          result.wall_seconds, result.flops_spent, None, attempt,
                          {"tokens_per_second": result.tokens_per_second,
                           "device": result.device, "checkpoint": result.checkpoint_path,
                           "resumed_from_step": result.resumed_from_step,
                           "warnings": notes})
    return RunOutcome(task.key, False, error=error, attempts=task.retries + 1)


def _exit_with_parent(parent: int) -> None:
    """In a helper process: exit as soon as ``parent`` is gone (checked twice a second)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _worker_init(parent: int | None = None, slots: Any = None, gpus_per_run: int = 0) -> None:
    """Pool worker start-up: SIGINT asks the run in flight to checkpoint and stop; a worker
    whose driver was killed exits, idle or training (a pool worker must not outlive a kill -9);
    worker slot k sees GPUs k*g .. k*g+g-1 only (``CUDA_VISIBLE_DEVICES``, g = gpus_per_run)."""
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    if parent is not None:
        _exit_with_parent(parent)
    if gpus_per_run > 0 and slots is not None:
        first = slots.get() * gpus_per_run  # one slot per worker, taken once
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(first + i) for i in range(gpus_per_run))


class Executor(ABC):
    """Runs tasks and yields their outcomes as they finish."""

    workers: int = 1

    @abstractmethod
    def execute(self, tasks: list[RunTask], progress: ProgressCallback | None,
                started: Callable[[RunTask], None] = lambda task: None
                ) -> Iterator[RunOutcome]:
        """Train ``tasks``; call ``started(task)`` as each begins (or is submitted)."""

    def threads_per_run(self) -> int | None:
        return None

    def close(self) -> None:  # noqa: B027 -- optional hook, most executors hold nothing
        """Release resources (process pools, Ray)."""


class LocalExecutor(Executor):
    """Sequential in this process (``workers=1``) or a spawn-started process pool.

    ``isolate``: train even a single worker's runs in a spawned process, whose OpenMP threads
    sleep when idle (``OMP_WAIT_POLICY=PASSIVE``, which this process can no longer set once
    torch is loaded): a multi-threaded run then slows down ~1.6x instead of ~3-4x when another
    program takes a core (bench/busy_threads.py).
    """

    def __init__(self, workers: int = 1, threads: int | None = None, isolate: bool = False,
                 gpus_per_run: int = 0):
        if workers < 1:
            raise ScalingLabError(f"--workers must be >= 1, got {workers}")
        self.workers = workers
        self.gpus_per_run = max(0, gpus_per_run)
        self.isolate = isolate or gpus_per_run > 0  # GPUs are assigned per pool worker
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)

    def threads_per_run(self) -> int | None:
        return self.threads

    def execute(self, tasks: list[RunTask], progress: ProgressCallback | None,
                started: Callable[[RunTask], None] = lambda task: None
                ) -> Iterator[RunOutcome]:
        if self.workers == 1 and not self.isolate:
            for task in tasks:
                if STOP.is_set():
                    return
                started(task)
                yield train_task(task, progress)
            return
        yield from self._pool(tasks, progress, started)

    def _pool(self, tasks: list[RunTask], progress: ProgressCallback | None,
              started: Callable[[RunTask], None]) -> Iterator[RunOutcome]:
        from scalinglab.train.threads import use_passive_wait  # noqa: PLC0415

        use_passive_wait()  # the spawned workers inherit it before they import torch
        context = multiprocessing.get_context("spawn")
        manager = SyncManager(ctx=context)
        # the manager's server process must not outlive a driver killed with SIGKILL (it would
        # hold the driver's stdout open and linger): it watches its parent and exits
        manager.start(initializer=_exit_with_parent, initargs=(os.getpid(),))
        with manager:
            events = manager.Queue()
            slots = manager.Queue()
            for slot in range(self.workers):  # one slot per worker
                slots.put(slot)
            pool = futures.ProcessPoolExecutor(self.workers, mp_context=context,
                                               initializer=_worker_init,
                                               initargs=(os.getpid(), slots,
                                                         self.gpus_per_run))
            pending: dict[futures.Future, RunTask] = {}
            finished = False
            try:
                for task in tasks:
                    if STOP.is_set():
                        break
                    started(task)
                    pending[pool.submit(train_task, task, events)] = task
                stopping = False
                while pending:
                    if STOP.is_set() and not stopping:
                        stopping = True
                        _stop_workers(pool, pending)
                    done, _ = futures.wait(pending, timeout=0.25,
                                           return_when=futures.FIRST_COMPLETED)
                    _drain(events, progress)
                    for item in done:
                        task = pending.pop(item)
                        if item.cancelled():
                            continue
                        yield item.result()
                _drain(events, progress)
                finished = True
            finally:
                if not finished:  # the driver stops early (an error, Ctrl-C, a closed loop)
                    _stop_workers(pool, pending)
                    _wait_or_kill(pool, pending)
                pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool: futures.ProcessPoolExecutor, pending: dict) -> None:
    """Cancel tasks not started; ask the running ones to checkpoint and stop (SIGINT)."""
    for item in pending:
        item.cancel()
    for pid in list(getattr(pool, "_processes", None) or {}):  # private, stable since 3.2
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass


def _wait_or_kill(pool: futures.ProcessPoolExecutor, pending: dict) -> None:
    """Give stopping workers time to write their checkpoints, then kill what is left."""
    running = [f for f in pending if not f.cancelled()]
    futures.wait(running, timeout=STOP_GRACE_SECONDS)
    for pid, process in list((getattr(pool, "_processes", None) or {}).items()):
        if process.is_alive() and any(not f.done() for f in running):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _drain(events: Any, progress: ProgressCallback | None) -> None:
    while True:
        try:
            event = events.get_nowait()
        except (queue.Empty, EOFError, OSError):
            return
        if progress is not None:
            progress(event)


class RayExecutor(Executor):
    """Each run a Ray task with ``num_cpus`` / ``num_gpus``; joins ``address`` or starts Ray.

    ``address="auto"`` joins a running cluster (``ray start --head``); None starts a local
    instance with ``local_cpus`` CPUs.  The run store stays with the driver; checkpoints go to
    the sweep directory, which workers of a multi-node cluster must share (e.g. NFS).
    """

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 local_cpus: int | None = None, max_retries: int = 3):
        try:
            import ray  # noqa: PLC0415
        except ImportError:
            raise ScalingLabError("the Ray executor needs the optional extra: "
                                  "pip install 'scalinglab[ray]'") from None
        self.ray = ray
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.max_retries = max_retries
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False,
                                      "log_to_driver": False}
            if address is None:  # a local instance; results are small, so a small object store
                kwargs["num_cpus"] = local_cpus or os.cpu_count() or 1
                kwargs["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
            ray.init(**kwargs)
        resources = ray.cluster_resources()
        self.workers = max(1, int(resources.get("CPU", 1) // max(num_cpus, 1e-9)))

    def threads_per_run(self) -> int | None:
        return max(1, int(self.num_cpus))

    def execute(self, tasks: list[RunTask], progress: ProgressCallback | None,
                started: Callable[[RunTask], None] = lambda task: None
                ) -> Iterator[RunOutcome]:
        # max_retries: Ray re-runs a task whose worker process died (the run resumes from its
        # checkpoint); failures inside train_task are retried there and come back as outcomes
        remote = self.ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                 max_retries=self.max_retries)(train_task)
        pending: dict[Any, RunTask] = {}
        try:
            for task in tasks:
                if STOP.is_set():
                    break
                started(task)
                pending[remote.remote(task)] = task
            while pending and not STOP.is_set():
                done, _ = self.ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        yield self.ray.get(ref)
                    except self.ray.exceptions.RayError as exc:  # retries used up
                        text = f"{type(exc).__name__}: {exc}".splitlines()[0]
                        yield RunOutcome(task.key, False, error=text,
                                         attempts=self.max_retries + 1)
        finally:
            for ref in pending:  # stopped early: these resume from their checkpoints
                self.ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def make_executor(kind: str = "local", workers: int = 1, ray_address: str | None = None,
                  threads: int | None = None, gpus_per_run: int = 0) -> Executor:
    """``local`` (``workers`` processes) or ``ray`` (``ray_address``: None, "auto" or a URL);
    ``gpus_per_run``: CUDA_VISIBLE_DEVICES per local worker, ``num_gpus`` per Ray task."""
    if gpus_per_run < 0:
        raise ScalingLabError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
    if kind == "local":
        return LocalExecutor(workers, threads, gpus_per_run=gpus_per_run)
    if kind == "ray":
        return RayExecutor(ray_address, num_cpus=threads or 1, num_gpus=gpus_per_run,
                           local_cpus=None if workers <= 1 else workers * (threads or 1))
    raise ScalingLabError(f"unknown executor {kind!r}; use local or ray")


def run_pending(store: RunStore, executor: Executor, sweep_dir: str | Path, corpus: str,
                tokenizer: str, runs: list[StoredRun] | None = None, retries: int = 1,
                progress: ProgressCallback | None = None,
                on_outcome: Callable[[StoredRun, RunOutcome], None] | None = None,
                trainer: Any = None, task_suite: bool = False) -> list[RunOutcome]:
    """Train every run of ``runs`` (default: all) that is not done; write outcomes to the store.

    Runs ``running`` (a killed sweep) or ``failed`` are tried again, done runs skipped (the sweep
    is idempotent); an ExternalTrainer ``trainer`` trains them; with ``task_suite`` the built-in
    trainer also scores the held-out task suite at evaluations."""
    candidates = store.runs() if runs is None else [store.get(r.key) for r in runs]
    todo = [r for r in candidates if r.status != "done"]
    checkpoints = Path(sweep_dir) / "checkpoints"
    tasks = []
    for run in todo:
        directory = str(checkpoints / run.key)
        config = {**run.config, "checkpoint_every": run.meta.get("checkpoint_every")}
        tasks.append(RunTask(run.key, run.name, config, corpus, tokenizer, directory,
                             executor.threads_per_run(), retries, tasks=task_suite))
    if trainer is not None:  # the run's own directory and the trainer's payload instead
        from scalinglab.sweep.external import claim_runs  # noqa: PLC0415
        claimed = claim_runs(todo, trainer, Path(sweep_dir), corpus, tokenizer)
        for task, (run_dir, payload) in zip(tasks, claimed, strict=True):
            task.checkpoint_dir, task.trainer = run_dir, payload
    outcomes: list[RunOutcome] = []
    in_flight: set[str] = set()
    fatal: RunOutcome | None = None

    def started(task: RunTask) -> None:
        store.mark_running(task.key, task.checkpoint_dir)
        in_flight.add(task.key)

    STOP.clear()
    with _stop_on_sigint():
        stream = executor.execute(tasks, progress, started)
        try:
            for outcome in stream:
                in_flight.discard(outcome.key)
                if outcome.interrupted:
                    store.mark_interrupted(outcome.key, f"{outcome.error}; resumes from its "
                                                        f"checkpoint")
                elif outcome.ok:
                    _store_done(store, outcome)
                else:
                    store.mark_failed(outcome.key, outcome.error or "unknown error",
                                      outcome.meta or None)
                    if outcome.fatal and fatal is None:
                        fatal = outcome
                        STOP.set()  # the other runs would fail the same way: stop cleanly
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(store.get(outcome.key), outcome)
        finally:
            stream.close()  # stops workers still running if we leave early
            for key in in_flight:  # started, stopped without an outcome (cancelled)
                try:
                    store.mark_interrupted(key, "interrupted; resumes from its checkpoint")
                except ScalingLabError:
                    pass
    where = Path(sweep_dir)
    done = sum(r.status == "done" for r in store.runs())
    if fatal is not None:
        STOP.clear()
        raise SweepStopped(f"stopped the sweep: run {store.get(fatal.key).name} failed with "
                           f"{fatal.error}; the {done} finished run(s) in {str(where)!r} are "
                           f"kept -- free some space and run the same command again")
    if STOP.is_set():
        STOP.clear()
        raise SweepInterrupted(f"interrupted: the {done} finished run(s) in {str(where)!r} are "
                               f"kept and the runs in flight were checkpointed; run the same "
                               f"command again to resume")
    return outcomes


def _store_done(store: RunStore, outcome: RunOutcome) -> None:
    """Record a finished run; if the store cannot take it (a full disk), mark the run failed
    with the reason where that still fits, and stop (its final checkpoint keeps the result, so
    the re-run trains nothing again)."""
    records = [RunRecord(**r) for r in outcome.records]
    try:
        store.mark_done(outcome.key, records, outcome.wall_seconds, outcome.spent_flops,
                        {**outcome.meta, "attempts": outcome.attempts, "finished": time.time()})
    except ScalingLabError as exc:
        try:
            store.mark_failed(outcome.key, f"finished, but the result could not be stored: "
                                           f"{exc}")
        except ScalingLabError:
            pass
        raise


class _stop_on_sigint:  # noqa: N801 -- a context manager used like a function
    """While a sweep runs in the main thread: the first Ctrl-C asks it to stop cleanly
    (:data:`STOP`), a second one interrupts at once (KeyboardInterrupt)."""

    def __enter__(self) -> None:
        self.previous = None
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return  # someone else handles SIGINT (or ignores it): leave it to them

        def handler(signum, frame) -> None:
            if STOP.is_set():
                raise KeyboardInterrupt
            STOP.set()

        self.previous = signal.signal(signal.SIGINT, handler)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
