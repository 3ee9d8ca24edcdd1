"""The SQLite run store: round trips, idempotence, statuses, export, URLs."""

from __future__ import annotations

import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.records import RunRecord, records_to_frame
from scalinglab.sweep.store import SQLiteRunStore, StoredRun, config_hash, open_store


def run(key: str, role: str = "sweep") -> StoredRun:
    return StoredRun(key=key, name=f"run-{key}", role=role, config={"params": 1e4, "seed": 0},
                     planned_flops=1e12, meta={"points": [{"level": 1e12}]})


def records(run_id: str) -> list[RunRecord]:
    return [RunRecord(run_id=run_id, n_params=1e4, tokens=1e5 * (i + 1), flops=1e11 * (i + 1),
                      loss=3.0 - 0.1 * i, final=i == 1, seed=0, schedule="wsd")
            for i in range(2)]


def test_round_trip_and_statuses(tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        assert store.add_runs([run("a"), run("b"), run("v", "validation")]) == 3
        assert [r.key for r in store.runs()] == ["a", "b", "v"]
        store.mark_running("a", str(tmp_path / "ck" / "a"))
        store.mark_done("a", records("run-a"), wall_seconds=2.5, spent_flops=1.1e12,
                        meta={"device": "cpu"})
        store.mark_running("b", None)
        store.mark_failed("b", "TrainingDiverged: loss is nan")
    with SQLiteRunStore(tmp_path / "store.sqlite") as store:  # reopened from disk
        a, b = store.get("a"), store.get("b")
        assert (a.status, a.attempts, a.wall_seconds, a.spent_flops) == ("done", 1, 2.5, 1.1e12)
        assert a.checkpoint_dir.endswith("ck/a") and a.meta["device"] == "cpu"
        assert a.meta["points"] == [{"level": 1e12}] and a.config == {"params": 1e4, "seed": 0}
        assert (b.status, b.error) == ("failed", "TrainingDiverged: loss is nan")
        assert store.counts() == {"planned": 1, "running": 0, "done": 1, "failed": 1}
        pd.testing.assert_frame_equal(records_to_frame(store.run_records("a")),
                                      records_to_frame(records("run-a")))
        frame = store.records()
        assert list(frame["loss"]) == [3.0, 2.9] and frame["final"].tolist() == [False, True]
        assert store.records(role="validation").empty
        assert [r.key for r in store.runs(status="planned", role="validation")] == ["v"]


def test_adding_the_same_runs_again_adds_nothing(tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        store.add_runs([run("a")])
        store.mark_running("a", None)
        store.mark_done("a", records("run-a"), 1.0, 1e12)
        assert store.add_runs([run("a"), run("b")]) == 1
        assert store.get("a").status == "done"  # not reset to planned
        assert [r.key for r in store.runs()] == ["a", "b"]


def test_mark_done_replaces_records_of_a_retried_run(tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        store.add_runs([run("a")])
        store.mark_done("a", records("run-a"), 1.0, 1e12)
        store.mark_done("a", records("run-a")[:1], 1.0, 1e12)
        assert len(store.records()) == 1


def test_export_csv_and_parquet(tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        store.add_runs([run("a")])
        store.mark_done("a", records("run-a"), 1.0, 1e12)
        for name in ("runs.csv", "runs.parquet"):
            path = store.export(tmp_path / name)
            back = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path)
            assert back["loss"].tolist() == [3.0, 2.9] and "n_params_total" in back.columns


def test_meta_and_wal_mode(tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        store.set_meta("prediction", {"loss": 1.5})
        assert store.get_meta("prediction") == {"loss": 1.5}
        assert store.get_meta("missing", 7) == 7
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_unknown_run_and_status_are_errors(tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        with pytest.raises(ScalingLabError, match="'zzz' is not in the store"):
            store.get("zzz")
        with pytest.raises(ScalingLabError, match="unknown run status"):
            store.runs(status="paused")


def test_open_store_urls(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/x.sqlite")
    assert store.path == tmp_path / "x.sqlite"
    store.close()
    with pytest.raises(ScalingLabError, match="postgresql"):
        open_store("postgresql://user@host/db")


def test_config_hash_is_stable_and_sensitive():
    config = {"params": 1e4, "tokens": 1e6, "seed": 0}
    assert config_hash(config, "kjv") == config_hash(dict(reversed(config.items())), "kjv")
    assert config_hash(config, "kjv") != config_hash({**config, "seed": 1}, "kjv")
    assert config_hash(config, "kjv") != config_hash(config, "synthetic")
