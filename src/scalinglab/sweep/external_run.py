"""Worker side of external trainers: launch one attempt, tail its metrics, check, retry.

See :mod:`scalinglab.sweep.external` for the contract.  :func:`run_external` is what an
executor's worker calls for a :class:`~scalinglab.sweep.executors.RunTask` that carries a
``trainer`` payload; it returns the fields of a
:class:`~scalinglab.sweep.executors.RunOutcome` (this module never imports the executors).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.importers.jsonl import METRICS_FILE, JsonlTail
from scalinglab.importers.rows import RUN_INFO_FILE, MetricsError, RunInfo, rows_to_records
from scalinglab.sweep import external
from scalinglab.sweep.external import ExternalTrainer

#: rows of earlier attempts, kept when a run resumes (the trainer writes a fresh metrics.jsonl)
EARLIER_METRICS = "metrics.earlier.jsonl"
#: the driver polls TensorBoard logs (a heavier read) at most this often, seconds
TB_POLL_SECONDS = 5.0


@dataclass
class Attempt:
    """One launch of the trainer: records or the reason it failed."""

    ok: bool
    records: list = field(default_factory=list)
    error: str = ""
    wall_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


def _die_with_parent() -> None:
    """In the trainer (before exec): get SIGKILL when the worker that started it dies."""
    if external._LIBC is not None:
        external._LIBC.prctl(external._PR_SET_PDEATHSIG, signal.SIGKILL)


def prepare_run_dir(run_dir: Path, resumable: bool) -> bool:
    """Ready ``run_dir`` for an attempt; True when it continues an earlier one (``{resume}``).

    An earlier attempt's files are kept for a resumable trainer (its metrics moved to
    ``metrics.earlier.jsonl``), else removed (a fresh start).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    leftovers = [p for p in run_dir.iterdir() if p.name != RUN_INFO_FILE]
    if not leftovers:
        return False
    if not resumable:
        for path in leftovers:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        return False
    current = run_dir / METRICS_FILE
    if current.is_file():
        with open(run_dir / EARLIER_METRICS, "a", encoding="utf-8") as earlier:
            text = current.read_text(encoding="utf-8", errors="replace")
            earlier.write(text if text.endswith("\n") or not text else text + "\n")
        current.unlink()
    return True


def _merge_earlier(run_dir: Path, rows: list[dict]) -> list[dict]:
    """Rows of earlier attempts before the resumed attempt's first row, then its rows."""
    earlier_path = run_dir / EARLIER_METRICS
    if not earlier_path.is_file():
        return rows
    tail = JsonlTail(earlier_path)
    tail.poll(final=True)
    first = _tokens(rows[0]) if rows else None
    kept = [r for r in tail.rows if first is None or (_tokens(r) or 0) < first]
    # an attempt killed twice may have logged the same evaluation twice: keep the latest
    merged: dict[float, dict] = {}
    for row in kept:
        merged[_tokens(row) or 0] = row
    return [merged[k] for k in sorted(merged)] + rows


def _tokens(row: dict) -> float | None:
    value = row.get("tokens")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


class MetricsWatcher:
    """Reads a run's metrics (JSON lines or TensorBoard) while it goes and when it ends."""

    def __init__(self, spec: ExternalTrainer, run_dir: Path, info: RunInfo):
        self.spec, self.run_dir, self.info = spec, run_dir, info
        self.tail = JsonlTail(run_dir / METRICS_FILE)
        self.latest: tuple[float, float] | None = None
        self._tb_read = 0.0

    def poll(self) -> tuple[float, float] | None:
        """(tokens, loss) of the newest row, if any (errors wait for the final check)."""
        try:
            if self.spec.tb_loss:
                if time.monotonic() - self._tb_read >= TB_POLL_SECONDS:
                    self._tb_read = time.monotonic()
                    rows = self._tb_rows()
                    if rows:
                        self.latest = (rows[-1]["tokens"], rows[-1]["loss"])
            else:
                for row in self.tail.poll():
                    if _tokens(row) is not None and isinstance(row.get("loss"), int | float):
                        self.latest = (_tokens(row), float(row["loss"]))
        except (MetricsError, OSError):
            pass
        return self.latest

    def _tb_rows(self) -> list[dict]:
        from scalinglab.importers.tensorboard import read_tensorboard_rows  # noqa: PLC0415

        return read_tensorboard_rows(self.run_dir, self.spec.tb_loss, self.spec.tb_tokens,
                                     self.info.batch_tokens, self.spec.tb_n_params)

    def final_rows(self) -> tuple[list[dict], str]:
        """All rows of the run and where they came from (MetricsError if none/malformed)."""
        if self.spec.tb_loss:
            return self._tb_rows(), "TensorBoard logs"
        path = self.run_dir / METRICS_FILE
        if not path.is_file() and not (self.run_dir / EARLIER_METRICS).is_file():
            raise MetricsError(f"wrote no metrics: no {METRICS_FILE} in {str(self.run_dir)!r}")
        tail = JsonlTail(path)
        tail.poll(final=True)
        return _merge_earlier(self.run_dir, tail.rows), METRICS_FILE


def stderr_tail(path: Path) -> str:
    """The last lines of a trainer's stderr (at most STDERR_TAIL_CHARS characters)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4 * external.STDERR_TAIL_CHARS))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-external.STDERR_TAIL_LINES:])[-external.STDERR_TAIL_CHARS:]


def _terminate(process: subprocess.Popen, first: int = signal.SIGTERM) -> None:
    """Signal the trainer's process group, then kill it if it has not exited in time."""
    for sig, wait in ((first, external.KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except OSError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _env(spec: ExternalTrainer, run_dir: Path) -> dict[str, str]:
    return {**os.environ, **spec.env, "SCALINGLAB_RUN_DIR": str(run_dir)}


def attempt(spec: ExternalTrainer, values: dict, info: RunInfo, key: str, stop: Any,
            emit: Any = None) -> Attempt:
    """Launch the trainer once, follow it, and check its metrics (``stop``: an Event that
    asks the run to stop; it is then interrupted and resumes later)."""
    run_dir = Path(values["run_dir"])
    resumed = prepare_run_dir(run_dir, spec.resumable)
    argv = spec.argv({**values, "resume": int(resumed)})
    watcher = MetricsWatcher(spec, run_dir, info)
    start = time.monotonic()
    with open(run_dir / "stdout.log", "wb") as out, open(run_dir / "stderr.log", "wb") as err:
        try:
            process = subprocess.Popen(argv, stdout=out, stderr=err, env=_env(spec, run_dir),
                                       start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as exc:
            return Attempt(False, error=f"cannot start trainer {argv[0]!r}: {exc.strerror}")
        try:
            code, stopped = _follow(process, spec, watcher, key, values, start, emit, stop)
        finally:
            if process.poll() is None:
                _terminate(process, signal.SIGKILL)
    wall = time.monotonic() - start
    meta: dict[str, Any] = {"run_dir": str(run_dir), "resumed": resumed,
                            "trainer_seconds": wall}
    if stopped == "interrupted":
        return Attempt(False, error="interrupted", wall_seconds=wall, meta=meta,
                       interrupted=True)
    tail = stderr_tail(run_dir / "stderr.log")
    if stopped == "timeout":
        return Attempt(False, error=f"timed out after {spec.timeout:g} s (--run-timeout)",
                       wall_seconds=wall, meta={**meta, "stderr_tail": tail})
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        last = tail.splitlines()[-1].strip()[:200] if tail else "no stderr"
        return Attempt(False, error=f"trainer {how}: {last}", wall_seconds=wall,
                       meta={**meta, "stderr_tail": tail})
    try:
        rows, source = watcher.final_rows()
        records, warnings = rows_to_records(rows, info, source)
    except MetricsError as exc:
        return Attempt(False, error=f"trainer exited 0 but {exc}", wall_seconds=wall,
                       meta={**meta, "stderr_tail": tail})
    reported = any("n_params" in row for row in rows)
    meta.update({"warnings": warnings, "n_params_source": "trainer" if reported else "plan",
                 "rows": len(records)})
    return Attempt(True, records, wall_seconds=wall, meta=meta)


def _follow(process: subprocess.Popen, spec: ExternalTrainer, watcher: MetricsWatcher,
            key: str, values: dict, start: float, emit: Any, stop: Any) -> tuple[int, str]:
    """Wait for the trainer, sending progress; returns (exit code, '' | timeout | interrupted)."""
    while True:
        try:
            return process.wait(timeout=spec.poll_seconds), ""
        except subprocess.TimeoutExpired:
            pass
        elapsed = time.monotonic() - start
        latest = watcher.poll()
        if latest is not None and emit is not None:
            tokens, loss = latest
            emit((key, int(tokens), int(values["tokens"]), loss, tokens / max(elapsed, 1e-9),
                  "external"))
        if stop.is_set():
            _terminate(process, signal.SIGINT)
            return process.returncode or 0, "interrupted"
        if spec.timeout is not None and elapsed > spec.timeout:
            _terminate(process)
            return process.returncode or 0, "timeout"


def run_external(task: Any, progress: Any, stop: Any) -> dict[str, Any]:
    """Train one run with its external trainer, retrying; RunOutcome fields for the driver."""
    spec = ExternalTrainer.from_dict(task.trainer["spec"])
    values, info = task.trainer["values"], RunInfo.from_dict(task.trainer["info"])
    emit = getattr(progress, "put", progress)
    last = Attempt(False, error="not started")
    seconds = 0.0
    for number in range(1, task.retries + 2):
        if stop.is_set():
            return _outcome(task.key, False, error="interrupted before it started",
                            attempts=number - 1, interrupted=True)
        last = attempt(spec, values, info, task.key, stop, emit)
        seconds += last.wall_seconds
        if last.interrupted:
            return _outcome(task.key, False, error="interrupted; it resumes on the next run",
                            attempts=number, interrupted=True, meta=last.meta)
        if last.ok:
            flops = max((r.flops for r in last.records), default=0.0)
            return _outcome(task.key, True, records=[r.to_dict() for r in last.records],
                            wall_seconds=last.wall_seconds, spent_flops=flops, attempts=number,
                            meta={**last.meta, "trainer_seconds_all_attempts": seconds})
    return _outcome(task.key, False, error=last.error, attempts=task.retries + 1,
                    meta=last.meta)


def _outcome(key: str, ok: bool, **fields: Any) -> dict[str, Any]:
    return {"key": key, "ok": ok, **fields}
