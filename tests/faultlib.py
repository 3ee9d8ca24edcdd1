"""Helpers for the fault tests: tiny sweeps in child processes that kill themselves on cue.

A child runs the sweep of :data:`TINY_SPEC` (6 runs of ~1e4-parameter models, 40-120 steps
each, on the built-in KJV text) and SIGKILLs itself at a chosen point -- deterministic kill
points, unlike a timer: ``("step", run, step)`` after an optimiser step of the ``run``-th run
trained, ``("branch", run, k)`` at the ``k``-th step inside a cooldown branch, ``("rename",
n)`` in the ``n``-th checkpoint write after its temporary file is on disk and before the
rename, ``("before_done", n)`` / ``("after_done", n)`` around the store's ``n``-th mark_done,
``("before_start", role)`` when the store marks the first run of ``role`` as running,
``("done_role", role, "before" | "after")`` around the store's mark_done of a run of ``role``;
``("hold", run, step)`` does not kill: it waits after that step until the sweep is asked to
stop (Ctrl-C), so that a test's signal cannot arrive after the sweep has finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("scalinglab"))
TINY_SPEC = {"levels": [1e9, 3e9], "seq_len": 32, "batch_tokens": 64, "min_steps": 40,
             "sizes_per_level": 3, "checkpoint_every": 20, "eval_tokens": 2048}
COMPARED = ["run_id", "n_params", "tokens", "flops", "loss", "final", "seed"]
TIMEOUT_S = 300

KILLER = r'''
import json, os, signal, sys

def install(point):
    """Patch the library so that this process SIGKILLs itself at ``point``."""
    if not point:
        return
    kind = point[0]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    import scalinglab.train as train
    from scalinglab.train import loop
    from scalinglab.sweep import store as store_module
    state = {"runs": 0, "in_branch": False, "branch_steps": 0, "writes": 0, "done": 0}
    if kind == "step":
        original = train.train_run
        def train_run(config, corpus, **kwargs):
            state["runs"] += 1
            on_step = kwargs.get("on_step")
            def hook(step):
                if on_step is not None:
                    on_step(step)
                if state["runs"] == point[1] and step == point[2]:
                    die()
            kwargs["on_step"] = hook
            return original(config, corpus, **kwargs)
        train.train_run = train_run
    elif kind == "hold":  # ("hold", run, step): after that step, wait for Ctrl-C (STOP)
        import time
        from scalinglab.sweep.executors import STOP
        original = train.train_run
        def train_run(config, corpus, **kwargs):
            state["runs"] += 1
            on_step = kwargs.get("on_step")
            def hook(step):
                if on_step is not None:
                    on_step(step)
                if state["runs"] == point[1] and step == point[2]:
                    STOP.wait(300)
            kwargs["on_step"] = hook
            return original(config, corpus, **kwargs)
        train.train_run = train_run
    elif kind == "branch":
        original_branch, original_step = loop._Loop._run_branch, loop._Runner.train_step
        def run_branch(self, branch):
            state["runs"] += 1
            state["in_branch"], state["branch_steps"] = True, 0
            try:
                return original_branch(self, branch)
            finally:
                state["in_branch"] = False
        def train_step(self, step, multiplier):
            if state["in_branch"] and state["runs"] == point[1]:
                state["branch_steps"] += 1
                if state["branch_steps"] == point[2]:
                    die()
            return original_step(self, step, multiplier)
        loop._Loop._run_branch, loop._Runner.train_step = run_branch, train_step
    elif kind == "rename":
        real_replace = os.replace
        def replace(src, dst):
            if str(src).endswith(".tmp"):
                state["writes"] += 1
                if state["writes"] == point[1]:
                    die()
            return real_replace(src, dst)
        os.replace = replace
    elif kind in ("before_done", "after_done"):
        original_done = store_module.SQLiteRunStore.mark_done
        def mark_done(self, *args, **kwargs):
            state["done"] += 1
            if kind == "before_done" and state["done"] == point[1]:
                die()
            original_done(self, *args, **kwargs)
            if kind == "after_done" and state["done"] == point[1]:
                die()
        store_module.SQLiteRunStore.mark_done = mark_done
    elif kind == "done_role":  # ("done_role", role, "before" | "after") its mark_done
        original_done = store_module.SQLiteRunStore.mark_done
        def mark_done(self, key, *args, **kwargs):
            hit = self.get(key).role == point[1]
            if hit and point[2] == "before":
                die()
            original_done(self, key, *args, **kwargs)
            if hit and point[2] == "after":
                die()
        store_module.SQLiteRunStore.mark_done = mark_done
    elif kind == "before_start":
        original_running = store_module.SQLiteRunStore.mark_running
        def mark_running(self, key, checkpoint_dir):
            if self.get(key).role == point[1]:
                die()
            return original_running(self, key, checkpoint_dir)
        store_module.SQLiteRunStore.mark_running = mark_running
    else:
        raise SystemExit(f"unknown kill point {point!r}")
'''

SWEEP_CHILD = KILLER + r'''
if __name__ == "__main__":
    install(json.loads(sys.argv[2]))
    from scalinglab.corpora import load_corpus
    from scalinglab.sweep.executors import LocalExecutor, run_pending
    from scalinglab.sweep.plan import SweepSpec, plan_sweep
    from scalinglab.sweep.store import SQLiteRunStore
    plan = plan_sweep(SweepSpec(**json.loads(sys.argv[3])), load_corpus("kjv"))
    with SQLiteRunStore(sys.argv[1]) as store:
        store.add_runs(r.stored() for r in plan.runs)
        run_pending(store, LocalExecutor(1, threads=1), sys.argv[1], "kjv", "byte")
'''

CLI_CHILD = KILLER + r'''
if __name__ == "__main__":
    install(json.loads(sys.argv[1]))
    from scalinglab.cli import main
    sys.argv = ["scalinglab", *sys.argv[2:]]
    main()
'''


def child_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def sigint_acts() -> None:
    """In a child before it starts: Ctrl-C (SIGINT) back to its default, even when the test run
    itself ignores it (a background job of a shell without job control, ``nohup make test &``,
    starts with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_sweep_child(directory: Path, point=None, spec: dict | None = None
                    ) -> subprocess.CompletedProcess:
    """Run the tiny sweep in ``directory`` in a child process, killed at ``point``."""
    return subprocess.run([sys.executable, "-c", SWEEP_CHILD, str(directory),
                           json.dumps(point), json.dumps(spec or TINY_SPEC)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=child_env())


def run_cli_child(args: list[str], point=None) -> subprocess.CompletedProcess:
    """``scalinglab ARGS`` in a child process (the CLI's own entry point), killed at ``point``."""
    return subprocess.run([sys.executable, "-c", CLI_CHILD, json.dumps(point), *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=child_env())


def start_cli_child(args: list[str], point=None) -> subprocess.Popen:
    """``scalinglab ARGS`` in its own process group (so that a test can kill all of it),
    killed (or held) at ``point``."""
    return subprocess.Popen([sys.executable, "-c", CLI_CHILD, json.dumps(point), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), start_new_session=True, preexec_fn=sigint_acts)


def run_cli(args: list[str], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=child_env())
