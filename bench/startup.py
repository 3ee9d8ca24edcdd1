"""Benchmark: how long the command line takes to start, against Python with the fit's own
imports (NumPy, pandas, SciPy's optimiser) in the same run.

Each command is run ``--repeats`` times as a fresh process, interleaved; the table gives the
median and minimum wall seconds and the ratio of medians to the baseline.

Usage:  python bench/startup.py [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

BASELINE = [sys.executable, "-c", "import numpy, pandas, scipy.optimize"]


def commands() -> dict[str, list[str]]:
    script = shutil.which("scalinglab") or str(Path(sys.executable).parent / "scalinglab")
    return {"python + numpy, pandas, scipy.optimize (baseline)": BASELINE,
            "scalinglab --version": [script, "--version"],
            "scalinglab laws": [script, "laws"],
            "scalinglab fit --help": [script, "fit", "--help"],
            "import torch": [sys.executable, "-c", "import torch"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in commands()}
    for _ in range(args.repeats):
        for name, argv in commands().items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times[next(iter(times))])
    view = Table(title=f"process start, {args.repeats} runs each, interleaved")
    for column in ("command", "median s", "min s", "median / baseline"):
        view.add_column(column, justify="left" if column == "command" else "right")
    for name, values in times.items():
        median = statistics.median(values)
        view.add_row(name, f"{median:.2f}", f"{min(values):.2f}", f"{median / base:.2f}")
    Console().print(view)
    if args.json:
        args.json.write_text(json.dumps(times, indent=2))


if __name__ == "__main__":
    main()
