"""Training throughput of scalinglab's trainer against plain eager PyTorch of the same model.

For each model size (non-embedding parameters, default 1e5, 1e6, 1e7 on CPU) it measures, in
separate fresh processes so that peak memory is per run:

* ``scalinglab``: :func:`scalinglab.train.train_run` (fused AdamW, step-indexed batches, no
  per-step host synchronisation; on CUDA also bf16 autocast, torch.compile, padded vocab);
* ``eager``: a plain fp32 loop over the same :class:`~scalinglab.train.model.GPT` — nanoGPT
  style random-offset batches, the default ``torch.optim.AdamW``, ``loss.item()`` every step.

Reported: tokens/s (steady state: the first ``--warmup-steps`` steps are not timed), achieved
FLOP/s (tokens/s x exact training FLOPs/token), MFU where a peak is known (PaLM's formula),
peak resident memory of the process (CPU) or peak allocated GPU memory, and the ratio
scalinglab / eager, measured in the same invocation.  The GPU section runs only when CUDA is
available (sizes ~1e7, 1e8, 3.5e8, context 1024, vocab 50304).

    python bench/train_throughput.py [--sizes 1e5,1e6,1e7] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

CPU_SIZES = (1e5, 1e6, 1e7)
GPU_SIZES = (1e7, 1e8, 3.5e8)
#: Tokens per optimiser step on CPU, the same for every size and both paths.
CPU_BATCH_TOKENS = 2048
#: Upper bound on CPU steps; a measurement stops once ``--seconds`` of timed steps are done.
MAX_CPU_STEPS = 10_000


class _TimeIsUp(Exception):
    """Raised from the step hook to end a measurement once its time budget is spent."""


def _stamping_hook(stamps: list[float], warmup_steps: int, seconds: float, min_steps: int):
    """A per-step hook that records times and stops the run when the budget is spent."""

    def hook(_step: int = 0) -> None:
        stamps.append(time.perf_counter())
        timed = len(stamps) - 1 - warmup_steps
        if timed >= min_steps and stamps[-1] - stamps[warmup_steps] >= seconds:
            raise _TimeIsUp

    return hook


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(f"{s:g}" for s in CPU_SIZES),
                        help="CPU model sizes (non-embedding parameters), comma-separated")
    parser.add_argument("--gpu-sizes", default=",".join(f"{s:g}" for s in GPU_SIZES))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both paths (1: robust on a shared machine)")
    parser.add_argument("--seq-len", type=int, default=128, help="CPU context length")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="approximate timed seconds per CPU measurement")
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--min-steps", type=int, default=3, help="timed steps at least")
    parser.add_argument("--repeats", type=int, default=2,
                        help="measure each path this many times, keep the fastest")
    parser.add_argument("--peak-flops", type=float, default=None,
                        help="CPU peak FLOP/s, for an MFU column")
    parser.add_argument("--gpu-steps", type=int, default=40, help="GPU steps at most")
    parser.add_argument("--gpu-seconds", type=float, default=15.0,
                        help="approximate timed seconds per GPU measurement")
    parser.add_argument("--skip-gpu", action="store_true")
    parser.add_argument("--json", dest="json_path", default=None, help="write results here")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- child processes
def _random_corpus(tokens: int, vocab: int, seed: int = 0):
    import numpy as np

    from scalinglab.corpora.base import TokenizedCorpus

    rng = np.random.default_rng(seed)
    dtype = np.uint8 if vocab <= 256 else np.int32
    return TokenizedCorpus(name="random", tokenizer="none", vocab_size=vocab,
                           train=rng.integers(0, vocab, tokens).astype(dtype),
                           val=rng.integers(0, vocab, 1 << 14).astype(dtype))


def _peak_memory_mib(device_type: str) -> float:
    if device_type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _scalinglab_path(spec: dict) -> list[float]:
    from scalinglab.train import TrainConfig, train_run

    steps, batch = spec["steps"], spec["batch_tokens"]
    corpus = _random_corpus(min(steps * batch, 1 << 22) + spec["seq_len"] + 1, spec["vocab"])
    stamps: list[float] = []
    config = TrainConfig(params=spec["params"], tokens=steps * batch, batch_tokens=batch,
                         micro_batch_tokens=spec.get("micro_batch_tokens"),
                         seq_len=spec["seq_len"], schedule="constant", warmup_tokens=0,
                         eval_at=(), eval_tokens=spec["seq_len"], threads=spec["threads"],
                         device=spec["device"], compile=spec.get("compile"), allow_repeat=True)
    hook = _stamping_hook(stamps, spec["warmup_steps"], spec["seconds"], spec["min_steps"])
    try:
        train_run(config, corpus, on_step=hook)
    except _TimeIsUp:
        pass
    return stamps


def _eager_path(spec: dict) -> list[float]:
    import torch

    from scalinglab.train.model import GPT
    from scalinglab.train.shape import ModelShape

    device = torch.device(spec["device"])
    shape = ModelShape.for_params(spec["params"], spec["vocab"], spec["seq_len"])
    torch.manual_seed(0)
    model = GPT(shape).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": other, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.95))
    seq_len, micro = spec["seq_len"], spec.get("micro_batch_tokens") or spec["batch_tokens"]
    sequences, accumulation = micro // seq_len, spec["batch_tokens"] // micro
    data = torch.from_numpy(_random_corpus(min(spec["steps"] * spec["batch_tokens"], 1 << 22)
                                           + seq_len + 1, spec["vocab"]).train.astype("int64"))
    stamps: list[float] = []
    hook = _stamping_hook(stamps, spec["warmup_steps"], spec["seconds"], spec["min_steps"])
    for _ in range(spec["steps"]):
        for _ in range(accumulation):
            starts = torch.randint(len(data) - seq_len - 1, (sequences,))
            x = torch.stack([data[i:i + seq_len] for i in starts]).to(device)
            y = torch.stack([data[i + 1:i + 1 + seq_len] for i in starts]).to(device)
            _, loss = model(x, y)
            (loss / accumulation).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        if spec["device"] == "cuda":
            torch.cuda.synchronize()
        try:
            hook()
        except _TimeIsUp:
            break
    return stamps


def measure(spec: dict) -> dict:
    """Run one path in this (fresh) process; tokens/s over the steps after warmup."""
    import torch

    torch.set_num_threads(spec["threads"])
    stamps = (_scalinglab_path if spec["path"] == "scalinglab" else _eager_path)(spec)
    if spec["device"] == "cuda":
        torch.cuda.synchronize()
    warm = spec["warmup_steps"]
    timed_steps = len(stamps) - 1 - warm
    seconds = stamps[-1] - stamps[warm]
    return {**spec, "timed_steps": timed_steps, "seconds": seconds,
            "tokens_per_second": timed_steps * spec["batch_tokens"] / seconds,
            "peak_memory_mib": _peak_memory_mib(spec["device"])}


def run_fresh(spec: dict) -> dict:
    """``measure(spec)`` in a new process (spawned, so nothing is shared with this one)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, spec).result()


# --------------------------------------------------------------------------- the benchmark
def plan_specs(params: float, device: str, args: argparse.Namespace) -> list[dict]:
    if device == "cuda":
        seq_len, vocab = 1024, 50304
        # 128k-token steps of 8 micro-batches of 16 x 1024; the first 3 steps (compilation,
        # allocator warm-up) are not timed
        batch, micro, steps = 1 << 17, 1 << 14, args.gpu_steps
        seconds, warmup = args.gpu_seconds, 3
    else:
        seq_len, vocab = args.seq_len, 256
        batch, micro, steps = CPU_BATCH_TOKENS, None, MAX_CPU_STEPS
        seconds, warmup = args.seconds, args.warmup_steps
    base = {"params": params, "device": device, "seq_len": seq_len, "vocab": vocab,
            "batch_tokens": batch, "micro_batch_tokens": micro, "steps": steps,
            "threads": args.threads, "warmup_steps": warmup, "seconds": seconds,
            "min_steps": args.min_steps, "compile": True if device == "cuda" else None}
    return [{**base, "path": "eager"}, {**base, "path": "scalinglab"}]


def summarise(results: list[dict], peak: float | None) -> list[dict]:
    from scalinglab.compute.flops import mfu
    from scalinglab.train.shape import ModelShape

    rows = []
    for result in results:
        shape = ModelShape.for_params(result["params"], result["vocab"], result["seq_len"])
        rate = result["tokens_per_second"]
        rows.append({**result, "n_params": shape.n_params, "shape": shape.describe(),
                     "flops_per_second": rate * shape.flops_per_token(),
                     "mfu": mfu(rate, shape.palm_flops_per_token(), peak or float("nan"))})
    for row in rows:
        eager = [r for r in rows if r["path"] == "eager" and r["params"] == row["params"]
                 and r["device"] == row["device"]]
        row["ratio_to_eager"] = row["tokens_per_second"] / eager[0]["tokens_per_second"]
    return rows


def best_of(specs: list[dict], repeats: int) -> list[dict]:
    """Each spec measured ``repeats`` times, paths interleaved; the fastest kept."""
    best: dict[int, dict] = {}
    for _ in range(repeats):
        for index, spec in enumerate(specs):
            result = run_fresh(spec)
            if index not in best or result["tokens_per_second"] > \
                    best[index]["tokens_per_second"]:
                best[index] = result
    return [best[i] for i in range(len(specs))]


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    header = (f"{'N (non-emb)':>12} {'path':>10} {'batch':>8} {'tokens/s':>11} "
              f"{'GFLOP/s':>9} {'MFU':>7} {'peak MiB':>9} {'vs eager':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        mfu_text = "-" if math.isnan(row["mfu"]) else f"{row['mfu']:.1%}"
        print(f"{row['n_params']:>12,} {row['path']:>10} {row['batch_tokens']:>8} "
              f"{row['tokens_per_second']:>11,.0f} {row['flops_per_second'] / 1e9:>9.2f} "
              f"{mfu_text:>7} {row['peak_memory_mib']:>9.0f} {row['ratio_to_eager']:>8.2f}x")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    from scalinglab.train.loop import detect_peak_flops

    report = {"torch": torch.__version__, "python": platform.python_version(),
              "machine": platform.machine(), "cpu_count": os.cpu_count(),
              "threads": args.threads, "cpu": [], "gpu": None}
    cpu_specs = [spec for size in args.sizes.split(",")
                 for spec in plan_specs(float(size), "cpu", args)]
    cpu_rows = summarise(best_of(cpu_specs, args.repeats), args.peak_flops)
    report["cpu"] = cpu_rows
    print_table(f"CPU, {args.threads} thread(s), fp32, context {args.seq_len}, "
                f"torch {torch.__version__}", cpu_rows)
    if args.skip_gpu or not torch.cuda.is_available():
        print("\nGPU: skipped (" + ("--skip-gpu" if args.skip_gpu else "CUDA not available")
              + ")")
    else:
        device = torch.device("cuda")
        peak = detect_peak_flops(device)
        gpu_specs = [spec for size in args.gpu_sizes.split(",")
                     for spec in plan_specs(float(size), "cuda", args)]
        gpu_rows = summarise(best_of(gpu_specs, 1), peak)
        report["gpu"] = {"name": torch.cuda.get_device_name(device), "peak_flops": peak,
                         "rows": gpu_rows}
        print_table(f"GPU {report['gpu']['name']} (scalinglab: bf16 autocast + compile; "
                    f"eager: fp32), context 1024", gpu_rows)
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(report, handle, indent=2)
        print(f"\nwrote {args.json_path}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
