"""Resume after kill -9: nothing finished is lost or retrained; results equal an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from scalinglab.sweep.store import SQLiteRunStore

TINY = ("{'levels': (1e9, 3e9), 'seq_len': 32, 'batch_tokens': 64, 'min_steps': 40, "
        "'sizes_per_level': 3, 'checkpoint_every': 20, 'eval_tokens': 2048}")
SCRIPT = f"""
import sys
from scalinglab.corpora import load_corpus
from scalinglab.sweep.executors import LocalExecutor, run_pending
from scalinglab.sweep.plan import SweepSpec, plan_sweep
from scalinglab.sweep.store import SQLiteRunStore

if __name__ == "__main__":
    plan = plan_sweep(SweepSpec(**{TINY}), load_corpus("kjv"))
    with SQLiteRunStore(sys.argv[1]) as store:
        store.add_runs(r.stored() for r in plan.runs)
        run_pending(store, LocalExecutor(1, threads=1), sys.argv[1], "kjv", "byte")
"""
COMPARED = ["run_id", "n_params", "tokens", "flops", "loss", "final", "seed"]
TIMEOUT_S = 240


def start(directory: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(directory)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpointed_run(directory: Path, process: subprocess.Popen) -> None:
    """Until one run is done and another is running with a checkpoint on disk."""
    deadline = time.monotonic() + TIMEOUT_S
    store_file = directory / "store.sqlite"
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if store_file.exists():
            with SQLiteRunStore(directory) as store:
                runs = store.runs()
            done = [r for r in runs if r.status == "done"]
            running = [r for r in runs if r.status == "running" and r.checkpoint_dir
                       and (Path(r.checkpoint_dir) / "checkpoint.pt").exists()]
            if done and running:
                return
        time.sleep(0.05)
    raise AssertionError("the sweep never reached a checkpointed run")


def test_kill_minus_nine_then_rerun_loses_and_retrains_nothing(tmp_path):
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    process = start(killed_dir)
    wait_for_checkpointed_run(killed_dir, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with SQLiteRunStore(killed_dir) as store:
        before = {r.key: r for r in store.runs()}
    finished = {k: r.finished_at for k, r in before.items() if r.status == "done"}
    interrupted = [k for k, r in before.items() if r.status == "running"]
    assert finished and len(interrupted) == 1

    rerun = start(killed_dir)
    assert rerun.wait(timeout=TIMEOUT_S) == 0, rerun.communicate()
    uninterrupted = start(clean_dir)
    assert uninterrupted.wait(timeout=TIMEOUT_S) == 0, uninterrupted.communicate()

    with SQLiteRunStore(killed_dir) as store:
        after = {r.key: r for r in store.runs()}
        resumed = store.records()
    assert all(r.status == "done" for r in after.values())
    for key, finished_at in finished.items():  # not retrained
        assert after[key].finished_at == finished_at and after[key].attempts == 1
    resumed_run = after[interrupted[0]]
    assert resumed_run.attempts == 2 and resumed_run.meta["resumed_from_step"] > 0
    with SQLiteRunStore(clean_dir) as store:
        clean = store.records()
    pd.testing.assert_frame_equal(resumed[COMPARED], clean[COMPARED])
