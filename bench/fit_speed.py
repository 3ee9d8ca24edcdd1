"""Benchmark: Approach-3 fit speed on Epoch's 240 Chinchilla points.

Measures, in one process:
  * the default fit (variable-projection screening + SLSQP polish), median of several repeats;
  * a 1000-resample run-level bootstrap;
  * the baseline: a straightforward per-start SciPy L-BFGS-B over Hoffmann et al.'s 4500-start
    grid (``method="hoffmann"``), the way the published protocol is usually implemented;
and prints the speed-up ratio plus the parameters each reached.

Usage:  python bench/fit_speed.py [--baseline-starts 4500] [--bootstrap 1000] [--json out.json]
Needs ../shared/data/chinchilla/epoch_svg_extracted_data.csv beside the repository.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from scalinglab.fit import fit_parametric
from scalinglab.fit.parametric import FitSettings, arrays_for, fit_arrays, make_law
from scalinglab.records import load_runs

EPOCH = Path(__file__).resolve().parents[2] / "shared/data/chinchilla/epoch_svg_extracted_data.csv"
REFERENCE = {"E": 1.8172, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3658}


def epoch_runs():
    frame = load_runs(EPOCH, columns='N="Model Size",C="Training FLOP",loss=loss',
                      derive_tokens=True)
    return frame[frame["loss"] < sorted(frame["loss"])[-5]].reset_index(drop=True)


def timed(fn, repeats: int = 1):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-starts", type=int, default=4500,
                        help="how many of Hoffmann's 4500 starts the baseline runs "
                             "(evenly spaced; its time is scaled up to 4500 if fewer)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    runs = epoch_runs()

    fast_s, fast = timed(lambda: fit_parametric(runs), args.repeats)
    boot_s, boot = timed(lambda: fit_parametric(runs, bootstrap=args.bootstrap, seed=0))

    settings = FitSettings(method="hoffmann")
    law = make_law(settings)
    X, y, w, _ = arrays_for(runs, law, settings)
    grid = law.default_starts(X, y)
    stride = max(1, len(grid) // max(1, args.baseline_starts))
    starts = grid[::stride]
    base_s, (theta, value) = timed(lambda: fit_arrays(law, X, y, w, settings, starts=starts))
    base_full_s = base_s * len(grid) / len(starts)
    baseline = law.from_raw(theta)

    rows = [
        ("default fit (varpro + SLSQP)", fast_s, fast.params, fast.objective),
        (f"bootstrap x{args.bootstrap} (incl. point fit)", boot_s, boot.params, boot.objective),
        (f"baseline: per-start L-BFGS-B, {len(starts)}/{len(grid)} starts", base_s, baseline,
         value * settings.huber_delta),
    ]
    print(f"Approach 3 on {len(runs)} Epoch points  ({platform.processor() or platform.machine()}"
          f", numpy {np.__version__})")
    print(f"{'method':48s} {'seconds':>9s} {'E':>8s} {'A':>8s} {'alpha':>7s} {'B':>8s} "
          f"{'beta':>7s} {'objective':>11s}")
    for name, secs, p, obj in rows:
        print(f"{name:48s} {secs:9.3f} {p['E']:8.4f} {p['A']:8.1f} {p['alpha']:7.4f} "
              f"{p['B']:8.1f} {p['beta']:7.4f} {obj:11.6g}")
    print(f"{'Epoch AI reference (Besiroglu et al. 2024)':48s} {'':>9s} {REFERENCE['E']:8.4f} "
          f"{REFERENCE['A']:8.1f} {REFERENCE['alpha']:7.4f} {REFERENCE['B']:8.1f} "
          f"{REFERENCE['beta']:7.4f}")
    ratio = base_full_s / fast_s
    print(f"\nbaseline for all {len(grid)} starts: {base_full_s:.1f} s"
          f"{' (scaled from the subset)' if len(starts) < len(grid) else ''}")
    print(f"speed-up of the default fit over the baseline: {ratio:.0f}x  (goal >= 50x)")
    print(f"1000-resample bootstrap: {boot_s:.2f} s  (goal < 10 s);  default fit: "
          f"{fast_s:.3f} s  (goal < 0.5 s)")
    if args.json:
        args.json.write_text(json.dumps({
            "points": len(runs), "fit_seconds": fast_s, "bootstrap_seconds": boot_s,
            "bootstrap_resamples": args.bootstrap, "baseline_seconds_measured": base_s,
            "baseline_starts": len(starts), "baseline_seconds_4500": base_full_s,
            "speedup": ratio, "fit_params": fast.params, "baseline_params": baseline,
            "baseline_objective": value * settings.huber_delta, "fit_objective": fast.objective,
        }, indent=2))


if __name__ == "__main__":
    main()
