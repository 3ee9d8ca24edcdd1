"""Benchmark: what the held-out task suite costs the demo (issue 24, item 4).

For every model size of the demo's default KJV sweep (and a validation-sized model), builds the
model the trainer builds and times, back to back in this process with one torch thread, one
validation pass (the demo's ``eval_tokens``: 2^16 tokens at context 128) and one evaluation of
the task suite (:mod:`scalinglab.train.tasks`: 200 continuation items of 4 x 40 tokens and
200 cloze contexts of 32 tokens).  It prints seconds per evaluation, their ratio, and the
suite's total for the sweep's points (each point is one evaluation) plus the validation run.
Timing only: the weights are untrained (an evaluation's cost does not depend on them).

    python bench/task_suite_cost.py [--repeats 3] [--threads 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from scalinglab.corpora import load_corpus
from scalinglab.sweep.plan import default_spec, plan_sweep
from scalinglab.train import TrainConfig
from scalinglab.train.config import resolve_plan
from scalinglab.train.distributed import DistContext
from scalinglab.train.loop import _Runner
from scalinglab.train.tasks import build_suite, evaluate_suite

#: a validation-sized model of the KJV demo (its 10x run was N = 7.44e5 on seed 0, README)
VALIDATION_PARAMS = 7.4e5


def best_of(repeats: int, action) -> float:
    """Shortest wall time (s) of ``repeats`` calls (the least disturbed by other jobs)."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def time_one(config: TrainConfig, corpus, repeats: int) -> dict:
    plan = resolve_plan(config, corpus)
    runner = _Runner(config, corpus, plan, DistContext(), torch.device("cpu"))
    suite = build_suite(corpus.val, plan.shape.seq_len, seed=0)
    validation = best_of(repeats, runner.evaluate)
    tasks = best_of(repeats, lambda: evaluate_suite(runner.model, suite, runner.device))
    return {"n_params": plan.shape.n_params, "validation_s": validation, "suite_s": tasks,
            "ratio": tasks / validation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = load_corpus("kjv")
    spec = default_spec("kjv", seed=0)
    plan = plan_sweep(spec, corpus)
    rows = []
    for run in plan.runs:
        row = time_one(run.config, corpus, args.repeats)
        rows.append({**row, "run": run.name, "points": len(run.points)})
    validation = TrainConfig(params=VALIDATION_PARAMS, tokens=1e6, seq_len=spec.seq_len,
                             batch_tokens=spec.batch_tokens, eval_tokens=spec.eval_tokens,
                             eval_at=())
    rows.append({**time_one(validation, corpus, args.repeats), "run": "validation-sized",
                 "points": 1})
    print(f"{'run':<26} {'N':>8} {'points':>6} {'val pass s':>10} {'suite s':>8} "
          f"{'suite/val':>9}")
    for r in rows:
        print(f"{r['run']:<26} {r['n_params']:>8,} {r['points']:>6} {r['validation_s']:>10.3f} "
              f"{r['suite_s']:>8.3f} {r['ratio']:>9.2f}")
    suite_total = sum(r["suite_s"] * r["points"] for r in rows)
    val_total = sum(r["validation_s"] * r["points"] for r in rows)
    print(f"demo total (every point + the validation run, {args.threads} thread(s)): suite "
          f"{suite_total:.1f} s, validation passes {val_total:.1f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "suite_total_s": suite_total,
                       "validation_total_s": val_total}, handle, indent=2)


if __name__ == "__main__":
    main()
