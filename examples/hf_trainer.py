"""One run of a scalinglab ladder trained by Hugging Face ``transformers`` (GPT-2, ``Trainer``).

scalinglab plans the ladder and launches this script once per run; the script knows nothing of
scalinglab's trainer.  It logs the held-out loss to TensorBoard (``eval/loss``, nats/token,
written under ``{run_dir}/tb``) and its own non-embedding parameter count
(``model/n_params``), writes the same rows to ``{run_dir}/metrics.jsonl``, and resumes from its latest ``checkpoint-*`` when given ``--resume 1``::

    scalinglab sweep run ladder --design isoflop --trainer 'python examples/hf_trainer.py
        --n_layer {n_layer} --d_model {d_model} --n_head {n_head} --seq_len {seq_len}
        --tokens {tokens} --batch_tokens {batch_tokens} --lr {lr}
        --warmup_tokens {warmup_tokens} --eval_tokens {eval_tokens} --seed {seed}
        --corpus {corpus} --tokenizer {tokenizer} --out {run_dir} --resume {resume}'
        --tb-loss eval/loss --tb-n-params model/n_params

The training data are the plan's corpus and tokenizer (loaded with ``scalinglab.corpora``), so
the ladder's N and D mean the same thing as for the built-in trainer; the recipe (GPT-2 blocks
with biases, cosine to zero, AdamW) is transformers'.  Runs on CPU in one thread by default.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("n_layer", "d_model", "n_head", "seq_len", "tokens", "batch_tokens",
                 "warmup_tokens", "eval_tokens", "seed"):
        p.add_argument(f"--{name}", type=int, required=name not in ("warmup_tokens", "seed"))
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--evals", type=int, default=4, help="evaluations per run")
    p.add_argument("--corpus", default="kjv")
    p.add_argument("--tokenizer", default="byte")
    p.add_argument("--out", required=True)
    p.add_argument("--resume", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def windows(tokens, seq_len: int, limit: int | None = None):
    """A torch Dataset of consecutive ``seq_len`` windows (labels = inputs; GPT-2 shifts)."""
    import torch  # noqa: PLC0415

    count = len(tokens) // seq_len if limit is None else min(limit, len(tokens) // seq_len)
    data = torch.as_tensor(tokens[:count * seq_len].astype("int64")).view(count, seq_len)

    class Windows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return count

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": data[i], "labels": data[i]}

    return Windows()


def main() -> None:
    args = parse()
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
    from transformers import (  # noqa: PLC0415
        GPT2Config,
        GPT2LMHeadModel,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from scalinglab.corpora import load_corpus  # noqa: PLC0415 -- the plan's data

    torch.set_num_threads(args.threads)
    corpus = load_corpus(args.corpus, tokenizer=args.tokenizer)
    config = GPT2Config(vocab_size=corpus.vocab_size, n_positions=args.seq_len,
                        n_embd=args.d_model, n_layer=args.n_layer, n_head=args.n_head,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=0, eos_token_id=0)
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    embedding = {"transformer.wte.weight", "transformer.wpe.weight"}
    n_params = sum(p.numel() for n, p in model.named_parameters() if n not in embedding)
    out = Path(args.out)
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "tb")  # one directory: one run
    with SummaryWriter(str(out / "tb")) as writer:
        writer.add_scalar("model/n_params", n_params, 0)
    batch = max(1, args.batch_tokens // args.seq_len)
    steps = max(1, round(args.tokens / (batch * args.seq_len)))
    every = max(1, math.ceil(steps / args.evals))

    class EvaluateAtEnd(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs):
            if state.global_step == steps:
                control.should_evaluate = True
                control.should_save = True
            return control

    class JsonLines(TrainerCallback):
        """Also write metrics.jsonl (the results contract), with the float32 value that
        TensorBoard stores, so both logs carry the same numbers."""

        def on_evaluate(self, targs, state, control, metrics=None, **kwargs):
            row = {"step": state.global_step, "tokens": state.global_step * batch * args.seq_len,
                   "loss": float(np.float32(metrics["eval_loss"])), "n_params": n_params}
            if state.global_step == steps:
                row["final"] = True
            with open(out / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(row) + "\n")

    targs = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch,
        per_device_eval_batch_size=64, learning_rate=args.lr, lr_scheduler_type="cosine",
        warmup_steps=round((args.warmup_tokens or 0) / (batch * args.seq_len)),
        weight_decay=0.1, adam_beta2=0.95, max_grad_norm=1.0, eval_strategy="steps",
        eval_steps=every, save_strategy="steps", save_steps=every, save_total_limit=1,
        logging_steps=every, report_to=["tensorboard"], seed=args.seed, data_seed=args.seed,
        use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=targs, train_dataset=windows(corpus.train, args.seq_len),
                      eval_dataset=windows(corpus.val, args.seq_len,
                                           max(1, args.eval_tokens // args.seq_len)),
                      callbacks=[EvaluateAtEnd(), JsonLines()])
    checkpoint = last_complete_checkpoint(out) if args.resume else None
    if checkpoint is None and (out / "metrics.jsonl").exists():
        (out / "metrics.jsonl").unlink()  # a fresh start
    trainer.train(resume_from_checkpoint=None if checkpoint is None else str(checkpoint))


def last_complete_checkpoint(out: Path) -> Path | None:
    """The newest ``checkpoint-*`` that was written to the end (``Trainer`` writes
    ``trainer_state.json`` last); partial ones, from a kill mid-save, are removed."""
    import shutil  # noqa: PLC0415

    found = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    for partial in set(found) - set(complete):
        shutil.rmtree(partial)
    return complete[-1] if complete else None


if __name__ == "__main__":
    main()
