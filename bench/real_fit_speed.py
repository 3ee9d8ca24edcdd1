"""Benchmark: ``scalinglab.fit(table, bootstrap=B)`` on every real sweep of the development library.

Real sweeps' fits are often ill-conditioned (E at its floor, an exponent at its bound), where a
Newton polish crawls; every resample the batched Newton path does not settle is refitted the
one-at-a-time SciPy way.  For each ``*.csv`` of ``../shared/data/scaling-dev`` this times, in
one process, the default fit with the bootstrap polished by the batched path (the default) and
by the SciPy path alone (``batched=False``, the reference), and counts the resamples the
batched path handed to SciPy.  Laws without a batched form (Kaplan's) take the SciPy path in
both columns.

Usage:  python bench/real_fit_speed.py [--bootstrap 1000] [--families a,b] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

import scalinglab
import scalinglab.fit.bootstrap as bootstrap_module

DEV = Path(__file__).resolve().parents[2] / "shared/data/scaling-dev"


class CountFallbacks:
    """Wraps the batched bootstrap to count the resamples it hands to the SciPy polish."""

    def __init__(self) -> None:
        self.fallbacks = 0
        self.resamples = 0

    def __enter__(self) -> CountFallbacks:
        self._original = bootstrap_module.batched_bootstrap

        def counted(law, T, y, w, counts, *args, **kwargs):
            theta, value, failed = self._original(law, T, y, w, counts, *args, **kwargs)
            self.fallbacks += failed
            self.resamples += len(counts)
            return theta, value, failed

        bootstrap_module.batched_bootstrap = counted
        return self

    def __exit__(self, *exc) -> None:
        bootstrap_module.batched_bootstrap = self._original


class ScipyOnly:
    """Forces the one-resample-at-a-time SciPy bootstrap (the reference path)."""

    def __enter__(self) -> None:
        self._original = bootstrap_module.bootstrap_fit

        def scipy_path(*args, **kwargs):
            return self._original(*args, **{**kwargs, "batched": False})

        bootstrap_module.bootstrap_fit = scipy_path

    def __exit__(self, *exc) -> None:
        bootstrap_module.bootstrap_fit = self._original


def timed_fit(table: pd.DataFrame, bootstrap: int):
    start = time.perf_counter()
    result = scalinglab.fit(table, bootstrap=bootstrap)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--families", default=None, help="comma list (default: every *.csv)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not DEV.is_dir():
        raise SystemExit(f"error: {DEV} not found (the development library beside the repo)")
    names = (args.families.split(",") if args.families
             else sorted(p.stem for p in DEV.glob("*.csv")))
    rows = []
    for name in names:
        table = pd.read_csv(DEV / f"{name}.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with CountFallbacks() as counter:
                batched_s, result = timed_fit(table, args.bootstrap)
            with ScipyOnly():
                scipy_s, reference = timed_fit(table, args.bootstrap)
        quantile_gap = result.bootstrap_params.quantile([0.05, 0.5, 0.95]).sub(
            reference.bootstrap_params.quantile([0.05, 0.5, 0.95])).abs().max().max()
        rows.append({"family": name, "rows": len(table), "law": result.law.name,
                     "batched_s": batched_s, "scipy_s": scipy_s,
                     "fallbacks": counter.fallbacks, "resamples": counter.resamples,
                     "max_quantile_diff": float(quantile_gap)})
        print(f"  {name}: {batched_s:.2f} s / {scipy_s:.2f} s", flush=True)
    table_view = Table(title=f"fit(table, bootstrap={args.bootstrap}) on the development library")
    for column in ("family", "rows", "law", "batched path s", "SciPy path s", "ratio",
                   "resamples to SciPy"):
        table_view.add_column(column, justify="left" if column in ("family", "law") else "right")
    for r in rows:
        table_view.add_row(r["family"], str(r["rows"]), r["law"], f"{r['batched_s']:.2f}",
                           f"{r['scipy_s']:.2f}", f"{r['scipy_s'] / r['batched_s']:.1f}x",
                           f"{r['fallbacks']}/{r['resamples']}" if r["resamples"] else "-")
    total_b, total_s = sum(r["batched_s"] for r in rows), sum(r["scipy_s"] for r in rows)
    table_view.add_row("all", "", "", f"{total_b:.1f}", f"{total_s:.1f}",
                       f"{total_s / total_b:.1f}x", "")
    Console().print(table_view)
    if args.json:
        args.json.write_text(json.dumps({"bootstrap": args.bootstrap, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
