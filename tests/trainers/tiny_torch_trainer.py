"""A stand-alone PyTorch trainer written for the tests (it knows nothing of scalinglab).

It trains a tiny byte-level model (embedding -> MLP -> logits, context of one token) for real
on fixed random byte pairs, evaluates the held-out cross-entropy (nats/token) a few times
and appends JSON lines to ``--out/metrics.jsonl``.  With ``--resume 1`` it continues from its
own checkpoint in ``--out``.  ``--fail MODE`` misbehaves on purpose (the bad-input tests):
exit, nometrics, nan, decreasing, bits, percent, sleep, crash_once, nofinal; ``quick``
writes two plausible rows without training (for tests of the plumbing).
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--d_model", type=int, default=16)
    parser.add_argument("--max_tokens", type=int, required=True)
    parser.add_argument("--batch_tokens", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--resume", type=int, default=0)
    parser.add_argument("--evals", type=int, default=4)
    parser.add_argument("--fail", default="")
    parser.add_argument("--report_params", type=int, default=0)
    parser.add_argument("--step_sleep", type=float, default=0.0)
    return parser.parse_args()


def misbehave(args: argparse.Namespace, out: Path) -> None:
    """The failure modes that need no training."""
    metrics = out / "metrics.jsonl"
    rows = {"nan": [{"tokens": 100, "loss": 3.0}, {"tokens": 200, "loss": float("nan")}],
            "decreasing": [{"tokens": 200, "loss": 3.0}, {"tokens": 100, "loss": 2.9}],
            "bits": [{"tokens": 100, "loss": 8.4}, {"tokens": args.max_tokens, "loss": 7.9}],
            "percent": [{"tokens": 100, "loss": 64.0},
                        {"tokens": args.max_tokens, "loss": 41.0}],
            "nofinal": [{"tokens": 100, "loss": 3.0}],
            "quick": [{"tokens": args.max_tokens // 2, "loss": 3.0 + args.seed / 100},
                      {"tokens": args.max_tokens, "loss": 2.5 + args.seed / 100}]}
    if args.fail == "exit":
        print("loading data failed: no such dataset 'missing'", file=sys.stderr)
        sys.exit(3)
    if args.fail == "nometrics":
        print("trained, but forgot to write metrics")
        sys.exit(0)
    if args.fail == "sleep":
        time.sleep(600)
    if args.fail in rows:
        with open(metrics, "w") as handle:
            for row in rows[args.fail]:
                handle.write(json.dumps(row) + "\n")
        sys.exit(0)
    if args.fail == "crash_once" and not (out / "crashed").exists():
        (out.parent / f"{out.name}.crashed").touch()
        (out / "crashed").touch()
        print("CUDA error: an illegal memory access was encountered (simulated)",
              file=sys.stderr)
        sys.exit(1)


def main() -> None:
    args = parse()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "env.json").write_text(json.dumps(
        {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
         "resume": args.resume, "pid": os.getpid()}))
    misbehave(args, out)
    import torch  # noqa: PLC0415 -- after the quick failure modes

    torch.set_num_threads(1)  # a tiny model: more threads only spin
    torch.manual_seed(1234)
    vocab = 32
    successor = torch.randperm(vocab)  # the next byte is successor[x] 70% of the time
    x = torch.randint(0, vocab, (20000,))
    noise = torch.randint(0, vocab, (20000,))
    y = torch.where(torch.rand(20000) < 0.7, successor[x], noise)
    train, val = (x[:16000], y[:16000]), (x[16000:], y[16000:])
    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Embedding(vocab, args.d_model), torch.nn.GELU(),
                                torch.nn.Linear(args.d_model, vocab))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = max(1, args.max_tokens // args.batch_tokens)
    evals = sorted({round(steps * (i + 1) / args.evals) for i in range(args.evals)})
    start = 0
    ckpt = out / "ckpt.pt"
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
    n_params = sum(p.numel() for p in model[1:].parameters())
    with open(out / "metrics.jsonl", "a") as metrics:
        for step in range(start + 1, steps + 1):
            idx = torch.randint(0, len(train[0]), (args.batch_tokens,))
            loss = torch.nn.functional.cross_entropy(model(train[0][idx]), train[1][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            time.sleep(args.step_sleep)
            if step in evals:
                with torch.no_grad():
                    held = torch.nn.functional.cross_entropy(model(val[0]), val[1]).item()
                row = {"step": step, "tokens": step * args.batch_tokens, "loss": held}
                if args.report_params:
                    row["n_params"] = n_params
                if step == steps:
                    row["final"] = True
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                            "rng": torch.get_rng_state(), "step": step}, ckpt)
    assert math.isfinite(held)


if __name__ == "__main__":
    main()
