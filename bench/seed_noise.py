"""Benchmark: seed-to-seed scatter of a run's final loss against its learning rate.

A scaling-law fit is only as steady as its points.  This trains the same model (byte-level
KJV, context 128, the demo's 512-token batches unless ``--batch``, WSD schedule) with several seeds at the
trainer's size-aware learning rate times each ``--scales`` factor, and prints the mean final
loss, its sample standard deviation across seeds and the relative scatter, per scale.  It
chose the demo sweep's ``lr_scale`` (``SweepSpec.lr_scale``; table in bench/README.md).

    python bench/seed_noise.py [--params 77040] [--tokens 1415168] [--scales 1,0.85,0.7,0.5]
        [--seeds 0,1,2] [--workers 2] [--json PATH]
    python bench/seed_noise.py --stores DIR DIR [DIR ...]   # whole sweeps, one seed each

With ``--stores``, it reads the sweep folders of the same design trained with different
seeds (``scalinglab sweep run DIR --seed S``) and prints the scatter across seeds of every
final point, and its root mean square over the points with at least 1000 and 2000 steps.

Each run trains in its own process with one torch thread (``--workers`` at a time), so the
numbers are the same whatever the machine's load.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def train_one(params: float, tokens: float, scale: float, seed: int, batch: int = 512,
              allow_repeat: bool = False) -> dict:
    """One WSD run at ``scale`` x the default rate; its final held-out loss (nats/token).

    ``allow_repeat``: a run longer than the corpus repeats it (the demo's longest points do)."""
    import torch  # noqa: PLC0415

    from scalinglab.corpora import load_corpus  # noqa: PLC0415
    from scalinglab.train import TrainConfig, train_run  # noqa: PLC0415
    from scalinglab.train.config import default_lr  # noqa: PLC0415
    from scalinglab.train.shape import ModelShape  # noqa: PLC0415

    torch.set_num_threads(1)
    corpus = load_corpus("kjv", tokenizer="byte")
    shape = ModelShape.for_params(params, corpus.vocab_size, 128)
    lr = scale * default_lr(shape.n_params, batch)
    config = TrainConfig(params=params, tokens=tokens, seq_len=128, batch_tokens=batch, lr=lr,
                         schedule="wsd", seed=seed, eval_at=(), eval_tokens=1 << 16,
                         threads=1, allow_repeat=allow_repeat)
    result = train_run(config, corpus)
    return {"scale": scale, "seed": seed, "lr": lr, "loss": float(result.final_loss),
            "seconds": float(result.wall_seconds)}


def summarise(rows: list[dict]) -> list[dict]:
    """Per scale: mean loss, sample sd across seeds, sd / mean."""
    out = []
    for scale in sorted({r["scale"] for r in rows}, reverse=True):
        losses = np.array([r["loss"] for r in rows if r["scale"] == scale])
        sd = float(np.std(losses, ddof=1)) if len(losses) > 1 else float("nan")
        out.append({"scale": scale, "lr": next(r["lr"] for r in rows if r["scale"] == scale),
                    "losses": losses.tolist(), "mean": float(losses.mean()), "sd": sd,
                    "relative_sd": sd / float(losses.mean())})
    return out


def compare_stores(folders: list[str]) -> None:
    """Scatter across seeds of each (N, D) point that every store has (final points only)."""
    import pandas as pd  # noqa: PLC0415

    from scalinglab.sweep.store import SQLiteRunStore  # noqa: PLC0415

    columns = []
    for folder in folders:
        with SQLiteRunStore(folder) as store:
            rows = store.records(role="sweep")
        rows = rows[rows["final"].astype(bool)]
        columns.append(rows.set_index(["n_params", "tokens", "batch_tokens"])["loss"]
                       .rename(folder))
    table = pd.concat(columns, axis=1).dropna()
    relative = table.std(axis=1, ddof=1) / table.mean(axis=1)
    steps = np.array([d / b for _, d, b in table.index])
    print("| N | D (tokens) | steps | " + " | ".join(f"seed folder {i}" for i in
                                                   range(len(folders))) + " | sd / mean |")
    print("|---:|---:|---:|" + "---:|" * len(folders) + "---:|")
    for (n, d, _), step, row, rel in zip(table.index, steps, table.to_numpy(), relative,
                                         strict=True):
        print(f"| {n:.0f} | {d:.3g} | {step:.0f} | " + " | ".join(f"{x:.4f}" for x in row)
              + f" | {rel:.2%} |")
    for least in (1000, 2000):
        keep = steps >= least
        print(f"rms of sd/mean over {keep.sum()} points with >= {least} steps: "
              f"{np.sqrt(np.mean(relative[keep] ** 2)):.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=77040)
    parser.add_argument("--tokens", type=float, default=1415168)
    parser.add_argument("--scales", default="1,0.85,0.7,0.5")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batch", type=int, default=512, help="tokens per optimiser step")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--stores", nargs="+", default=None,
                        help="sweep folders of one design, one seed each")
    args = parser.parse_args()
    if args.stores:
        compare_stores(args.stores)
        return
    scales = [float(s) for s in args.scales.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(args.params, args.tokens, sc, sd, args.batch) for sc in scales for sd in seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(train_one, *zip(*jobs, strict=True)))
    table = summarise(rows)
    print(f"N = {args.params:.0f}, D = {args.tokens:.3g} tokens, batch {args.batch} tokens, "
          f"seeds {seeds}, mean {np.mean([r['seconds'] for r in rows]):.1f} s per run")
    print("| lr scale | lr | losses (nats/token) | mean | sd | sd / mean |")
    print("|---:|---:|---|---:|---:|---:|")
    for r in table:
        print(f"| {r['scale']:g} | {r['lr']:.3g} | {' '.join(f'{x:.4f}' for x in r['losses'])} "
              f"| {r['mean']:.4f} | {r['sd']:.4f} | {r['relative_sd']:.2%} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"params": args.params, "tokens": args.tokens, "rows": table}, fh,
                      indent=2)


if __name__ == "__main__":
    main()
