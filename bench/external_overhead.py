"""Overhead of the external-trainer path: scalinglab's wall time over the trainer's own.

A ladder of ``--runs`` runs of the stand-alone PyTorch trainer (tests/trainers/
tiny_torch_trainer.py: it trains for real and is paced by a sleep per step so that each run
takes about ``--run-seconds``) is trained twice:

* **direct**: each run's command (the same argv scalinglab would build) started by a plain
  ``subprocess.run`` loop, one after the other;
* **scalinglab**: ``run_pending`` with an :class:`ExternalTrainer`, progress bars on stderr
  (the metrics tailed every ``--poll`` seconds), rows checked and stored.

Reported: the sweep's wall time, the sum of the trainers' own wall times (as scalinglab
measured them), the direct loop's wall time, and the overheads (wall - own) / own and
(scalinglab - direct) / direct.  Issue 23's goal: at most 5% on 1-minute runs.

Usage: python bench/external_overhead.py [--runs 3] [--run-seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAINER = ROOT / "tests" / "trainers" / "tiny_torch_trainer.py"


def template(sleep: float) -> str:
    return (f"{sys.executable} {TRAINER} --d_model {{d_model}} --max_tokens {{tokens}} "
            f"--batch_tokens {{batch_tokens}} --lr {{lr}} --seed {{seed}} --out {{run_dir}} "
            f"--resume {{resume}} --evals 10 --step_sleep {sleep:.6f}")


def ladder(count: int):
    from scalinglab.corpora import load_corpus
    from scalinglab.sweep import SweepSpec, plan_sweep

    spec = SweepSpec(levels=(2e10, 6e10), sizes_per_level=3, design="isoflop", min_steps=100)
    runs = plan_sweep(spec, load_corpus("kjv")).runs
    if count > len(runs):
        raise SystemExit(f"the ladder has {len(runs)} runs, not {count}")
    return [r.stored() for r in runs[:count]]


def direct(runs, trainer, work: Path) -> float:
    """Wall seconds of the plain loop over the same commands."""
    from scalinglab.sweep.external import plan_values

    start = time.monotonic()
    for run in runs:
        values = plan_values(run, work / "direct" / run.name, "kjv", "byte")
        Path(values["run_dir"]).mkdir(parents=True)
        subprocess.run(trainer.argv(values), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def through_scalinglab(runs, trainer, work: Path) -> tuple[float, float, list]:
    """(sweep wall seconds, sum of the trainers' own seconds, outcomes)."""
    from rich.console import Console

    from scalinglab.sweep import LocalExecutor, SQLiteRunStore, run_pending
    from scalinglab.sweep.progress import SweepProgress

    with SQLiteRunStore(work / "sweep") as store:
        store.add_runs(runs)
        start = time.monotonic()
        with SweepProgress(Console(stderr=True), store.runs(), "external ladder") as bars:
            outcomes = run_pending(store, LocalExecutor(1, threads=1), work / "sweep", "kjv",
                                   "byte", retries=0, trainer=trainer, progress=bars.event,
                                   on_outcome=bars.finished)
        wall = time.monotonic() - start
    if not all(o.ok for o in outcomes):
        raise SystemExit(f"a run failed: {[o.error for o in outcomes]}")
    return wall, sum(o.meta["trainer_seconds"] for o in outcomes), outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--run-seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=1.0, help="metrics poll interval, s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from scalinglab.sweep.external import ExternalTrainer

    runs = ladder(args.runs)
    steps = min(int(r.config["tokens"] // r.config["batch_tokens"]) for r in runs)
    trainer = ExternalTrainer(template(args.run_seconds / steps), poll_seconds=args.poll)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        direct_seconds = direct(runs, trainer, work)
        wall, own, outcomes = through_scalinglab(runs, trainer, work)
    result = {"runs": len(runs), "run_seconds_target": args.run_seconds, "poll": args.poll,
              "sweep_wall_seconds": wall, "trainer_own_seconds": own,
              "direct_loop_seconds": direct_seconds,
              "overhead_vs_own": (wall - own) / own,
              "overhead_vs_direct": (wall - direct_seconds) / direct_seconds,
              "per_run_trainer_seconds": [o.meta["trainer_seconds"] for o in outcomes]}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{'runs':28s} {len(runs)} (about {args.run_seconds:g} s each)")
    print(f"{'direct loop, s':28s} {direct_seconds:.1f}")
    print(f"{'scalinglab sweep, s':28s} {wall:.1f}")
    print(f"{'trainers own time, s':28s} {own:.1f}")
    print(f"{'overhead vs own time':28s} {100 * result['overhead_vs_own']:.2f}%")
    print(f"{'overhead vs direct loop':28s} {100 * result['overhead_vs_direct']:.2f}%")


if __name__ == "__main__":
    main()
