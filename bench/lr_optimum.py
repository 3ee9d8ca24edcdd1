"""Benchmark: is every model of the demo's ladder trained at its best learning rate?

A scaling law fitted to a ladder extrapolates the ladder's *training recipe*, not only its
sizes: if the small models sit further above their best loss than the large one (a learning
rate that suits one size and not another), the fitted law carries that gap to the target
(Porian et al. 2024 trace part of the Kaplan-Chinchilla discrepancy to such tuning).

This reads a demo folder (``scalinglab demo --out DIR``: ``runs.csv`` and
``fit_approach3.json``), trains every fitted sweep point again as a standalone WSD run (byte
KJV, context 128, 512-token batches, one torch thread per run) at each ``--scales`` multiple of
the trainer's size-aware rate, and the validation run's (N, D) at each
``--validation-scales`` multiple.  It prints, per point, the loss at every scale, the best
scale and how far the demo's own scale (``--demo-scale``, the sweep's ``lr_scale``) sits above
the best loss; then it fits the demo's law (Chinchilla, Approach 3, the demo's calibration
cuts, no frontier filter) twice -- to the points at the demo's scale and to their envelope
(each point at its best scale) -- and compares both 10x predictions with the validation run at
the demo's scale and at its best.

    python bench/lr_optimum.py --demo DIR [--scales 0.7,1,1.4,2] [--validation-scales
        0.5,0.7,1,1.4] [--demo-scale 0.7] [--seed 0] [--workers 2] [--json PATH]
        [--runs-from PATH]

``--runs-from`` re-reads the runs of an earlier ``--json`` instead of training them again.

Losses are deterministic for a seed on one CPU; the seconds are not.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_noise import train_one  # noqa: E402  (the same one-run trainer)


def demo_points(folder: Path) -> tuple[pd.DataFrame, pd.Series, dict]:
    """The demo's fitted sweep points (final rows), its validation run and its fit settings."""
    runs = pd.read_csv(folder / "runs.csv")
    fit = json.loads((folder / "fit_approach3.json").read_text())
    validation = runs["run_id"].str.endswith("validation")
    final = runs["final"].astype(bool)
    used = runs["run_id"].isin(set(fit["rows"]["run_id"]))
    points = runs[used & final & ~validation].drop_duplicates(["n_params", "tokens"])
    return points.reset_index(drop=True), runs[validation & final].iloc[-1], fit["settings"]


def train_grid(jobs: list[tuple[float, float, float]], seed: int, workers: int) -> pd.DataFrame:
    """One standalone run per (N, D, scale); longest first so the pool stays busy."""
    jobs = sorted(jobs, key=lambda j: -j[0] * j[1])
    with ProcessPoolExecutor(workers) as pool:
        rows = list(pool.map(train_one, *zip(*[(n, d, s, seed, 512, True) for n, d, s in jobs],
                                                strict=True)))
    out = pd.DataFrame(rows)
    out["params"] = [j[0] for j in jobs]
    out["tokens"] = [j[1] for j in jobs]
    return out


def best_per_point(grid: pd.DataFrame, demo_scale: float) -> pd.DataFrame:
    """Per (N, D): the loss at the demo's scale, the best scale and loss, the gap (relative)."""
    rows = []
    for (n, d), g in grid.groupby(["params", "tokens"], sort=True):
        best = g.loc[g["loss"].idxmin()]
        at_demo = g.loc[np.isclose(g["scale"], demo_scale), "loss"]
        demo_loss = float(at_demo.iloc[0]) if len(at_demo) else np.nan
        rows.append({"params": n, "tokens": d, "steps": d / 512, "best_scale": best["scale"],
                     "best_lr": best["lr"], "best_loss": best["loss"], "demo_loss": demo_loss,
                     "gap": demo_loss / best["loss"] - 1,
                     "losses": dict(zip(g["scale"], g["loss"], strict=True))})
    return pd.DataFrame(rows)


def predict_validation(points: pd.DataFrame, loss_column: str, validation: pd.Series,
                       settings: dict, seed: int) -> float:
    """The demo's Approach-3 fit of ``points[loss_column]``, predicted at the validation (N, D)."""
    import scalinglab  # noqa: PLC0415

    table = pd.DataFrame({"run_id": [f"p{i}" for i in range(len(points))],
                          "n_params": points["params"], "tokens": points["tokens"],
                          "loss": points[loss_column]})
    fit = scalinglab.fit(table, law="chinchilla", frontier_filter=None, bootstrap=0,
                         calibration_cuts=settings.get("calibration_cuts"), seed=seed)
    return float(fit.predict(N=validation["n_params"], D=validation["tokens"]))


def ladder_predictions(sweep: pd.DataFrame, grid: pd.DataFrame, val: pd.Series,
                       validation: pd.Series, settings: dict, seed: int) -> list[tuple]:
    """(ladder, prediction, validation loss at the same scale or NaN): every uniform scale of
    the grid, then the envelope."""
    rows = []
    for scale in sorted(set(grid["scale"])):
        at = grid[np.isclose(grid["scale"], scale)].rename(columns={"loss": "at_scale"})
        points = sweep.merge(at[["params", "tokens", "at_scale"]], on=["params", "tokens"])
        if len(points) < len(sweep):
            continue  # a validation-only scale
        same = val["losses"].get(scale, np.nan)
        rows.append((f"every point at x{scale:g}",
                     predict_validation(points, "at_scale", validation, settings, seed), same))
    rows.append(("every point at its best scale (envelope)",
                 predict_validation(sweep, "best_loss", validation, settings, seed), np.nan))
    return rows


def print_points(table: pd.DataFrame, scales: list[float], demo_scale: float) -> None:
    print("| N | D (tokens) | steps | " + " | ".join(f"x{s:g}" for s in scales)
          + f" | best scale | loss at x{demo_scale:g} above best |")
    print("|---:|---:|---:|" + "---:|" * len(scales) + "---:|---:|")
    for r in table.itertuples():
        cells = " | ".join(f"{r.losses[s]:.4f}" if s in r.losses else "-" for s in scales)
        print(f"| {r.params:.0f} | {r.tokens:.3g} | {r.steps:.0f} | {cells} | "
              f"{r.best_scale:g} | {r.gap:+.2%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", required=True, help="a `scalinglab demo --out` folder")
    parser.add_argument("--scales", default="0.7,1,1.4,2")
    parser.add_argument("--validation-scales", default="0.5,0.7,1,1.4")
    parser.add_argument("--demo-scale", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--runs-from", default=None,
                        help="the runs of an earlier --json, instead of training them")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    vscales = [float(s) for s in args.validation_scales.split(",")]
    points, validation, settings = demo_points(Path(args.demo))
    jobs = [(float(n), float(d), s) for n, d in zip(points["n_params"], points["tokens"],
                                                     strict=True) for s in scales]
    jobs += [(float(validation["n_params"]), float(validation["tokens"]), s) for s in vscales]
    if args.runs_from:
        grid = pd.DataFrame(json.loads(Path(args.runs_from).read_text())["runs"])
    else:
        grid = train_grid(jobs, args.seed, args.workers)
    table = best_per_point(grid, args.demo_scale)
    is_val = np.isclose(table["params"], validation["n_params"]) & \
        np.isclose(table["tokens"], validation["tokens"])
    sweep, val = table[~is_val].reset_index(drop=True), table[is_val].iloc[0]
    print(f"demo {args.demo}, seed {args.seed}, {len(grid)} runs, "
          f"{grid['seconds'].sum():.0f} s of one core in all")
    print_points(table, sorted(set(scales) | set(vscales)), args.demo_scale)
    ladders = ladder_predictions(sweep, grid, val, validation, settings, args.seed)
    print(f"\nvalidation (N = {validation['n_params']:.0f}, D = {validation['tokens']:.3g}): "
          f"x{args.demo_scale:g} {val['demo_loss']:.4f}, best (x{val['best_scale']:g}) "
          f"{val['best_loss']:.4f}")
    print("| ladder fitted | predicted 10x loss | error vs validation at the same scale | "
          "error vs validation at its best |")
    print("|---|---:|---:|---:|")
    for name, pred, same in ladders:
        vs_same = f"{pred / same - 1:+.2%}" if np.isfinite(same) else "-"
        print(f"| {name} | {pred:.4f} | {vs_same} | {pred / val['best_loss'] - 1:+.2%} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "demo": args.demo, "seed": args.seed, "runs": grid.to_dict("records"),
            "points": table.drop(columns="losses").to_dict("records"),
            "ladders": [{"ladder": n, "prediction": p, "validation_same_scale": v}
                        for n, p, v in ladders],
            "validation": {"demo_loss": val["demo_loss"], "best_loss": val["best_loss"],
                           "best_scale": val["best_scale"]}}, indent=2, default=float))


if __name__ == "__main__":
    main()
