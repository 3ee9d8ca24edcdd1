"""Benchmark: predict downstream accuracy on the development library ``downstream-dev``.

For every suggested extrapolation task of ``../shared/data/downstream-dev/`` (README there)
and every accuracy column it lists, fit the task chain (:func:`scalinglab.fit.chain.fit_task`,
the library's defaults: ``via="auto"``, the default link, the joint bootstrap) on the fit rows
and predict every target row with ``predict_interval``.  Scores per task, in accuracy points
(100 x fraction): MAE, mean signed error (pred - true), 90% interval coverage and mean width,
beside the README's naive baselines computed here the same way: (a) the best accuracy of the
fit set (per run for the per-run tasks), (b) a least-squares line of accuracy against log10 C
(OLMo: log10 loss_c4).  A task refused as near chance (or a target refused as unidentified)
is counted and not scored.

Validation loss used as step 1's loss: ``loss_c4`` (llm-line families, OLMo); Pythia publishes
no validation loss, so its routes are compute (and the LAMBADA task loss for lambada).

Usage:  python bench/downstream.py [--suites NAME,..] [--tasks T,..]
            [--link auto|sigmoid_pm|sigmoid_pm_floor|sigmoid|sigmoid1]
            [--via auto] [--bootstrap 64] [--widen both|backtests|routes|none]
            [--point chosen|mean] [--floor-margin 1]
            [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit import chainselect
from scalinglab.fit.chain import DEFAULT_BOOTSTRAP, DEFAULT_LINK, TaskRefusal, fit_task
from scalinglab.fit.chaincalib import DEFAULT_POINT
from scalinglab.fit.guards import GuardRefused
from scalinglab.jsonutil import to_jsonable
from scalinglab.laws.links import FITTED_FLOOR_FORMS, known_chance

#: --widen: what widens the accuracy interval (scalinglab.fit.chaincalib)
WIDEN = {"both": ("backtests", "routes"), "backtests": ("backtests",), "routes": ("routes",),
         "none": ()}
ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "downstream-dev"
LOSS = "loss_c4"
PYTHIA_TASKS = ("arc_challenge", "arc_easy", "lambada_openai", "logiqa", "mmlu", "piqa", "sciq",
                "winogrande", "wsc")
LINE_TASKS = ("arc_challenge", "arc_easy", "hellaswag", "mmlu", "winogrande", "piqa",
              "social_iqa", "commonsense_qa", "copa", "openbookqa")


@dataclass
class Suite:
    """One suggested task: a file, fit rows, target rows, per-run or pooled."""

    name: str
    family: str
    file: str
    tasks: tuple[str, ...]
    fit: Any            # frame -> bool mask
    target: Any         # frame -> bool mask
    per_run: bool = False
    link_only: bool = False


def _pythia(data: str):
    def keep(f):
        return (f.train_data == data) & (f.tokens > 0)
    return keep


SUITES = [
    Suite("pythia-size", "pythia", "pythia.csv", PYTHIA_TASKS,
          lambda f: _pythia("the Pile")(f) & (f.n_params <= 1e9),
          lambda f: _pythia("the Pile")(f) & (f.n_params > 1e9) & (f.final == 1)),
    Suite("pythia-compute", "pythia", "pythia.csv", PYTHIA_TASKS,
          lambda f: _pythia("the Pile")(f) & (f.flops < 1e21),
          lambda f: _pythia("the Pile")(f) & (f.flops >= 1e21) & (f.final == 1)),
    Suite("pythia-dedup-size", "pythia", "pythia.csv", PYTHIA_TASKS,
          lambda f: _pythia("the Pile (deduplicated)")(f) & (f.n_params <= 1e9),
          lambda f: _pythia("the Pile (deduplicated)")(f) & (f.n_params > 1e9) & (f.final == 1)),
    Suite("ablation-1e21", "hf_fineweb_ablations", "hf_fineweb_ablations.csv", LINE_TASKS,
          lambda f: f.flops < 1e21, lambda f: f.flops >= 1e21, per_run=True),
    Suite("ablation-5e20", "hf_fineweb_ablations", "hf_fineweb_ablations.csv", LINE_TASKS,
          lambda f: f.flops < 5e20, lambda f: f.flops >= 1e21, per_run=True),
    Suite("pile-final-1e21", "llm_line_pile_final", "llm_line_pile_final.csv", LINE_TASKS,
          lambda f: f.flops < 1e21, lambda f: f.flops >= 1e21),
    Suite("pile-final-6e21", "llm_line_pile_final", "llm_line_pile_final.csv", LINE_TASKS,
          lambda f: f.flops < 6e21, lambda f: f.flops >= 6e21),
    Suite("olmo-1b-to-7b", "olmo_unlabelled", "olmo_unlabelled.csv", LINE_TASKS,
          lambda f: f.model_id == "allenai/OLMo-1B", lambda f: f.model_id == "allenai/OLMo-7B",
          link_only=True),
]


def load(suite: Suite) -> pd.DataFrame:
    frame = pd.read_csv(DEV / suite.file)
    frame["run_id"] = frame["model_id"]
    if suite.family == "pythia":
        frame["final"] = frame["final"].fillna(0)
    return frame


def baselines(fit_rows: pd.DataFrame, targets: pd.DataFrame, col: str, suite: Suite):
    """(a) best accuracy of the fit set, (b) line in log10 C (OLMo: log10 loss_c4)."""
    x_name = LOSS if suite.link_only else "flops"
    fx = np.log10(fit_rows[x_name].to_numpy(float))
    fy = fit_rows[col].to_numpy(float)
    ok = np.isfinite(fx) & np.isfinite(fy)
    slope, icpt = np.polyfit(fx[ok], fy[ok], 1)
    line = icpt + slope * np.log10(targets[x_name].to_numpy(float))
    best = np.full(len(targets), np.nanmax(fy))
    return best, line


def predict_targets(fit, targets: pd.DataFrame, suite: Suite):
    """(point, low, high) and refused and flagged arrays over the target rows (flagged: the
    answer carries the ``link_distance`` warning)."""
    out = np.full((len(targets), 3), np.nan)
    refused = np.zeros(len(targets), dtype=bool)
    flagged = np.zeros(len(targets), dtype=bool)
    for i, (_, row) in enumerate(targets.iterrows()):
        inputs = ({"loss": row[LOSS]} if suite.link_only or fit.loss_fit is None
                  and fit.via != "compute" else {"N": row.n_params, "D": row.tokens})
        try:
            p = fit.predict_interval(**inputs)
        except (TaskRefusal, GuardRefused):   # a distance guard refuses like the link does
            refused[i] = True
            continue
        out[i] = p["accuracy"], p["low"], p["high"]
        flagged[i] = any(g.name == "link_distance" for g in p["guards"])
    return out, refused, flagged


def run_one(frame: pd.DataFrame, suite: Suite, task: str, args) -> dict[str, Any] | None:
    col = f"acc_{task}"
    if col not in frame.columns:
        return None
    groups = [frame] if not suite.per_run else [g for _, g in frame.groupby("run_id")]
    rows = []
    for g in groups:
        fit_rows = g[suite.fit(g) & g[col].notna()]
        targets = g[suite.target(g) & g[col].notna()]
        if len(fit_rows) == 0 or len(targets) == 0:
            continue
        truth = targets[col].to_numpy(float)
        best, line = baselines(fit_rows, targets, col, suite)
        rec = {"truth": truth, "best": best, "line": line, "refused_task": False, "via": None,
               "pred": np.full((len(targets), 3), np.nan),
               "refused": np.zeros(len(targets), bool),
               "flagged": np.zeros(len(targets), bool)}
        try:
            fit = fit_task(fit_rows, col, chance=known_chance(task), via=args.via,
                           link=args.link, loss_column=LOSS, bootstrap=args.bootstrap, seed=0)
            rec["via"] = fit.via + ("+floor" if fit.link.form in FITTED_FLOOR_FORMS else "")
            fit.widening, fit.point = WIDEN[args.widen], args.point
            rec["pred"], rec["refused"], rec["flagged"] = predict_targets(fit, targets, suite)
        except TaskRefusal:
            rec["refused_task"] = True
        except ScalingLabError as exc:        # too few rows in this run's fit set, ...
            rec["failed"] = str(exc)
        rows.append(rec)
    if not rows:
        return None
    return score(rows, suite, task)


def score(rows: list[dict[str, Any]], suite: Suite, task: str) -> dict[str, Any]:
    """Scores in accuracy points over the scored targets of a task."""
    cat = {k: np.concatenate([r[k] for r in rows])
           for k in ("truth", "best", "line", "refused", "flagged")}
    pred = np.vstack([r["pred"] for r in rows])
    refused_task = any(r["refused_task"] for r in rows)
    failed = [r["failed"] for r in rows if "failed" in r]
    scored = np.isfinite(pred[:, 0])
    t = cat["truth"]
    out = {"suite": suite.name, "family": suite.family, "task": task,
           "chance": known_chance(task), "targets": int(len(t)),
           "scored": int(scored.sum()), "refused_task": refused_task,
           "refused_targets": int(cat["refused"].sum()), "failed": failed,
           "via": ",".join(sorted({r["via"] for r in rows if r["via"]})) or "-",
           "mae_best": float(100 * np.mean(np.abs(cat["best"] - t))),
           "mae_line": float(100 * np.mean(np.abs(cat["line"] - t)))}
    if scored.any():
        p, lo, hi = pred[scored].T
        ts = t[scored]
        out.update({"mae": float(100 * np.mean(np.abs(p - ts))),
                    "signed": float(100 * np.mean(p - ts)),
                    "coverage": float(np.mean((lo <= ts) & (ts <= hi))),
                    "width": float(100 * np.mean(hi - lo)),
                    "mae_best_scored": float(100 * np.mean(np.abs(cat["best"][scored] - ts))),
                    "mae_line_scored": float(100 * np.mean(np.abs(cat["line"][scored] - ts)))})
        flag = cat["flagged"][scored]
        inside = (lo <= ts) & (ts <= hi)
        out["by_flag"] = {name: {"n": int(m.sum()), "covered": int(inside[m].sum()),
                                 "abs_error_sum": float(100 * np.sum(np.abs(p - ts)[m]))}
                          for name, m in (("flagged", flag), ("unflagged", ~flag))}
    return out


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Goals: per family MAE below both baselines; overall >= 30% below the line; coverage."""
    scored = [r for r in results if "mae" in r]
    fam = {}
    for family in sorted({r["family"] for r in scored}):
        rs = [r for r in scored if r["family"] == family]
        fam[family] = {k: float(np.mean([r[k] for r in rs]))
                       for k in ("mae", "mae_best_scored", "mae_line_scored", "coverage")}
        fam[family]["tasks"] = len(rs)
    n = sum(r["scored"] for r in scored)
    covered = sum(r["coverage"] * r["scored"] for r in scored)
    mae = float(np.mean([r["mae"] for r in scored])) if scored else float("nan")
    line = float(np.mean([r["mae_line_scored"] for r in scored])) if scored else float("nan")
    best = float(np.mean([r["mae_best_scored"] for r in scored])) if scored else float("nan")
    by_flag = {name: {k: sum(r["by_flag"][name][k] for r in scored)
                      for k in ("n", "covered", "abs_error_sum")}
               for name in ("flagged", "unflagged")}
    return {"families": fam, "mae": mae, "mae_line": line, "mae_best": best,
            "by_flag": by_flag,
            "vs_line": 1 - mae / line if line else float("nan"),
            "coverage_targets": covered / n if n else float("nan"), "scored_targets": n,
            "refused_tasks": [f"{r['suite']}:{r['task']}" for r in results if r["refused_task"]]}


def print_table(results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    head = (f"{'suite':18s} {'task':15s} {'via':10s} {'n':>3s} {'MAE':>6s} {'signed':>7s} "
            f"{'cover':>6s} {'width':>6s} {'best':>6s} {'line':>6s}")
    print(head)
    for r in results:
        if "mae" not in r:
            why = ("refused: near chance" if r["refused_task"] else
                   f"failed: {r['failed'][0]}" if r["failed"] else
                   f"refused {r['refused_targets']}/{r['targets']} targets")
            print(f"{r['suite']:18s} {r['task']:15s} {r['via']:10s} {r['targets']:3d}   {why}"
                  f"   (best {r['mae_best']:.1f}, line {r['mae_line']:.1f})")
            continue
        print(f"{r['suite']:18s} {r['task']:15s} {r['via']:10s} {r['scored']:3d} "
              f"{r['mae']:6.2f} {r['signed']:+7.2f} {r['coverage']:6.2f} {r['width']:6.1f} "
              f"{r['mae_best_scored']:6.2f} {r['mae_line_scored']:6.2f}"
              + (f"  ({r['refused_targets']} refused)" if r["refused_targets"] else ""))
    print("\nper family (mean over scored tasks; MAE in accuracy points):")
    for fam, s in summary["families"].items():
        ok = s["mae"] < min(s["mae_best_scored"], s["mae_line_scored"])
        print(f"  {fam:22s} tasks {s['tasks']:2d}  MAE {s['mae']:5.2f}  best {s['mae_best_scored']:5.2f}"
              f"  line {s['mae_line_scored']:5.2f}  coverage {s['coverage']:.2f}  "
              f"{'below both' if ok else 'NOT below both'}")
    print(f"overall: MAE {summary['mae']:.2f} vs line {summary['mae_line']:.2f} "
          f"({100 * summary['vs_line']:.0f}% below; goal >= 30%), best-in-fit "
          f"{summary['mae_best']:.2f}; 90% coverage {summary['coverage_targets']:.2f} over "
          f"{summary['scored_targets']} targets (goal 0.80-0.97)")
    for name, label in (("flagged", "warned 'link beyond its backtests' reach'"),
                        ("unflagged", "not warned")):
        b = summary["by_flag"][name]
        if b["n"]:
            print(f"{label}: {b['n']} targets, 90% coverage {b['covered'] / b['n']:.2f}, "
                  f"mean |error| {b['abs_error_sum'] / b['n']:.2f} points")
    print(f"refused as near chance: {', '.join(summary['refused_tasks']) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suites", default="", help="comma-separated suite names (default all)")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default all)")
    ap.add_argument("--link", default=DEFAULT_LINK)
    ap.add_argument("--via", default="auto")
    ap.add_argument("--widen", choices=list(WIDEN), default="both",
                    help="widen the interval by the backtests' errors, the route spread, both "
                         "(the default) or neither (the chain before issue 24's follow-up)")
    ap.add_argument("--point", choices=["chosen", "mean"], default=DEFAULT_POINT,
                    help="the chosen route's accuracy, or the mean over it and the routes its "
                         "backtests cannot tell apart")
    ap.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP)
    ap.add_argument("--floor-margin", type=float, default=chainselect.FLOOR_MARGIN_ITEMS,
                    help="items of the benchmark by which the fitted floor must beat the chance "
                         "floor in the backtests (link auto)")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)
    chainselect.FLOOR_MARGIN_ITEMS = args.floor_margin
    if not DEV.is_dir():
        print(f"downstream-dev not found at {DEV}", file=sys.stderr)
        return 2
    want = set(filter(None, args.suites.split(",")))
    tasks = set(filter(None, args.tasks.split(",")))
    results, t0 = [], time.time()
    for suite in SUITES:
        if want and suite.name not in want:
            continue
        frame = load(suite)
        for task in suite.tasks:
            if tasks and task not in tasks:
                continue
            try:
                r = run_one(frame, suite, task, args)
            except ScalingLabError as exc:
                print(f"{suite.name} {task}: error: {exc}", file=sys.stderr)
                continue
            if r is not None:
                results.append(r)
    summary = summarise(results)
    print_table(results, summary)
    print(f"({time.time() - t0:.0f} s; link {args.link}, via {args.via}, bootstrap "
          f"{args.bootstrap}, widen {args.widen}, point {args.point}, floor margin "
          f"{args.floor_margin:g} items)")
    if args.json:
        Path(args.json).write_text(json.dumps(to_jsonable(
            {"results": results, "summary": summary, "link": args.link, "via": args.via,
             "bootstrap": args.bootstrap, "widen": args.widen, "point": args.point,
             "floor_margin_items": args.floor_margin}), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
