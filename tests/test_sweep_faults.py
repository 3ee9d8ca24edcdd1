"""Faults in sweeps (issue 13): SIGKILL at seven points, Ctrl-C, two processes on one folder,
a corrupted store, and (with Ray) a killed worker -- nothing finished lost or trained twice.

The sweeps are tiny (3 runs of 8e2-7e3 parameters, 535-954 steps of 64 tokens on KJV).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.sweep.store import SQLiteRunStore, StoredRun
from tests.faultlib import (
    CLI,
    COMPARED,
    TIMEOUT_S,
    TINY_SPEC,
    child_env,
    run_cli,
    run_sweep_child,
    sigint_acts,
    start_cli_child,
)

#: the kill chain: each child resumes what the previous one left and is killed at the next
#: point; runs are counted from 1 in the order each child trains them (see tests/faultlib.py)
KILL_CHAIN = [
    ("step", 1, 10),        # first run, before its first checkpoint (step 20)
    ("step", 1, 310),       # the same run retrained from scratch, 10 steps past a checkpoint
    ("rename", 3),          # its third checkpoint write: temp file on disk, not yet renamed
    ("before_done", 1),     # trained to the end, killed before the store recorded it
    ("after_done", 2),      # the next run recorded, killed right after
    ("branch", 1, 5),       # five steps into the last run's cooldown branch
]


def store_state(directory: Path) -> dict[str, StoredRun]:
    with SQLiteRunStore(directory) as store:
        return {r.key: r for r in store.runs()}


def records(directory: Path) -> pd.DataFrame:
    with SQLiteRunStore(directory) as store:
        return store.records()[COMPARED]


def assert_sound(directory: Path) -> None:
    with sqlite3.connect(directory / "store.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.fixture(scope="module")
def clean_sweep(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("clean")
    result = run_sweep_child(directory)
    assert result.returncode == 0, result.stderr
    return directory


@pytest.mark.slow
def test_sigkill_at_six_points_then_resume_retrains_nothing_finished(clean_sweep, tmp_path):
    finished: dict[str, tuple[float, int]] = {}  # key -> (finished_at, attempts) when first done
    killed_pids = []
    for point in KILL_CHAIN:
        result = run_sweep_child(tmp_path, point)
        assert result.returncode == -signal.SIGKILL, (point, result.stderr[-2000:])
        killed_pids.append(result)
        assert_sound(tmp_path)
        runs = store_state(tmp_path)
        for key, (finished_at, attempts) in finished.items():  # nothing finished retrained
            assert runs[key].status == "done" and runs[key].finished_at == finished_at, point
            assert runs[key].attempts == attempts, point
        finished.update({k: (r.finished_at, r.attempts) for k, r in runs.items()
                         if r.status == "done" and k not in finished})
        assert not list(tmp_path.glob("checkpoints/*/.*.tmp")) or point[0] == "rename"
    # the killed owner left its lock file behind; the kernel released the lock itself
    assert json.loads((tmp_path / "store.sqlite.lock").read_text())["pid"] > 0
    result = run_sweep_child(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = store_state(tmp_path)
    assert all(r.status == "done" for r in runs.values())
    retrained = [k for k, (at, _) in finished.items() if runs[k].finished_at != at]
    assert retrained == []
    first, second, third = (r for r in runs.values())  # plan order
    # the run killed after training but before it was recorded resumed at its last step
    total_steps = first.config["tokens"] / first.config["batch_tokens"]
    assert first.meta["resumed_from_step"] == total_steps
    assert second.attempts == 1 and third.meta["resumed_from_step"] > 0
    assert not list(tmp_path.glob("checkpoints/*/.*.tmp"))
    pd.testing.assert_frame_equal(records(tmp_path), records(clean_sweep))


def wait_for(predicate, process: subprocess.Popen, what: str, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process ended before {what}: {process.communicate()}")
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def a_run_is_checkpointed(directory: Path) -> bool:
    if not (directory / "store.sqlite").exists():
        return False
    try:
        runs = store_state(directory).values()
    except Exception:  # noqa: BLE001 -- the store may be half-created at this instant
        return False
    return any(r.status == "running" and r.checkpoint_dir
               and (Path(r.checkpoint_dir) / "checkpoint.pt").exists() for r in runs)


@pytest.fixture()
def tiny_toml(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    lines = ["[sweep]"] + [f"{k} = {json.dumps(v)}" for k, v in TINY_SPEC.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_a_second_process_is_refused_and_the_rerun_resumes(
        clean_sweep, tiny_toml, tmp_path):
    directory = tmp_path / "sweep"
    command = [CLI, "sweep", "run", str(directory), "--config", str(tiny_toml), "--threads", "1"]
    # the first process holds its first run after step 25 until Ctrl-C: on a loaded machine
    # the tiny sweep could otherwise finish while the second process starts (CI saw that)
    first = start_cli_child(command[1:], ("hold", 1, 25))
    try:
        wait_for(lambda: a_run_is_checkpointed(directory), first, "a checkpointed run")
        second = run_cli(command[1:], timeout=120)  # same folder, while the first trains
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: results folder")
        assert f"in use by another process (pid {first.pid}" in lines[0]
        sent = time.monotonic()
        first.send_signal(signal.SIGINT)
        stdout, stderr = first.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, stderr
    assert stopped_after < 10, f"took {stopped_after:.1f} s to stop"
    assert "run the same command again to resume" in stderr
    assert "stopped N" in stdout and "interrupted at step" in stdout
    assert "Traceback" not in stderr
    runs = store_state(directory)
    assert not [r for r in runs.values() if r.status == "running"]
    interrupted = [r for r in runs.values() if r.status == "planned" and r.error]
    assert len(interrupted) == 1 and "interrupted at step" in interrupted[0].error
    done_before = {k: r.finished_at for k, r in runs.items() if r.status == "done"}
    rerun = run_cli(command[1:])
    assert rerun.returncode == 0, rerun.stderr
    after = store_state(directory)
    assert all(r.status == "done" for r in after.values())
    assert all(after[k].finished_at == at for k, at in done_before.items())
    assert after[interrupted[0].key].meta["resumed_from_step"] > 0
    pd.testing.assert_frame_equal(records(directory), records(clean_sweep))


@pytest.mark.slow
def test_ctrl_c_with_two_worker_processes_checkpoints_both(tiny_toml, tmp_path):
    directory = tmp_path / "sweep"
    command = [CLI, "sweep", "run", str(directory), "--config", str(tiny_toml), "--threads", "1",
               "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=child_env(), preexec_fn=sigint_acts)
    try:
        wait_for(lambda: a_run_is_checkpointed(directory), process, "a checkpointed run")
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)  # the driver only: it forwards the stop
        _, stderr = process.communicate(timeout=90)
        stopped_after = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop"
    assert "resume" in stderr and "Traceback" not in stderr
    runs = store_state(directory).values()
    assert not [r for r in runs if r.status == "running"]
    assert any(r.status == "planned" and r.error and "interrupted at step" in r.error
               for r in runs)
    leftovers = [p for p in (directory / "checkpoints").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    for child in ps_children(process.pid):
        pytest.fail(f"worker {child} outlived the driver")


def ps_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True)
    return [int(p) for p in out.stdout.split()]


# ----------------------------------------------------------------------------- corrupt store
def a_store(directory: Path) -> Path:
    with SQLiteRunStore(directory) as store:
        store.add_runs([StoredRun(key=f"k{i}", name=f"run{i}", role="sweep",
                                  config={"params": 1e3 * i, "pad": "x" * 3000})
                        for i in range(40)])
    return directory / "store.sqlite"


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(os.urandom(8192))
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "header":
        path.write_bytes(b"\x00" * 100 + data[100:])
    elif how == "foreign":
        path.unlink()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE photos (id INTEGER)")
    elif how == "text":
        path.write_text("name,loss\na,1.0\n")


@pytest.mark.parametrize("how", ["garbage", "truncated", "header", "foreign", "text"])
@pytest.mark.parametrize("command", ["status", "run", "export"])
def test_a_corrupted_store_is_a_one_line_error_naming_the_file_and_is_not_touched(
        tmp_path, tiny_toml, how, command):
    path = a_store(tmp_path / "sweep")
    damage(path, how)
    before = sorted((p.name, p.read_bytes()) for p in path.parent.iterdir())
    args = {"status": ["sweep", "status", str(path.parent)],
            "run": ["sweep", "run", str(path.parent), "--config", str(tiny_toml)],
            "export": ["sweep", "export", str(path.parent), "--out",
                       str(tmp_path / "out.csv")]}[command]
    result = run_cli(args, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
    assert "Traceback" not in result.stderr
    after = sorted((p.name, p.read_bytes()) for p in path.parent.iterdir())
    assert after == before  # never overwritten, nothing added beside it
    assert not (tmp_path / "out.csv").exists()


# ----------------------------------------------------------------------------- two processes
HOLDER = """
import sys, time
from scalinglab.sweep.store import SQLiteRunStore
store = SQLiteRunStore(sys.argv[1])
store.set_meta("holder", True)
print("holding", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_and_a_dead_owner_leaves_no_stale_lock(tmp_path):
    import sys

    from scalinglab.sweep.store import StoreBusy

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        assert holder.stdout.readline().strip() == "holding"
        with SQLiteRunStore(tmp_path) as reader:  # reading needs no lock
            assert reader.get_meta("holder") is True
            with pytest.raises(StoreBusy, match=f"pid {holder.pid}"):
                reader.set_meta("intruder", True)
            assert reader.get_meta("intruder") is None
    finally:
        holder.kill()
        holder.wait()
    with SQLiteRunStore(tmp_path) as store:  # the owner is dead: its lock went with it
        store.set_meta("next", True)
        assert store.get_meta("next") is True
        with SQLiteRunStore(tmp_path) as same_process:  # one process shares its lock
            same_process.set_meta("again", 1)


# ----------------------------------------------------------------------------- Ray
def ray_workers_running_a_task() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(b"ray::train_task"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is not installed (optional extra: pip install 'scalinglab[ray]')")
def test_a_killed_ray_worker_is_retried_and_the_sweep_completes(clean_sweep, tmp_path):
    import threading

    from scalinglab.corpora import load_corpus
    from scalinglab.sweep.executors import RayExecutor, run_pending
    from scalinglab.sweep.plan import SweepSpec, plan_sweep

    plan = plan_sweep(SweepSpec(**TINY_SPEC), load_corpus("kjv"))
    killed: list[int] = []

    def killer() -> None:  # SIGKILL the first worker seen training, once it has a checkpoint
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not killed:
            workers = ray_workers_running_a_task()
            if workers and list((tmp_path / "checkpoints").rglob("checkpoint.pt")):
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.05)

    executor = RayExecutor(None, num_cpus=1, local_cpus=2, max_retries=2)
    try:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        with SQLiteRunStore(tmp_path) as store:
            store.add_runs(r.stored() for r in plan.runs)
            outcomes = run_pending(store, executor, tmp_path, "kjv", "byte")
            runs = store.runs()
            got = store.records()[COMPARED]
        thread.join(timeout=5)
    finally:
        executor.close()
    assert killed, "no Ray worker was seen training"
    assert all(o.ok for o in outcomes) and all(r.status == "done" for r in runs)
    # (the killed task may have had no checkpoint of its own yet: then Ray's retry restarts it)
    order = ["run_id", "tokens"]
    pd.testing.assert_frame_equal(got.sort_values(order).reset_index(drop=True),
                                  records(clean_sweep).sort_values(order).reset_index(drop=True))
