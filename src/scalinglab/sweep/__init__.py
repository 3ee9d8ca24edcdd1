"""Many runs: plans (IsoFLOP grid via WSD cooldown branches), the run store, executors.

Typical use::

    from scalinglab.sweep import SweepSpec, SweepSettings, plan_sweep, run_sweep, SQLiteRunStore
    plan = plan_sweep(SweepSpec(levels=(2e11, 6e11, 2e12)), corpus)
    with SQLiteRunStore("my-sweep") as store:
        run_sweep(store, "my-sweep", plan.runs, "kjv", "byte", SweepSettings(workers=2))
        runs = store.records()   # RunRecord rows, ready for scalinglab.fit

Your own trainer instead of ours: ``SweepSettings(trainer=ExternalTrainer("python
train.py --n_layer {n_layer} --out {run_dir}"))`` (see :mod:`scalinglab.sweep.external`).
"""

from scalinglab.sweep.executors import (
    Executor,
    LocalExecutor,
    RayExecutor,
    RunOutcome,
    RunTask,
    make_executor,
    run_pending,
)
from scalinglab.sweep.external import PLACEHOLDERS, ExternalTrainer
from scalinglab.sweep.plan import (
    PlannedRun,
    SweepPlan,
    SweepSpec,
    default_spec,
    estimate_wall,
    plan_sweep,
    plan_validation,
    prior_optimal_size,
)
from scalinglab.sweep.runner import SweepRunResult, SweepSettings, SweepStart, run_sweep
from scalinglab.sweep.store import RunStore, SQLiteRunStore, StoredRun, config_hash, open_store

__all__ = ["PLACEHOLDERS", "Executor", "ExternalTrainer", "LocalExecutor", "PlannedRun",
           "RayExecutor", "RunOutcome", "RunStore", "RunTask", "SQLiteRunStore", "StoredRun",
           "SweepPlan", "SweepRunResult", "SweepSettings", "SweepSpec", "SweepStart",
           "config_hash", "default_spec", "estimate_wall", "make_executor", "open_store",
           "plan_sweep", "plan_validation", "prior_optimal_size", "run_pending", "run_sweep"]
