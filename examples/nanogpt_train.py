"""A single-file, nanoGPT-style PyTorch trainer for one run of a scalinglab ladder.

It knows nothing of scalinglab's trainer: a small GPT (pre-norm blocks, causal attention, GELU
MLP, learned positions, tied embeddings), AdamW, linear warmup, then cosine or WSD.  For WSD
it forks a cooldown branch at each ``--cooldown_tokens`` point (the branch ends at that point
divided by ``1 - cooldown_fraction``), evaluates it, and goes back to the stable phase, so one
run gives one final point per compute level.  It appends one JSON object per evaluation to
``{out}/metrics.jsonl`` (the results contract: ``tokens``, ``loss`` in nats/token, ``step``,
``n_params``, ``final``) and resumes from ``{out}/ckpt.pt`` with ``--resume 1``::

    scalinglab sweep run ladder --levels 2e10,6e10 --sizes 3 \\
        --trainer 'python examples/nanogpt_train.py --n_layer {n_layer} --d_model {d_model}
          --n_head {n_head} --seq_len {seq_len} --tokens {tokens} --batch_tokens {batch_tokens}
          --lr {lr} --warmup_tokens {warmup_tokens} --schedule {schedule}
          --cooldown_tokens "{cooldown_tokens}" --cooldown_fraction {cooldown_fraction}
          --eval_tokens {eval_tokens} --seed {seed} --data {corpus} --out {run_dir}
          --resume {resume}'

Data: ``--data kjv`` (or any source scalinglab's loader reads) through ``scalinglab.corpora``
so that the tokens are the plan's; ``--data file.txt`` reads raw bytes (vocabulary 256).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("n_layer", "d_model", "n_head", "seq_len", "tokens", "batch_tokens",
                 "warmup_tokens", "eval_tokens", "seed"):
        p.add_argument(f"--{name}", type=int, default=0 if name == "seed" else None,
                       required=name != "seed")
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--schedule", default="cosine", choices=("cosine", "wsd"))
    p.add_argument("--cooldown_tokens", default="")
    p.add_argument("--cooldown_fraction", type=float, default=0.2)
    p.add_argument("--evals", type=int, default=4)
    p.add_argument("--data", default="kjv")
    p.add_argument("--out", required=True)
    p.add_argument("--resume", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d, bias=False), nn.GELU(),
                                 nn.Linear(4 * d, d, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab: int, seq_len: int, d: int, layers: int, heads: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied output layer

    def non_embedding_params(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("w"))


def load_tokens(source: str) -> tuple[np.ndarray, np.ndarray, int]:
    if Path(source).is_file():
        data = np.frombuffer(Path(source).read_bytes(), dtype=np.uint8).astype(np.int64)
        cut = int(0.95 * len(data))
        return data[:cut], data[cut:], 256
    from scalinglab.corpora import load_corpus  # the plan's corpus and tokenizer

    corpus = load_corpus(source)
    return (np.asarray(corpus.train, dtype=np.int64), np.asarray(corpus.val, dtype=np.int64),
            corpus.vocab_size)


def lr_at(step: int, args, steps: int, warmup: int, decay_from: int | None, decay_to: int):
    """Linear warmup, then cosine to 10% (cosine) or constant with a linear-to-0 cooldown
    from ``decay_from`` to ``decay_to`` (WSD)."""
    if step < warmup:
        return args.lr * (step + 1) / warmup
    if args.schedule == "cosine":
        progress = (step - warmup) / max(1, steps - warmup)
        return args.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))
    if decay_from is None or step < decay_from:
        return args.lr
    return args.lr * max(0.0, 1 - (step - decay_from) / max(1, decay_to - decay_from))


def batch(train: np.ndarray, seq_len: int, rows: int, gen: torch.Generator):
    starts = torch.randint(0, len(train) - seq_len - 1, (rows,), generator=gen).numpy()
    x = np.stack([train[s:s + seq_len] for s in starts])
    y = np.stack([train[s + 1:s + seq_len + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def evaluate(model: GPT, val: np.ndarray, seq_len: int, tokens: int) -> float:
    count = max(1, min(tokens, len(val) - 1) // seq_len)
    x = torch.from_numpy(val[:count * seq_len].reshape(count, seq_len))
    y = torch.from_numpy(val[1:count * seq_len + 1].reshape(count, seq_len))
    return float(F.cross_entropy(model(x).flatten(0, 1), y.flatten()))


def train_steps(model, opt, train, args, first: int, last: int, steps: int, warmup: int,
                decay: tuple[int | None, int], gen: torch.Generator) -> None:
    rows = max(1, args.batch_tokens // args.seq_len)
    for step in range(first, last):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args, steps, warmup, *decay)
        x, y = batch(train, args.seq_len, rows, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, val, vocab = load_tokens(args.data)
    torch.manual_seed(args.seed)
    model = GPT(vocab, args.seq_len, args.d_model, args.n_layer, args.n_head)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                            weight_decay=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    steps = max(1, round(args.tokens / args.batch_tokens))
    warmup = max(1, round(args.warmup_tokens / args.batch_tokens))
    # WSD: branches end at each cooldown point; the main run cools down at its own end
    ends = sorted(round(float(t) / args.batch_tokens) for t in args.cooldown_tokens.split(",")
                  if t.strip()) if args.schedule == "wsd" else []
    cool = lambda end: round((1 - args.cooldown_fraction) * end)  # noqa: E731
    stops = sorted({cool(e) for e in ends} | {steps}) if ends else \
        sorted({round(steps * (i + 1) / args.evals) for i in range(args.evals)})
    step, done_stops = 0, 0
    ckpt = out / "ckpt.pt"
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        step, done_stops = state["step"], state["stops"]
    n_params = model.non_embedding_params()
    main_decay = (cool(steps), steps) if args.schedule == "wsd" else (None, steps)
    for stop in stops[done_stops:]:
        train_steps(model, opt, train, args, step, stop, steps, warmup, main_decay, gen)
        step = stop
        rows = []
        for end in (e for e in ends if cool(e) == stop and e < steps):  # a cooldown branch
            branch, branch_opt = copy.deepcopy(model), copy.deepcopy(opt)
            branch_gen = torch.Generator().set_state(gen.get_state())
            train_steps(branch, branch_opt, train, args, stop, end, steps, warmup,
                        (stop, end), branch_gen)
            rows.append({"step": end, "tokens": end * args.batch_tokens, "final": True,
                         "loss": evaluate(branch, val, args.seq_len, args.eval_tokens)})
        if stop == steps or not ends:
            rows.append({"step": stop, "tokens": stop * args.batch_tokens,
                         "final": stop == steps,
                         "loss": evaluate(model, val, args.seq_len, args.eval_tokens)})
        with open(out / "metrics.jsonl", "a") as handle:
            for row in rows:  # in token order: a branch's end lies before the next stop
                handle.write(json.dumps({**row, "n_params": n_params}) + "\n")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "gen": gen.get_state(), "step": step, "stops": stops.index(stop) + 1},
                   out / "ckpt.tmp")
        (out / "ckpt.tmp").replace(ckpt)


if __name__ == "__main__":
    main()
