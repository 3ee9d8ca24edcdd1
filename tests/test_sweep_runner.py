"""The one sweep sequence (sweep/runner.py) shared by ``sweep run`` and the study pipeline."""

from __future__ import annotations

import pytest

from scalinglab.corpora import load_corpus
from scalinglab.errors import ScalingLabError
from scalinglab.sweep.executors import LocalExecutor
from scalinglab.sweep.plan import SweepSpec, plan_sweep
from scalinglab.sweep.runner import SweepSettings, SweepStart, run_sweep
from scalinglab.sweep.store import SQLiteRunStore

ONE_LEVEL = {"levels": (1e9,), "seq_len": 32, "batch_tokens": 64, "min_steps": 40,
             "sizes_per_level": 2, "checkpoint_every": 50, "eval_tokens": 2048}


@pytest.fixture(scope="module")
def plan():
    return plan_sweep(SweepSpec(**ONE_LEVEL), load_corpus("kjv"))


def test_run_sweep_adds_trains_and_then_skips_what_is_done(plan, tmp_path):
    starts: list[SweepStart] = []
    settings = SweepSettings(threads=1)
    with SQLiteRunStore(tmp_path) as store:
        first = run_sweep(store, tmp_path, plan.runs, "kjv", "byte", settings,
                          show_progress=False, on_start=starts.append)
        assert [r.key for r in first.runs] == [r.key for r in plan.runs]
        assert all(r.status == "done" for r in first.runs)
        assert sorted(o.key for o in first.outcomes) == sorted(r.key for r in plan.runs)
        finished = {r.key: r.finished_at for r in store.runs()}
        assert not any(c.startswith("acc_") for c in store.records().columns)  # no task suite
        again = run_sweep(store, tmp_path, plan.runs, "kjv", "byte", settings,
                          show_progress=False, on_start=starts.append)
        assert again.outcomes == [] and {r.key: r.finished_at for r in store.runs()} == finished
    assert [(s.to_do, s.total, s.already_done) for s in starts] == [
        (len(plan.runs), len(plan.runs), 0), (0, len(plan.runs), len(plan.runs))]


def test_tasks_setting_scores_the_held_out_suite_in_every_record(plan, tmp_path):
    with SQLiteRunStore(tmp_path) as store:
        run_sweep(store, tmp_path, plan.runs[:1], "kjv", "byte",
                  SweepSettings(threads=1, tasks=True), show_progress=False)
        records = store.records()
    assert {"acc_continuation", "acc_cloze", "task_loss_cloze"} <= set(records.columns)
    assert records["acc_cloze"].between(0, 1).all()


def test_settings_make_the_executor_they_describe():
    isolated = SweepSettings(workers=1, threads=3, isolate=True).make_executor()
    assert isinstance(isolated, LocalExecutor) and isolated.isolate and isolated.threads == 3
    pool = SweepSettings(workers=2, threads=1).make_executor()
    assert isinstance(pool, LocalExecutor) and pool.workers == 2 and not pool.isolate
    with pytest.raises(ScalingLabError, match="unknown executor"):
        SweepSettings(executor="slurm").make_executor()
