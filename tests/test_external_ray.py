"""External trainers on a Ray cluster of two nodes on this machine (issue 23, item 4): a node
is killed while a run is in flight; Ray runs the task again on the other node, the trainer
resumes from its own checkpoint in the shared run directory, and nothing finished is lost."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from scalinglab.sweep import SQLiteRunStore, SweepSpec, plan_sweep, run_pending
from scalinglab.sweep.external import ExternalTrainer

ray = pytest.importorskip("ray", reason="the Ray executor needs the ray extra")
pytest.importorskip("psutil", reason="finding the node of a process needs psutil")
TRAINER = Path(__file__).parent / "trainers" / "tiny_torch_trainer.py"
TEMPLATE = (f"{sys.executable} {TRAINER} --d_model {{d_model}} --max_tokens {{tokens}} "
            f"--batch_tokens {{batch_tokens}} --lr {{lr}} --seed {{seed}} --out {{run_dir}} "
            f"--resume {{resume}} --evals 8 --step_sleep 0.03")


@pytest.mark.slow
def test_two_node_ray_cluster_survives_a_node_killed_mid_run(tmp_path):
    import threading

    from ray.cluster_utils import Cluster

    from scalinglab.corpora import load_corpus
    from scalinglab.sweep.executors import RayExecutor

    spec = SweepSpec(levels=(2e10, 4e10), sizes_per_level=2, design="isoflop")
    plan = plan_sweep(spec, load_corpus("kjv"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    executor = RayExecutor(address=cluster.address, num_cpus=1, max_retries=3)
    store = SQLiteRunStore(tmp_path / "sweep")
    store.add_runs(r.stored() for r in plan.runs)
    runs_dir = tmp_path / "shared"  # the path every node sees (one machine here)
    killed: dict = {}

    def kill_a_node_mid_run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for run in plan.runs:
                metrics = runs_dir / run.name / "metrics.jsonl"
                if metrics.is_file() and metrics.read_text().count("\n") >= 2:
                    pid = json.loads((runs_dir / run.name / "env.json").read_text())["pid"]
                    node = next(w for w in workers if _runs_on(pid, w))
                    cluster.remove_node(node)
                    killed.update(run=run.name, pid=pid)
                    return
            time.sleep(0.2)

    watcher = threading.Thread(target=kill_a_node_mid_run, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        outcomes = run_pending(store, executor, tmp_path / "sweep", "kjv", "byte", retries=0,
                               trainer=ExternalTrainer(TEMPLATE, runs_dir=str(runs_dir)))
    finally:
        watcher.join(timeout=5)
        executor.close()
        cluster.shutdown()
    assert killed, "no node was killed (the runs finished too fast?)"
    assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
    assert store.counts()["done"] == 2
    records = store.records()
    assert records.groupby("run_id")["final"].sum().eq(1).all()
    resumed = json.loads((runs_dir / killed["run"] / "env.json").read_text())
    assert resumed["resume"] == 1 and resumed["pid"] != killed["pid"]
    assert time.monotonic() - started < 240


def _runs_on(pid: int, node) -> bool:
    """True when ``pid`` descends from a process of Ray node ``node``."""
    import psutil

    ancestors = {p.pid for p in psutil.Process(pid).parents()}
    raylet = node.all_processes["raylet"][0].process.pid
    return raylet in ancestors
