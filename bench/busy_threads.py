"""Benchmark: torch thread settings for training on a busy CPU (issue 13, item 5).

Trains the same small GPT for a fixed number of steps in a fresh process per setting, on a
quiet machine and beside ``--hogs`` competing CPU-bound processes (pure-Python busy loops),
and prints tokens/s and the slowdown busy/quiet of each setting, measured back to back:

* ``1 thread``: ``torch.set_num_threads(1)``;
* ``2 threads``: ``torch.set_num_threads(2)``, OpenMP's default (active, spinning) wait;
* ``2 threads, passive``: the same with ``OMP_WAIT_POLICY=PASSIVE`` set before torch loads;
* ``auto``: what :func:`scalinglab.train.threads.choose_threads` picks (with its passive
  wait policy), i.e. what the trainer does by default.

    python bench/busy_threads.py [--steps 150] [--params 2e5] [--hogs 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import os, sys, time, json
import torch
from scalinglab.corpora import load_corpus
from scalinglab.train import TrainConfig, train_run
from scalinglab.train.threads import choose_threads
threads = choose_threads(None if sys.argv[2] == "auto" else int(sys.argv[2]))
torch.set_num_threads(threads)
corpus = load_corpus("kjv")
params, steps = float(sys.argv[1]), int(sys.argv[3])
config = TrainConfig(params=params, tokens=steps * 1024, batch_tokens=1024, seq_len=128,
                     n_evals=1, eval_tokens=4096, device="cpu", threads=threads, seed=0)
began = time.perf_counter()
result = train_run(config, corpus)
print(json.dumps({"omp": os.environ.get("OMP_WAIT_POLICY"), "tokens_per_second": result.tokens_per_second, "threads": threads,
                  "wall": time.perf_counter() - began, "loss": result.final_loss}))
"""

SETTINGS = (("1 thread", "1", {}), ("2 threads", "2", {}),
            ("2 threads, passive", "2", {"OMP_WAIT_POLICY": "PASSIVE"}),
            ("2 threads, spin 1e4", "2", {"GOMP_SPINCOUNT": "10000"}),
            ("2 threads, spin 1e5", "2", {"GOMP_SPINCOUNT": "100000"}),
            ("auto, passive", "auto", {"OMP_WAIT_POLICY": "PASSIVE"}))


def measure(params: float, threads: str, steps: int, env: dict,
            timeout: float | None = None) -> dict | None:
    """One training in a fresh process; None if it ran past ``timeout`` seconds (killed)."""
    full = {**os.environ, **env}
    if "OMP_WAIT_POLICY" not in env:
        full.pop("OMP_WAIT_POLICY", None)
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(params), threads, str(steps)],
                             capture_output=True, text=True, env=full, check=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--params", type=float, default=2e5)
    parser.add_argument("--hogs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", nargs="+", default=None,
                        help="run only the settings whose names start with these")
    parser.add_argument("--max-slowdown", type=float, default=20.0,
                        help="stop a busy measurement after this many times the quiet wall time")
    args = parser.parse_args()
    print(f"cpu_count={os.cpu_count()} load average at start={os.getloadavg()}; "
          f"N={args.params:g}, {args.steps} steps of 1024 tokens, {args.hogs} hog(s)")
    print("setting | quiet tok/s | busy tok/s | busy/quiet time | loss equal")
    rows = []
    for name, threads, env in SETTINGS:
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        quiet = measure(args.params, threads, args.steps, env)
        hogs = start_hogs(args.hogs)
        try:
            time.sleep(0.5)
            busy = measure(args.params, threads, args.steps, env,
                           timeout=args.max_slowdown * quiet["wall"] + 10)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        if busy is None:  # stopped: slower than --max-slowdown
            rows.append({"setting": name, "quiet": quiet, "busy": None,
                         "slowdown": f">{args.max_slowdown:g}"})
            print(f"{name} | {quiet['tokens_per_second']:.0f} | stopped | "
                  f">{args.max_slowdown:g}x | -", flush=True)
            continue
        ratio = quiet["tokens_per_second"] / busy["tokens_per_second"]
        rows.append({"setting": name, "quiet": quiet, "busy": busy, "slowdown": ratio})
        print(f"{name} | {quiet['tokens_per_second']:.0f} | {busy['tokens_per_second']:.0f} | "
              f"{ratio:.2f}x | {quiet['loss'] == busy['loss']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
