"""SIGKILL of the demo around and inside its validation run, then resume (issue 13, item 4).

The validation run trains in its own spawned process (passive OpenMP wait; see
``sweep/executors.py``).  Four kills, each resumed by the next child: before the validation
run starts (the prediction already frozen), in the middle of its training (the whole process
group: driver and worker), after it finished training but before the store recorded it, and
after it was recorded but before the summary was written.  Finished runs must never be
trained again, the frozen prediction must never change, and the final records must equal an
uninterrupted demo's.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.sweep.store import SQLiteRunStore
from tests.faultlib import COMPARED, TIMEOUT_S, run_cli, run_cli_child, start_cli_child
from tests.test_demo import KJV_LEVELS, TOML

pytestmark = pytest.mark.slow


def state(out: Path) -> tuple[dict, dict | None]:
    with SQLiteRunStore(out) as store:
        return {r.key: r for r in store.runs()}, store.get_meta("prediction")


def records(out: Path) -> pd.DataFrame:
    with SQLiteRunStore(out) as store:
        frame = store.records()[COMPARED]
    return frame.sort_values(["run_id", "tokens"]).reset_index(drop=True)


def assert_sound(out: Path) -> None:
    with sqlite3.connect(out / "store.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "demo.toml"
    path.write_text(TOML.format(corpus="kjv", levels=KJV_LEVELS))
    return path


@pytest.fixture(scope="module")
def clean_demo(config, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "results"
    result = run_cli(["run", str(config), "--out", str(out), "--json"])
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def validation_checkpointed(out: Path) -> bool:
    try:
        runs, _ = state(out)
    except Exception:  # noqa: BLE001 -- the store may be mid-write at this instant
        return False
    return any(r.role == "validation" and r.status == "running" and r.checkpoint_dir
               and (Path(r.checkpoint_dir) / "checkpoint.pt").exists() for r in runs.values())


def kill_group_mid_validation(config: Path, out: Path) -> None:
    child = start_cli_child(["run", str(config), "--out", str(out), "--json"])
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not validation_checkpointed(out):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no validation checkpoint appeared"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGKILL)  # the demo and its training worker
    finally:
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL


def test_sigkill_around_and_inside_the_validation_run_then_resume(config, clean_demo,
                                                                  tmp_path):
    out = tmp_path / "results"
    args = ["run", str(config), "--out", str(out), "--json"]
    killed = run_cli_child(args, ["before_start", "validation"])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert_sound(out)
    runs, prediction = state(out)
    sweep_done = {k: r.finished_at for k, r in runs.items() if r.role == "sweep"}
    assert sweep_done and all(r.status == "done" for r in runs.values() if r.role == "sweep")
    assert prediction is not None and (out / "prediction.json").exists()

    kill_group_mid_validation(config, out)
    for point in (["done_role", "validation", "before"], ["done_role", "validation", "after"]):
        killed = run_cli_child(args, point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        assert_sound(out)
        runs, frozen = state(out)
        assert frozen == prediction, point                        # the prediction never moves
        assert {k: runs[k].finished_at for k in sweep_done} == sweep_done, point
    validation = next(r for r in runs.values() if r.role == "validation")
    assert validation.status == "done"
    # trained to its end by the third child, which died before recording it: the fourth
    # resumed from the last step's checkpoint instead of training again
    assert validation.meta["resumed_from_step"] == \
        validation.config["tokens"] / validation.config["batch_tokens"]
    assert not (out / "summary.json").exists()

    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    runs, frozen = state(out)
    assert frozen == prediction
    assert {k: runs[k].finished_at for k in sweep_done} == sweep_done   # 0 retrained
    assert runs[validation.key].finished_at == validation.finished_at
    pd.testing.assert_frame_equal(records(out), records(clean_demo))
    summary, clean = (json.loads((d / "summary.json").read_text()) for d in (out, clean_demo))
    assert summary["measured_loss"] == clean["measured_loss"]
    assert summary["prediction"]["loss"] == clean["prediction"]["loss"]
