"""A full disk (issue 13): ENOSPC while writing a checkpoint or the run store, injected.

Nothing finished is lost, the store stays sound, the sweep stops cleanly with the reason, and
the re-run after space is freed trains only what was not finished.
"""

from __future__ import annotations

import errno
import sqlite3

import pandas as pd
import pytest

from scalinglab.corpora import load_corpus
from scalinglab.errors import ScalingLabError
from scalinglab.sweep.executors import LocalExecutor, SweepStopped, run_pending
from scalinglab.sweep.plan import SweepSpec, plan_sweep
from scalinglab.sweep.store import SQLiteRunStore
from scalinglab.train import checkpoint as ckpt
from tests.faultlib import COMPARED, TINY_SPEC

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def plan():
    return plan_sweep(SweepSpec(**TINY_SPEC), load_corpus("kjv"))


def sweep(directory, plan):
    with SQLiteRunStore(directory) as store:
        store.add_runs(r.stored() for r in plan.runs)
        run_pending(store, LocalExecutor(1, threads=1), directory, "kjv", "byte")


def state(directory):
    with SQLiteRunStore(directory) as store:
        return store.runs(), store.records()[COMPARED]


def assert_sound(directory) -> None:
    with sqlite3.connect(directory / "store.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.fixture(scope="module")
def clean(plan, tmp_path_factory):
    directory = tmp_path_factory.mktemp("clean")
    sweep(directory, plan)
    return state(directory)[1]


class FullDiskFor:
    """``open`` for the checkpoint module: writes under ``marker``'s folder fail (ENOSPC)
    from the ``after``-th one on, after writing part of the data (a torn temporary file)."""

    def __init__(self, marker: str, after: int = 2):
        self.marker, self.after, self.count = marker, after, 0

    def __call__(self, path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)  # noqa: SIM115
        if "w" in mode and self.marker in str(path):
            self.count += 1
            if self.count >= self.after:
                real_write = handle.write

                def write(data):
                    real_write(data[: len(data) // 2])
                    raise OSError(errno.ENOSPC, "No space left on device")
                handle.write = write
        return handle


def test_enospc_writing_a_checkpoint_fails_the_run_and_stops_the_sweep(plan, clean, tmp_path,
                                                                      monkeypatch):
    first, second, third = (r.stored() for r in plan.runs)
    monkeypatch.setattr(ckpt, "open", FullDiskFor(second.key), raising=False)
    with pytest.raises(SweepStopped, match="No space left on device") as caught:
        sweep(tmp_path, plan)
    assert "run the same command again" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert_sound(tmp_path)
    runs = {r.key: r for r in state(tmp_path)[0]}
    assert runs[first.key].status == "done"
    assert runs[second.key].status == "failed" and runs[second.key].attempts == 1  # no retry
    assert "OSError" in runs[second.key].error and "No space left" in runs[second.key].error
    assert runs[third.key].status == "planned" and runs[third.key].attempts == 0  # not started
    folder = tmp_path / "checkpoints" / second.key
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt"]  # no torn temp file
    assert ckpt.read_checkpoint_file(folder / "checkpoint.pt")["step"] == 20

    monkeypatch.undo()  # space freed
    finished_at = runs[first.key].finished_at
    sweep(tmp_path, plan)
    after, records = state(tmp_path)
    after = {r.key: r for r in after}
    assert all(r.status == "done" for r in after.values())
    assert after[first.key].finished_at == finished_at  # not retrained
    assert after[second.key].meta["resumed_from_step"] == 20
    pd.testing.assert_frame_equal(records, clean)


class FullDiskStore:
    """Stands in for the store's SQLite link: statements matching ``failing`` raise
    SQLite's "database or disk is full"; everything else goes through."""

    def __init__(self, db: sqlite3.Connection, failing):
        self.db, self.failing = db, failing

    def execute(self, sql, *args):
        if self.failing(sql):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def executemany(self, sql, *args):
        if self.failing(sql):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.executemany(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


@pytest.mark.parametrize("failing", ["done", "every write"])
def test_enospc_writing_the_store_rolls_back_and_the_rerun_retrains_nothing(
        plan, clean, tmp_path, failing):
    first = plan.runs[0].stored()
    with SQLiteRunStore(tmp_path) as store:
        store.add_runs(r.stored() for r in plan.runs)
        if failing == "done":
            store._db = FullDiskStore(store._db, lambda sql: "status='done'" in sql)
        else:  # the disk fills up for good while the first run trains
            store._db = FullDiskStore(store._db, lambda sql: "INSERT INTO records" in sql
                                      or sql.startswith(("UPDATE", "DELETE")) and
                                      "status='running'" not in sql)
        with pytest.raises(ScalingLabError, match="cannot write run store .*disk is full"):
            run_pending(store, LocalExecutor(1, threads=1), tmp_path, "kjv", "byte")
        store._db = store._db.db
    assert_sound(tmp_path)
    runs, records = state(tmp_path)
    assert records.empty  # the failed transaction left no half-written records
    status = {r.key: r for r in runs}
    if failing == "done":  # the failure itself could still be written
        assert status[first.key].status == "failed"
        assert "could not be stored" in status[first.key].error
        assert "disk is full" in status[first.key].error
    else:  # nothing could: the run is left as it was, which a re-run picks up
        assert status[first.key].status == "running"
    assert all(r.status == "planned" for k, r in status.items() if k != first.key)

    sweep(tmp_path, plan)  # space freed
    runs, records = state(tmp_path)
    resumed = {r.key: r for r in runs}[first.key]
    total_steps = first.config["tokens"] / first.config["batch_tokens"]
    assert resumed.meta["resumed_from_step"] == total_steps  # finished: not trained again
    pd.testing.assert_frame_equal(records, clean)
