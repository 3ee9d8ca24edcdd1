"""Benchmark: Approach-3 fit speed on Epoch's 240 Chinchilla points.

Measures, in one process:
  * the default fit ``scalinglab.fit(runs)`` (variable-projection screening + SLSQP polish, and
    whatever the defaults add, e.g. run-interval calibration), median of several repeats;
  * ``scalinglab.fit(runs, bootstrap=1000)`` end to end, with the bootstrap polished by the
    batched Newton path (the default) and by the one-resample-at-a-time SciPy path it replaced,
    each timed in full and for its bootstrap alone, and their ratio;
  * the PyPI ``chinchilla`` package (0.2.0; Takano's implementation): one ``Chinchilla.fit()``
    over a 4^5-start grid with log-Huber delta = 1e-3 (its BFGS, 128-bit floats, a process
    pool over all cores), skipped with a message if the package is not installed;
  * optionally (``--baseline-starts N``) the per-start SciPy L-BFGS-B over Hoffmann et al.'s
    4500-start grid (``method="hoffmann"``), on an evenly spaced subset of N starts;
and prints the parameters each reached, the summed log-Huber objective of each (delta = 1e-3,
the same function for all), and the ratios.

Usage:  python bench/fit_speed.py [--bootstrap 1000] [--old-resamples 1000]
                                  [--baseline-starts 0] [--json out.json]
Needs ../shared/data/chinchilla/epoch_svg_extracted_data.csv beside the repository.  The
``chinchilla`` package is a benchmark-only install (``pip install chinchilla==0.2.0``), never a
dependency of scalinglab.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import scalinglab.fit.bootstrap as bootstrap_module
from scalinglab.fit import fit_parametric
from scalinglab.fit.objective import DEFAULT_HUBER_DELTA, huber
from scalinglab.records import load_runs

EPOCH = Path(__file__).resolve().parents[2] / "shared/data/chinchilla/epoch_svg_extracted_data.csv"
REFERENCE = {"E": 1.8172, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3658}
# The chinchilla package's README grid ranges, 4 values per parameter (4^5 = 1024 starts).
CHINCHILLA_GRID = {"E": np.linspace(1.0, 2.0, 4), "a": np.linspace(1.0, 10.0, 4),
                   "b": np.linspace(1.0, 10.0, 4), "alpha": np.linspace(0.1, 0.7, 4),
                   "beta": np.linspace(0.1, 0.7, 4)}


def epoch_runs() -> pd.DataFrame:
    frame = load_runs(EPOCH, columns='N="Model Size",C="Training FLOP",loss=loss',
                      derive_tokens=True)
    return frame[frame["loss"] < sorted(frame["loss"])[-5]].reset_index(drop=True)


def objective_of(params: dict, runs: pd.DataFrame, delta: float = DEFAULT_HUBER_DELTA) -> float:
    """Sum of Huber(delta) of log-loss residuals over all rows, for any parameters."""
    N, D = runs["n_params"].to_numpy(float), runs["tokens"].to_numpy(float)
    pred = params["E"] + params["A"] / N ** params["alpha"] + params["B"] / D ** params["beta"]
    return float(huber(np.log(pred) - np.log(runs["loss"].to_numpy(float)), delta).sum())


def timed(fn, repeats: int = 1):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


class BootstrapTimer:
    """Wraps bootstrap_fit (looked up by fit_parametric at call time) to time it and pick a path."""

    def __init__(self, batched: bool, old_resamples: int | None = None) -> None:
        self.batched, self.old_resamples, self.seconds = batched, old_resamples, 0.0
        self.resamples = self.requested = 0

    def __enter__(self):
        self.original = bootstrap_module.bootstrap_fit

        signature = inspect.signature(self.original)

        def wrapped(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.arguments["batched"] = self.batched
            self.requested += bound.arguments["n_resamples"]
            if self.old_resamples is not None:
                bound.arguments["n_resamples"] = min(bound.arguments["n_resamples"],
                                                     self.old_resamples)
            self.resamples += bound.arguments["n_resamples"]
            start = time.perf_counter()
            out = self.original(*bound.args, **bound.kwargs)
            self.seconds += time.perf_counter() - start
            return out

        bootstrap_module.bootstrap_fit = wrapped
        return self

    def __exit__(self, *exc):
        bootstrap_module.bootstrap_fit = self.original


def chinchilla_package_fit(runs: pd.DataFrame):
    """One fit() of the PyPI chinchilla package (None if it is not installed)."""
    try:
        from chinchilla import Chinchilla
        from chinchilla._metrics import log_huber
    except ImportError:
        return None

    def log_huber_1e3(y_true, y_pred):
        return log_huber(y_true, y_pred, delta=DEFAULT_HUBER_DELTA)

    with tempfile.TemporaryDirectory() as folder:
        pd.DataFrame({"C": runs["flops"], "N": runs["n_params"], "D": runs["tokens"],
                      "loss": runs["loss"]}).to_csv(os.path.join(folder, "df.csv"), index=False)
        logging.getLogger("chinchilla").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cc = Chinchilla(folder, param_grid={k: list(v) for k, v in CHINCHILLA_GRID.items()},
                            loss_fn=log_huber_1e3, log_level=40)
            start = time.perf_counter()
            cc.fit(parallel=True)
            seconds = time.perf_counter() - start
        return seconds, {k: float(v) for k, v in cc.params.items()}


def hoffmann_baseline(runs: pd.DataFrame, n_starts: int):
    from scalinglab.fit.optimise import fit_arrays, make_law
    from scalinglab.fit.settings import FitSettings

    settings = FitSettings(method="hoffmann")
    law = make_law(settings)
    X = {"N": runs["n_params"].to_numpy(float), "D": runs["tokens"].to_numpy(float)}
    y = runs["loss"].to_numpy(float)
    grid = law.default_starts(X, y)
    starts = grid[:: max(1, len(grid) // n_starts)]
    seconds, (theta, _) = timed(lambda: fit_arrays(law, X, y, np.ones_like(y), settings,
                                                   starts=starts))
    return seconds, seconds * len(grid) / len(starts), len(starts), law.from_raw(theta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--old-resamples", type=int, default=None,
                        help="resamples the old SciPy path runs (its bootstrap time is scaled "
                             "up to --bootstrap if fewer; default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-starts", type=int, default=0,
                        help="also run Hoffmann's grid with per-start L-BFGS-B on this many of "
                             "its 4500 starts (0: skip; the time is scaled up to 4500)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    runs = epoch_runs()
    B = args.bootstrap

    fit_s, fit = timed(lambda: fit_parametric(runs), args.repeats)
    with BootstrapTimer(batched=True) as new:
        new_s, new_fit = timed(lambda: fit_parametric(runs, bootstrap=B, seed=0))
    with BootstrapTimer(batched=False, old_resamples=args.old_resamples) as old:
        old_s, old_fit = timed(lambda: fit_parametric(runs, bootstrap=B, seed=0))
    old_boot_s = old.seconds * old.requested / max(old.resamples, 1)
    old_total_s = old_s - old.seconds + old_boot_s
    package = chinchilla_package_fit(runs)

    def quantiles(result, n):   # the first n draws: both paths see the same resamples
        draws = result.bootstrap_params.iloc[:n]
        return {k: [float(v) for v in draws[k].quantile([0.05, 0.5, 0.95])]
                for k in draws.columns}

    n_old = len(old_fit.bootstrap_params)
    q_new, q_old = quantiles(new_fit, n_old), quantiles(old_fit, n_old)
    agreement = max(abs(a - b) / (q_old[k][2] - q_old[k][0])
                    for k in q_old for a, b in zip(q_new[k], q_old[k], strict=True))

    rows = [(f"scalinglab.fit(runs), median of {args.repeats}", fit_s, fit.params),
            (f"fit(bootstrap={B}), batched Newton bootstrap", new_s, new_fit.params),
            (f"  of which the bootstrap ({B} resamples)", new.seconds, None),
            (f"fit(bootstrap={B}), old SciPy bootstrap", old_total_s, old_fit.params),
            (f"  of which the bootstrap ({old.resamples} resamples"
             f"{', scaled' if old.resamples < old.requested else ''})", old_boot_s, None)]
    if package is not None:
        rows.append(("PyPI chinchilla 0.2.0, fit(), 4^5 starts", package[0], package[1]))
    baseline = None
    if args.baseline_starts:
        baseline = hoffmann_baseline(runs, args.baseline_starts)
        rows.append((f"per-start L-BFGS-B, {baseline[2]}/4500 Hoffmann starts", baseline[0],
                     baseline[3]))

    print(f"Approach 3 on {len(runs)} Epoch points  ({platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, numpy {np.__version__})")
    print(f"{'method':52s} {'seconds':>8s} {'E':>7s} {'A':>7s} {'alpha':>7s} {'B':>7s} "
          f"{'beta':>7s} {'objective':>11s}")
    for name, secs, p in rows:
        cells = (f"{p['E']:7.4f} {p['A']:7.1f} {p['alpha']:7.4f} {p['B']:7.1f} {p['beta']:7.4f} "
                 f"{objective_of(p, runs):11.8g}") if p else ""
        print(f"{name:52s} {secs:8.3f} {cells}")
    print(f"{'Epoch AI reference (Besiroglu et al. 2024)':52s} {'':8s} {REFERENCE['E']:7.4f} "
          f"{REFERENCE['A']:7.1f} {REFERENCE['alpha']:7.4f} {REFERENCE['B']:7.1f} "
          f"{REFERENCE['beta']:7.4f} {objective_of(REFERENCE, runs):11.8g}")
    print()
    print(f"bootstrap speed-up, old SciPy path / batched Newton: {old_boot_s / new.seconds:.1f}x"
          f"  (fit with bootstrap end to end: {old_total_s / new_s:.1f}x)")
    print(f"bootstrap quantiles (5/50/95%) of the two paths on the same {n_old} resamples "
          f"differ by at most {100 * agreement:.3f}% of the old 90% interval width")
    print(f"fit(bootstrap={B}) with run intervals calibrated: {new_s:.2f} s  (goal <= 2 s)")
    if package is None:
        print("PyPI chinchilla package not installed: its column is skipped "
              "(pip install chinchilla==0.2.0, benchmark only)")
    else:
        print(f"PyPI chinchilla fit / scalinglab.fit: {package[0] / fit_s:.0f}x;  "
              f"/ scalinglab.fit(bootstrap={B}): {package[0] / new_s:.1f}x")
    if baseline is not None:
        print(f"per-start L-BFGS-B over all 4500 starts: {baseline[1]:.1f} s (scaled), "
              f"{baseline[1] / fit_s:.0f}x the default fit")
    if args.json:
        out = {"points": len(runs), "cores": os.cpu_count(), "load": os.getloadavg()[0],
               "fit_seconds": fit_s, "fit_params": fit.params,
               "bootstrap_resamples": B,
               "fit_bootstrap_seconds": new_s, "bootstrap_seconds": new.seconds,
               "old_fit_bootstrap_seconds": old_total_s, "old_bootstrap_seconds": old_boot_s,
               "old_bootstrap_resamples_run": old.resamples,
               "bootstrap_speedup": old_boot_s / new.seconds,
               "quantile_max_difference_fraction_of_width": agreement,
               "quantiles_new": q_new, "quantiles_old": q_old}
        if package is not None:
            out.update({"chinchilla_package_seconds": package[0],
                        "chinchilla_package_params": package[1],
                        "chinchilla_package_objective": objective_of(package[1], runs),
                        "chinchilla_over_fit": package[0] / fit_s,
                        "chinchilla_over_fit_bootstrap": package[0] / new_s})
        if baseline is not None:
            out.update({"baseline_seconds_measured": baseline[0], "baseline_starts": baseline[2],
                        "baseline_seconds_4500": baseline[1], "baseline_params": baseline[3]})
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
