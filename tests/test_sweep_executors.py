"""Executors: sequential and process-pool sweeps agree, failures are recorded, Ray (if present)."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from scalinglab.corpora import load_corpus
from scalinglab.errors import ScalingLabError
from scalinglab.sweep.executors import LocalExecutor, make_executor, run_pending
from scalinglab.sweep.plan import SweepSpec, plan_sweep
from scalinglab.sweep.store import SQLiteRunStore, StoredRun

TINY = {"levels": (1e9, 3e9), "seq_len": 32, "batch_tokens": 64, "min_steps": 40,
        "sizes_per_level": 3, "checkpoint_every": 50, "eval_tokens": 2048}
COMPARED = ["run_id", "n_params", "tokens", "flops", "loss", "final", "seed"]


@pytest.fixture(scope="module")
def kjv():
    return load_corpus("kjv")


@pytest.fixture(scope="module")
def tiny_plan(kjv):
    return plan_sweep(SweepSpec(**TINY), kjv)


def sweep(directory, plan, executor, extra: list[StoredRun] = ()):
    with SQLiteRunStore(directory) as store:
        store.add_runs([r.stored() for r in plan.runs] + list(extra))
        outcomes = run_pending(store, executor, directory, "kjv", "byte", retries=1)
        return outcomes, store.records(), {r.key: r for r in store.runs()}


@pytest.fixture(scope="module")
def sequential(tiny_plan, tmp_path_factory):
    return sweep(tmp_path_factory.mktemp("sequential"), tiny_plan, LocalExecutor(1, threads=1))


def test_sequential_sweep_trains_every_planned_point(sequential, tiny_plan):
    outcomes, records, runs = sequential
    assert all(o.ok for o in outcomes) and len(outcomes) == len(tiny_plan.runs)
    assert all(r.status == "done" and r.spent_flops >= r.planned_flops * 0.99
               for r in runs.values())
    finals = records[records["final"]]
    assert len(finals) == sum(len(r.points) for r in tiny_plan.runs)
    assert finals["loss"].between(1.0, 6.0).all()


def test_process_pool_gives_the_same_records(sequential, tiny_plan, tmp_path):
    _, expected, _ = sequential
    outcomes, records, _ = sweep(tmp_path, tiny_plan, LocalExecutor(2, threads=1))
    assert all(o.ok for o in outcomes)
    order = ["run_id", "tokens"]
    pd.testing.assert_frame_equal(records[COMPARED].sort_values(order).reset_index(drop=True),
                                  expected[COMPARED].sort_values(order).reset_index(drop=True))


def test_rerun_trains_nothing(sequential, tiny_plan, tmp_path):
    directory = tmp_path
    sweep(directory, tiny_plan, LocalExecutor(1, threads=1))
    with SQLiteRunStore(directory) as store:
        before = {r.key: r.finished_at for r in store.runs()}
        assert run_pending(store, LocalExecutor(1, threads=1), directory, "kjv", "byte") == []
        assert {r.key: r.finished_at for r in store.runs()} == before


def test_a_failing_run_is_retried_then_recorded_and_the_sweep_goes_on(tiny_plan, tmp_path):
    bad_config = {**tiny_plan.runs[0].config.to_dict(), "lr": 1e6, "run_id": "diverges"}
    bad = StoredRun(key="bad", name="diverges", role="sweep", config=bad_config)
    outcomes, _, runs = sweep(tmp_path, plan_sweep(SweepSpec(**{**TINY, "levels": (1e9,)}),
                                                   load_corpus("kjv")),
                              LocalExecutor(1, threads=1), extra=[bad])
    failed = [o for o in outcomes if not o.ok]
    assert [o.key for o in failed] == ["bad"] and failed[0].attempts == 2
    assert runs["bad"].status == "failed" and "TrainingDiverged" in runs["bad"].error
    assert "\n" not in runs["bad"].error
    assert all(r.status == "done" for k, r in runs.items() if k != "bad")


def test_unknown_executor_and_bad_workers():
    with pytest.raises(ScalingLabError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(ScalingLabError, match="workers"):
        LocalExecutor(0)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is not installed (optional extra: pip install 'scalinglab[ray]')")
def test_ray_executor_on_a_local_two_cpu_instance(sequential, tiny_plan, tmp_path):
    from scalinglab.sweep.executors import RayExecutor

    _, expected, _ = sequential
    executor = RayExecutor(None, num_cpus=1, local_cpus=2)
    try:
        assert executor.workers == 2
        outcomes, records, _ = sweep(tmp_path, tiny_plan, executor)
    finally:
        executor.close()
    assert all(o.ok for o in outcomes)
    order = ["run_id", "tokens"]
    pd.testing.assert_frame_equal(records[COMPARED].sort_values(order).reset_index(drop=True),
                                  expected[COMPARED].sort_values(order).reset_index(drop=True))


def test_an_isolated_single_worker_gives_the_same_records(sequential, tiny_plan, tmp_path):
    """The demo's validation run trains in its own spawned process (passive OpenMP wait):
    the same numbers as training in this process."""
    _, expected, _ = sequential
    outcomes, records, _ = sweep(tmp_path, tiny_plan, LocalExecutor(1, threads=1, isolate=True))
    assert all(o.ok for o in outcomes)
    order = ["run_id", "tokens"]
    pd.testing.assert_frame_equal(records[COMPARED].sort_values(order).reset_index(drop=True),
                                  expected[COMPARED].sort_values(order).reset_index(drop=True))
