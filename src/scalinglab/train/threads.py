"""Torch threads that stay fast when other programs load the CPU (issue 13, item 5).

OpenMP's default wait policy lets an idle worker thread spin before it sleeps.  When another
process holds one of the cores, a multi-threaded torch step then waits at every barrier on a
thread that is not scheduled, while its partner spins: a 2-thread run on a 2-core machine
beside one busy process slowed down by an order of magnitude (bench/busy_threads.py measures
it).  Two remedies:

* :func:`choose_threads` -- as many threads as there are cores other processes leave idle,
  measured from ``/proc/stat`` over a fraction of a second just before a run starts (the load
  average lags by a minute and counts this program's own workers that just finished);
* :func:`use_passive_wait` -- ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once), for
  load that arrives after the run started; OpenMP reads it only when torch is first imported,
  so the process-pool executor sets it before it spawns its workers.

Status: only :func:`use_passive_wait` is wired in (sweep pool workers).  :func:`choose_threads`
is not used by the demo: a different thread count changes a run's numbers (measured: final
loss 3.0115 with 1 thread vs 3.0205 with 2 for the same 2e5-parameter run), so choosing
threads from the load would break "same numbers on a busy machine".
"""

from __future__ import annotations

import math
import os
import sys
import time

WAIT_POLICY = "OMP_WAIT_POLICY"
SAMPLE_SECONDS = 0.3


def use_passive_wait() -> bool:
    """Ask OpenMP to let idle threads sleep; True if it can still take effect here.

    Leaves a value the user set alone.  Has no effect once torch is imported (OpenMP reads
    the variable when it loads), which the return value says.
    """
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")
    return "torch" not in sys.modules


def idle_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores left idle by every process over the next ``seconds`` (None: not measurable)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(seconds)
    second = _cpu_times()
    if second is None:
        return None
    total = second[0] - first[0]
    if total <= 0:
        return None
    return (second[1] - first[1]) / total * (os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """(all jiffies, idle + iowait jiffies) from the first line of /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    return sum(values[:8]), values[3] + (values[4] if len(values) > 4 else 0)


def choose_threads(requested: int | None = None, cap: int | None = None,
                   idle: float | None = None) -> int:
    """Torch threads for one run: ``requested`` if given, else the idle cores (at least 1,
    at most ``cap`` or the core count).  ``idle`` overrides the measurement (tests)."""
    if requested:
        return max(1, int(requested))
    cap = max(1, cap or os.cpu_count() or 1)
    if idle is None:
        idle = idle_cores()
    if idle is None:
        return cap
    return max(1, min(cap, math.floor(idle + 0.25)))  # 0.75 of a free core counts as one
