"""Benchmark: which compute levels (and minimum step count) a demo sweep should fit.

Trains nothing itself beyond one *superset* sweep per seed: a WSD sweep over the union of the
candidate designs' levels (``scalinglab sweep run DIR --config FILE``; every level's sizes
depend on that level alone, so each candidate's points are a subset of the superset's).  For
each candidate design and ``--min-steps`` threshold it keeps exactly the points that design
would have planned, fits them as the demo does (:func:`scalinglab.study.fits.fit_sweep`), and
prints, per seed, the fitted E against the exact best possible loss E_T (synthetic language
only), the validation run the fit sizes, and its predicted loss with the 90% run interval.
It chose the synthetic language's levels (``SYNTHETIC_SWEEP``; table in bench/README.md).

    python bench/design_subsets.py --corpus synthetic --stores S0 S1 S2 \\
        [--designs 'five=1e11,2e11,4e11,1e12,2e12;three=2e11,6e11,2e12'] [--min-steps 1000,1500]
        [--truth 1.74,1.74,1.74] [--settings JSON] [--bootstrap 100] [--centre point]

``--settings`` (JSON) sets sweep options for every design (sizes per level, size step,
min_layers, lr_scale, batch_tokens); a design written ``name=`` keeps the corpus's levels.
``--stores`` are the superset sweeps, one per seed, in seed order 0, 1, 2, ...  ``--truth``
(optional) gives each seed's measured validation loss to score the predictions, valid only
where the candidate sizes the same validation run as the one measured.  ``--bootstrap``
sets the fits' resamples (the demo uses 400); ``--centre`` (``extrapolation.py``'s option)
moves the interval to a summary of the bootstrap predictions instead of the point estimate.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

DEFAULT_DESIGNS = ("five=1e11,2e11,4e11,1e12,2e12;three=2e11,6e11,2e12;"
                   "four=2e11,4e11,1e12,2e12;five_b=2e11,4e11,6e11,1e12,2e12;"
                   "six=1e11,2e11,4e11,6e11,1e12,2e12")


def parse_designs(text: str) -> dict[str, tuple[float, ...]]:
    designs = {}
    for item in text.split(";"):
        name, levels = item.split("=")
        # "name=" keeps the design's own levels
        designs[name.strip()] = tuple(float(x) for x in levels.split(",") if x.strip())
    return designs


def evaluate(corpus_name: str, stores: list[str], levels: tuple[float, ...] | None,
             min_steps: int, truth: list[float] | None, settings: dict | None = None,
             bootstrap: int = 100, centre: str = "point") -> list[str]:
    """One cell per seed: E error (when known), validation size, prediction and interval."""
    from scalinglab.corpora import load_corpus  # noqa: PLC0415
    from scalinglab.study.config import DemoConfig  # noqa: PLC0415
    from scalinglab.study.fits import (  # noqa: PLC0415
        fit_sweep,
        predict_validation,
        resolve_loss_column,
        with_loss_column,
    )
    from scalinglab.study.sizing import size_validation_run  # noqa: PLC0415
    from scalinglab.sweep.plan import default_spec, plan_sweep  # noqa: PLC0415
    from scalinglab.sweep.store import SQLiteRunStore  # noqa: PLC0415

    settings = dict(settings or {})
    if levels:
        settings["levels"] = levels
    corpus = load_corpus(corpus_name, tokenizer=default_spec(corpus_name, **settings).tokenizer)
    column = resolve_loss_column("auto", corpus)
    cells = []
    for seed, folder in enumerate(stores):
        spec = default_spec(corpus_name, **{**settings, "seed": seed})
        plan = plan_sweep(spec, corpus)
        planned = {(float(r.shape.n_params), float(p["tokens"])) for r in plan.runs
                   for p in r.points}
        seeds = {r.config.seed for r in plan.runs}
        with SQLiteRunStore(folder) as store:
            records = store.records(role="sweep")
        # this seed's runs only (a store may also hold other seeds' runs of the same sizes)
        records = records[records["seed"].isin(seeds).to_numpy()]
        final = records["final"].astype(bool)
        point = [(float(n), float(d)) in planned
                 for n, d in zip(records["n_params"], records["tokens"], strict=True)]
        records = records[~final.to_numpy() | np.array(point, dtype=bool)]
        config = DemoConfig(spec=spec, fit_min_steps=min_steps, bootstrap=bootstrap)
        fits = fit_sweep(with_loss_column(records, column), plan, config)
        approach3 = fits.approach3
        run = size_validation_run(spec, corpus, plan, approach3, fits.approach2)
        predicted = predict_validation(approach3, run, 0.9)
        if centre != "point":
            predicted = _recentred(approach3, run, predicted, centre)
        cell = ""
        if corpus.language is not None:
            best = corpus.language.best_possible_loss(spec.seq_len)
            cell += f"E {approach3.params['E'] / best - 1:+.2%}, "
        cell += (f"N_val {run.shape.n_params:.3g}: {predicted['loss']:.4f} "
                 f"[{predicted['low']:.4f}, {predicted['high']:.4f}]")
        if truth:
            cell += f" err {predicted['loss'] / truth[seed] - 1:+.2%}"
        calibrated = approach3.run_interval is not None and approach3.run_interval.calibrated
        cells.append(cell + ("" if calibrated else " (not calibrated)"))
    return cells


def _recentred(approach3, run, predicted: dict, centre: str) -> dict:
    from extrapolation import bootstrap_centre  # noqa: PLC0415 (bench/ is the script's path)

    inputs = {"N": np.array([float(run.shape.n_params)]),
              "D": np.array([float(run.config.tokens)])}
    moved = bootstrap_centre(approach3, inputs, centre)
    if moved is None:
        return predicted
    ratio = float(moved[0]) / predicted["loss"]
    return {**predicted, "loss": float(moved[0]), "low": predicted["low"] * ratio,
            "high": predicted["high"] * ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="synthetic")
    parser.add_argument("--stores", nargs="+", required=True)
    parser.add_argument("--designs", default=DEFAULT_DESIGNS)
    parser.add_argument("--min-steps", default="1000,1500")
    parser.add_argument("--truth", default=None)
    parser.add_argument("--settings", default="{}",
                        help="JSON sweep settings for every design, e.g. "
                             "'{\"sizes_per_level\": 9, \"size_step\": 1.414}'")
    parser.add_argument("--bootstrap", type=int, default=100,
                        help="bootstrap resamples per fit (the demo uses 400)")
    parser.add_argument("--centre", default="point",
                        choices=("point", "median", "geomean", "trim10", "trim25"))
    args = parser.parse_args()
    settings = json.loads(args.settings)
    warnings.filterwarnings("ignore")
    truth = [float(x) for x in args.truth.split(",")] if args.truth else None
    print("| design | levels (FLOPs) | min steps | " +
          " | ".join(f"seed {i}" for i in range(len(args.stores))) + " |")
    print("|---|---|---:|" + "---|" * len(args.stores))
    for name, levels in parse_designs(args.designs).items():
        for min_steps in (int(x) for x in args.min_steps.split(",")):
            cells = evaluate(args.corpus, args.stores, levels, min_steps, truth, settings,
                             args.bootstrap, args.centre)
            shown = ", ".join(f"{c:g}" for c in levels) if levels else "the design's"
            print(f"| {name} | {shown} | {min_steps} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
