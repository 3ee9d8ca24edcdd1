"""``scalinglab manifold id|teacher-student|lm|digits``: the data-manifold theory, alpha ~ 4/d."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from scalinglab.cli.common import console, fmt, print_json, print_table
from scalinglab.errors import ScalingLabError

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
BootOpt = Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")]
LevelOpt = Annotated[float, typer.Option(help="Interval level.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (everything is seeded).")]
MethodOpt = Annotated[str, typer.Option(help="ID estimator: twonn (Facco 2017) or mle "
                                             "(Levina-Bickel 2004).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Also write the JSON result here.")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The data-manifold theory: intrinsic dimension and alpha ~ 4/d.",
                        no_args_is_help=True)
    group.command("id")(id_command)
    group.command("teacher-student")(teacher_student_command)
    group.command("lm")(lm_command)
    group.command("digits")(digits_command)
    app.add_typer(group, name="manifold")


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(float(v)) for v in text.split(",") if v.strip())
    except ValueError:
        raise ScalingLabError(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ScalingLabError(f"{name} must be positive integers, got {text!r}")
    return values


def _write(out: Path | None, payload: dict[str, Any], as_json: bool) -> None:
    import json  # noqa: PLC0415

    from scalinglab.jsonutil import to_jsonable  # noqa: PLC0415

    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_jsonable(payload), indent=2) + "\n")
    if as_json:
        print_json(payload)
    elif out is not None:
        console.print(f"wrote {out}", markup=False)


def _interval(value: float, low: float, high: float) -> str:
    if not math.isfinite(low):
        return fmt(value)
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def _load_points(path: Path) -> np.ndarray:
    from scalinglab.manifold.intrinsic import ManifoldError  # noqa: PLC0415

    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return data[data.files[0]]
        if suffix in (".parquet", ".pq"):
            import pandas as pd  # noqa: PLC0415

            return pd.read_parquet(path).select_dtypes("number").to_numpy()
        return np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=1)
    except (ValueError, OSError) as exc:
        raise ManifoldError(f"cannot read points from {str(path)!r}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None


def id_command(
    points: Annotated[Path | None, typer.Argument(
        help="Points, one per row: .npy, .npz (first array), .csv, .txt or .parquet.")] = None,
    sphere: Annotated[int | None, typer.Option(
        help="Instead of a file: uniform points of the d-sphere, rotated into --ambient.")]
    = None,
    cube: Annotated[int | None, typer.Option(
        help="Instead of a file: uniform points of the d-cube, rotated into --ambient.")] = None,
    n: Annotated[int, typer.Option(help="Number of synthetic points.")] = 5000,
    ambient: Annotated[int, typer.Option(help="Ambient dimension of synthetic points.")] = 128,
    method: MethodOpt = "twonn",
    k: Annotated[int, typer.Option(help="Neighbours of the MLE estimator.")] = 20,
    max_points: Annotated[int | None, typer.Option(help="Subsample to this many points.")]
    = None,
    bootstrap: BootOpt = 200, level: LevelOpt = 0.9, seed: SeedOpt = 0,
    as_json: JsonOpt = False, out: OutOpt = None,
) -> None:
    """Intrinsic dimension of a point cloud (a file, or a synthetic sphere or cube)."""
    from scalinglab.manifold import intrinsic_dimension, sample_cube, sample_sphere  # noqa: PLC0415

    chosen = [x is not None for x in (points, sphere, cube)]
    if sum(chosen) != 1:
        raise ScalingLabError("give exactly one of POINTS, --sphere D or --cube D")
    if points is not None:
        X = _load_points(points)
        source = str(points)
    elif sphere is not None:
        X, source = sample_sphere(n, sphere, ambient, seed), f"{sphere}-sphere in R^{ambient}"
    else:
        X, source = sample_cube(n, cube, ambient, seed), f"{cube}-cube in R^{ambient}"
    result = intrinsic_dimension(X, method, bootstrap=bootstrap, level=level, seed=seed, k=k,
                                 max_points=max_points)
    payload = {"source": source, **result.to_dict()}
    if not as_json:
        print_table(f"intrinsic dimension of {source}",
                    ["method", "dimension", f"{level:.0%} interval", "points", "features",
                     "duplicates", "seconds"],
                    [(result.method, result.dimension,
                      f"{fmt(result.low)}-{fmt(result.high)}" if result.bootstrap else "-",
                      result.n_points, result.n_features, result.n_duplicates,
                      result.seconds)])
        for note in result.warnings:
            console.print(f"note: {note}", markup=False)
    _write(out, payload, as_json)


def teacher_student_command(
    dims: Annotated[str, typer.Option(help="Manifold dimensions d, comma-separated.")]
    = "2,4,6,8",
    widths: Annotated[str, typer.Option(help="Student widths (the N sweep).")]
    = "4,8,16,32,64",
    data_sizes: Annotated[str, typer.Option(
        help="Sample counts D of the data sweep ('none' to skip).")] = "256,512,1024,2048,4096",
    interp_sizes: Annotated[str, typer.Option(
        help="Sample counts of the model-free interpolation ('none' to skip).")]
    = "1000,2000,4000,8000,16000,32000",
    ambient: Annotated[int, typer.Option(help="Input coordinates (only d of them vary).")] = 24,
    steps: Annotated[int, typer.Option(help="Optimiser steps per student.")] = 1500,
    batch: Annotated[int, typer.Option(help="Fresh samples per step.")] = 512,
    lr: Annotated[float, typer.Option(help="Peak Adam learning rate (cosine decay).")] = 3e-3,
    depth: Annotated[int, typer.Option(help="Hidden layers of each student.")] = 2,
    threads: Annotated[int, typer.Option(help="torch threads (tiny MLPs: 1 is fastest).")]
    = 1,
    bootstrap: BootOpt = 200, level: LevelOpt = 0.9, seed: SeedOpt = 0,
    as_json: JsonOpt = False, out: OutOpt = None,
) -> None:
    """Students of growing size learn a random smooth teacher on a d-dimensional manifold:
    fitted alpha_N, alpha_D and the interpolation exponent beside 4/d and 4/ID."""
    from scalinglab.manifold import TeacherStudentSettings, teacher_student  # noqa: PLC0415

    def sizes(text: str, name: str) -> tuple[int, ...]:
        return () if text.strip().lower() == "none" else _ints(text, name)

    settings = TeacherStudentSettings(
        dims=_ints(dims, "--dims"), widths=_ints(widths, "--widths"),
        data_sizes=sizes(data_sizes, "--data-sizes"),
        interp_sizes=sizes(interp_sizes, "--interp-sizes"), ambient=ambient, steps=steps,
        batch=batch, lr=lr, depth=depth, bootstrap=bootstrap, level=level, seed=seed,
        threads=threads)
    result = teacher_student(settings, progress=not as_json)
    if not as_json:
        rows = []
        for r in result.table():
            rows.append((r["d"], _interval(r["alpha_N"], r["alpha_N_low"], r["alpha_N_high"]),
                         r["four_over_d"], r["alpha_D"], r["alpha_interp"],
                         _interval(r["id"], r["id_low"], r["id_high"]), r["four_over_id"]))
        print_table(f"teacher-student: test MSE ~ N^-alpha ({level:.0%} intervals)",
                    ["d", "alpha_N", "4/d", "alpha_D", "alpha_interp", "ID (last hidden)",
                     "4/ID"], rows)
        for note in result.warnings:
            console.print(f"note: {note}", markup=False)
        console.print(f"{result.seconds:.0f} s", markup=False)
    _write(out, result.to_dict(), as_json)


def lm_command(
    results_dir: Annotated[Path, typer.Argument(
        help="A sweep or demo results directory (store.sqlite, checkpoints/*/checkpoint.pt).")],
    corpus: Annotated[str | None, typer.Option(
        help="Corpus the runs trained on (default: the one the store records).")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="Its tokenizer (default: recorded).")]
    = None,
    positions: Annotated[int, typer.Option(
        help="Validation token positions sampled per run.")] = 2000,
    method: MethodOpt = "twonn",
    bootstrap: BootOpt = 200, level: LevelOpt = 0.9, seed: SeedOpt = 0,
    as_json: JsonOpt = False, out: OutOpt = None,
) -> None:
    """Final-layer intrinsic dimension of each run's model beside 4/alpha_N and 4/alpha_D of
    the sweep's fit and of Kaplan 2020."""
    from scalinglab.manifold import lm_dimensions  # noqa: PLC0415

    result = lm_dimensions(results_dir, corpus=corpus, tokenizer=tokenizer, positions=positions,
                           method=method, bootstrap=bootstrap, level=level, seed=seed,
                           progress=not as_json)
    if not as_json:
        print_table(f"final-layer intrinsic dimension ({method}, {level:.0%} intervals)",
                    ["run", "N (params)", "D (tokens)", "loss (nats/token)", "ID", "4/ID"],
                    [(r["run"], r["n_params"], r["tokens"], r["loss"],
                      _interval(r["id"], r["id_low"], r["id_high"]), r["four_over_id"])
                     for r in result.table()])
        print_table("the theory's dimension 4/alpha",
                    ["source", "exponent", "alpha", "4/alpha"],
                    [(c["source"], c["exponent"],
                      _interval(c["alpha"], c["alpha_low"], c["alpha_high"]),
                      _interval(c["four_over_alpha"], c["four_over_alpha_low"],
                                c["four_over_alpha_high"])) for c in result.comparison()])
        for note in result.warnings:
            console.print(f"note: {note}", markup=False)
    _write(out, result.to_dict(), as_json)


def digits_command(
    sizes: Annotated[str, typer.Option(help="Training-set sizes D of the data sweep.")]
    = "100,200,400,800,1400",
    learner: Annotated[str, typer.Option(help="knn (1-nearest neighbour) or ridge "
                                              "(RBF kernel ridge on one-hot labels).")]
    = "knn",
    method: MethodOpt = "twonn",
    bootstrap: BootOpt = 200, level: LevelOpt = 0.9, seed: SeedOpt = 0,
    as_json: JsonOpt = False, out: OutOpt = None,
) -> None:
    """The built-in 8x8 digits (scikit-learn, no download): their intrinsic dimension and the
    D-sweep exponent of a simple learner, beside 4/ID."""
    from scalinglab.manifold import digits_experiment  # noqa: PLC0415

    result = digits_experiment(_ints(sizes, "--sizes"), learner=learner, method=method,
                               bootstrap=bootstrap, level=level, seed=seed)
    if not as_json:
        print_table(f"8x8 digits: {result.learner} test error vs training-set size",
                    ["D (samples)", "test loss", "error rate"],
                    [(p["samples"], p["loss"], p["error_rate"]) for p in result.curve])
        e = result.exponent
        print_table(f"digits: intrinsic dimension and alpha_D ({level:.0%} intervals)",
                    ["ID", "4/ID", "alpha_D", "4/alpha_D"],
                    [(_interval(result.id.dimension, result.id.low, result.id.high),
                      4.0 / result.id.dimension, _interval(e.alpha, e.low, e.high),
                      _interval(*e.four_over))])
        for note in result.warnings:
            console.print(f"note: {note}", markup=False)
    _write(out, result.to_dict(), as_json)
