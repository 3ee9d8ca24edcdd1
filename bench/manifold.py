"""Intrinsic-dimension timing: scikit-learn neighbour path vs skdim's full distance matrix.

For 10k x 100 and 50k x 256 points (a 10-sphere rotated into the ambient space) both paths
estimate TwoNN in the same process; the table gives seconds, the estimates (identical by
construction) and the speed-up (goal >= 4x).  ``--teacher-student`` also runs the default
teacher-student experiment and prints its table (d, alpha measured, 4/d, ID, 4/ID).

    .venv/bin/python bench/manifold.py [--sizes 10000x100,50000x256] [--teacher-student]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

from scalinglab.jsonutil import to_jsonable
from scalinglab.manifold import (
    TeacherStudentSettings,
    intrinsic_dimension,
    sample_sphere,
    teacher_student,
)


def time_paths(n: int, p: int, d: int = 10) -> dict:
    X = sample_sphere(n, d, ambient=p, seed=0)
    out = {"n": n, "features": p, "d": d}
    for path in ("neighbours", "skdim"):
        began = time.perf_counter()
        result = intrinsic_dimension(X, "twonn", bootstrap=0, path=path)
        out[f"{path}_seconds"] = time.perf_counter() - began
        out[f"{path}_dimension"] = result.dimension
    out["speedup"] = out["skdim_seconds"] / out["neighbours_seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000x100,50000x256")
    parser.add_argument("--teacher-student", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    print(f"{'points':>8} {'features':>8} {'neighbours s':>13} {'full matrix s':>14} "
          f"{'speed-up':>9} {'TwoNN (both)':>13}")
    for spec in args.sizes.split(","):
        n, p = (int(v) for v in spec.lower().split("x"))
        row = time_paths(n, p)
        rows.append(row)
        print(f"{n:>8} {p:>8} {row['neighbours_seconds']:>13.2f} {row['skdim_seconds']:>14.2f} "
              f"{row['speedup']:>8.1f}x {row['neighbours_dimension']:>6.3f}/"
              f"{row['skdim_dimension']:.3f}", flush=True)
    report: dict = {"id_timing": rows}
    if args.teacher_student:
        result = teacher_student(TeacherStudentSettings(), progress=True)
        print(f"\n{'d':>3} {'alpha_N [90%]':>22} {'4/d':>6} {'alpha_D':>8} {'alpha_interp':>12} "
              f"{'ID':>6} {'4/ID':>6}")
        for r in result.table():
            print(f"{r['d']:>3} {r['alpha_N']:>7.3f} [{r['alpha_N_low']:.3f}, "
                  f"{r['alpha_N_high']:.3f}] {r['four_over_d']:>6.3f} {r['alpha_D']:>8.3f} "
                  f"{r['alpha_interp']:>12.3f} {r['id']:>6.2f} {r['four_over_id']:>6.3f}")
        print(f"{result.seconds:.0f} s")
        report["teacher_student"] = result.to_dict()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(to_jsonable(report), handle, indent=2)


if __name__ == "__main__":
    main()
