"""``scalinglab train``: one GPT training run that emits run records.

Example::

    scalinglab train --params 2e5 --tokens 5e6 --corpus tinyshakespeare.txt \\
        --schedule wsd --cooldown-at 1e6,2e6,5e6 --out runs.parquet

Works unchanged under ``torchrun`` (rank 0 alone prints and writes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from scalinglab.cli.common import err_console, fmt, parse_float, print_json, print_table
from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError
from scalinglab.records import write_runs


def parse_float_list(text: str | None, name: str) -> tuple[float, ...]:
    """``1e6,2e6,5e6`` -> (1e6, 2e6, 5e6), each a finite number > 0."""
    if text is None or not text.strip():
        return ()
    return tuple(parse_float(part.strip(), name) for part in text.split(",") if part.strip())


def parse_count(text: str | None, name: str) -> int | None:
    """``4096`` or ``4e3`` -> an integer > 0 (None stays None)."""
    if text is None:
        return None
    value = parse_float(text, name)
    if value != math.floor(value):
        raise ScalingLabError(f"{name} must be a whole number, got {text!r}")
    return int(value)


def load_training_corpus(source: str | None, tokenizer: str) -> TokenizedCorpus:
    """A corpus from ``scalinglab.corpora.load_corpus`` when present, else the byte fallback."""
    try:
        from scalinglab.corpora import load_corpus
    except ImportError:  # the corpora package without its loader: files only, bytes only
        load_corpus = None
    if load_corpus is not None:
        return load_corpus(source or "kjv", tokenizer)
    if source is None:
        raise ScalingLabError("--corpus PATH is required (no built-in corpus is installed)")
    if tokenizer != "byte":
        raise ScalingLabError(f"tokenizer {tokenizer!r} needs scalinglab.corpora; "
                              f"the fallback loader is byte-level only")
    from scalinglab.train.data import load_text_corpus
    return load_text_corpus(source)


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    def train(
        params: str = typer.Option(..., "--params", help="Target non-embedding parameters N."),
        tokens: str = typer.Option(..., "--tokens", help="Training tokens D of the run."),
        corpus: str | None = typer.Option(
            None, "--corpus", help="Corpus: a text file (.txt, .txt.xz, .gz), or a source "
            "name scalinglab.corpora knows (default: kjv)."),
        tokenizer: str = typer.Option("byte", "--tokenizer", help="Tokenizer (byte = 256)."),
        schedule: str = typer.Option("cosine", "--schedule",
                                     help="cosine (to 10%), constant, or wsd."),
        cooldown_at: str | None = typer.Option(
            None, "--cooldown-at", help="WSD cooldown branches at these token counts, "
            "e.g. 1e6,2e6,5e6 (one final record each)."),
        cooldown_fraction: float = typer.Option(0.2, "--cooldown-fraction",
                                                help="WSD cooldown share of each branch."),
        lr: str | None = typer.Option(None, "--lr", help="Peak learning rate "
                                      "(default: size-aware rule)."),
        warmup_tokens: str | None = typer.Option(None, "--warmup-tokens",
                                                 help="Warmup tokens (default: max(N, 100 "
                                                 "steps))."),
        batch_tokens: str | None = typer.Option(None, "--batch-tokens",
                                                help="Tokens per optimiser step."),
        micro_batch_tokens: str | None = typer.Option(
            None, "--micro-batch-tokens", help="Tokens per forward pass (accumulation)."),
        seq_len: int = typer.Option(128, "--seq-len", help="Context length, tokens."),
        seed: int = typer.Option(0, "--seed"),
        eval_at: str | None = typer.Option(None, "--eval-at",
                                           help="Evaluate at these token counts."),
        evals: int = typer.Option(8, "--evals", help="Log-spaced evaluations (no --eval-at)."),
        eval_tokens: str = typer.Option("131072", "--eval-tokens",
                                        help="Held-out tokens per evaluation."),
        allow_repeat: bool = typer.Option(False, "--allow-repeat",
                                          help="Allow more tokens than the corpus holds."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        compile_model: bool | None = typer.Option(None, "--compile/--no-compile",
                                                  help="torch.compile (default: on CUDA)."),
        threads: int | None = typer.Option(None, "--threads", help="CPU threads."),
        checkpoint_dir: Path | None = typer.Option(None, "--checkpoint-dir"),
        checkpoint_every: int | None = typer.Option(None, "--checkpoint-every",
                                                    help="Checkpoint every this many steps."),
        resume: bool = typer.Option(False, "--resume",
                                    help="Continue from --checkpoint-dir if it holds one."),
        peak_flops: str | None = typer.Option(None, "--peak-flops",
                                              help="Hardware peak FLOP/s for MFU."),
        run_id: str | None = typer.Option(None, "--run-id"),
        sweep: str = typer.Option("", "--sweep"),
        out: Path | None = typer.Option(None, "--out", help="Write records (.csv/.parquet)."),
        progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                             help="Progress bar on stderr (default: tty)."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Train one GPT and emit a run record per evaluation (held-out loss, exact N, D, C)."""
        from scalinglab.train import TrainConfig, train_run
        from scalinglab.train.distributed import current_context, shutdown

        if checkpoint_every is not None and (checkpoint_every < 1 or checkpoint_dir is None):
            raise ScalingLabError(f"--checkpoint-every {checkpoint_every} needs a step count "
                                  f">= 1 and --checkpoint-dir")
        config = TrainConfig(
            params=parse_float(params, "--params"), tokens=parse_float(tokens, "--tokens"),
            seq_len=seq_len, batch_tokens=parse_count(batch_tokens, "--batch-tokens"),
            micro_batch_tokens=parse_count(micro_batch_tokens, "--micro-batch-tokens"),
            lr=None if lr is None else parse_float(lr, "--lr"),
            warmup_tokens=None if warmup_tokens is None else parse_float(
                warmup_tokens, "--warmup-tokens", positive=False),
            schedule=schedule, cooldown_fraction=cooldown_fraction,
            cooldown_at=parse_float_list(cooldown_at, "--cooldown-at"), seed=seed,
            eval_at=parse_float_list(eval_at, "--eval-at") or None, n_evals=evals,
            eval_tokens=parse_count(eval_tokens, "--eval-tokens"), allow_repeat=allow_repeat,
            device=device, compile=compile_model, threads=threads,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            checkpoint_every=checkpoint_every,
            peak_flops=None if peak_flops is None else parse_float(peak_flops, "--peak-flops"),
            run_id=run_id, sweep=sweep)
        if out is not None and out.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise ScalingLabError(f"--out {str(out)!r} must end in .csv or .parquet")
        data = load_training_corpus(corpus, tokenizer)
        is_first_rank = os.environ.get("RANK", "0") == "0"  # torchrun: one bar, on rank 0
        show = (err_console.is_terminal if progress is None else progress) and is_first_rank
        try:
            if show:
                with _progress_bar() as bar:
                    task = bar.add_task("train", total=1.0, tokens="", loss="-", rate="-")
                    result = train_run(config, data, resume=resume,
                                       progress=lambda info: _advance(bar, task, info))
            else:
                result = train_run(config, data, resume=resume)
            is_main = current_context().is_main
        finally:
            shutdown()
        if not is_main:
            return
        for warning in result.warnings:
            err_console.print(f"warning: {warning}", markup=False, highlight=False,
                              soft_wrap=True)
        if out is not None:
            write_runs(result.frame(), out)
        _print_result(result, as_json, out)


def _progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.fields[tokens]}"), TextColumn("loss {task.fields[loss]}"),
                    TextColumn("{task.fields[rate]} tok/s"), TimeRemainingColumn(),
                    console=err_console, transient=True)


def _advance(bar: Progress, task, info) -> None:
    loss = info.eval_loss if math.isfinite(info.eval_loss) else info.train_loss
    bar.update(task, completed=info.step / info.total_steps, description=info.phase,
               tokens=f"{info.tokens:.3g}/{info.total_tokens:.3g} tokens",
               loss=f"{loss:.4f}", rate=f"{info.tokens_per_second:,.0f}")


def _print_result(result, as_json: bool, out: Path | None) -> None:
    summary = result.summary()
    frame = result.frame()
    if as_json:
        print_json({**summary, "out": None if out is None else str(out),
                    "rows": frame.to_dict(orient="records")})
        return
    main_id = result.plan.run_id
    rows = sorted(result.records, key=lambda r: (r.tokens, r.run_id != main_id))
    print_table(f"run {main_id}",
                ["row", "tokens", "flops", "loss (nats/token)", "bits/byte", "final"],
                [["main" if r.run_id == main_id else "cooldown branch", r.tokens, r.flops,
                  r.loss, r.bits_per_byte, r.final] for r in rows])
    comparison = result.plan.shape.flops_comparison()
    print_table("FLOPs per token", ["convention", "FLOPs/token", "ratio to exact"],
                [[name, value, value / comparison.exact]
                 for name, value in comparison.to_dict().items()])
    typer.echo(f"model: {result.plan.describe()}")
    typer.echo(f"speed: {fmt(result.tokens_per_second)} tokens/s, "
               f"{fmt(result.achieved_flops_per_second)} FLOP/s, MFU {fmt(result.mfu)} "
               f"on {result.device}")
    if out is not None:
        typer.echo(f"wrote {len(frame)} record(s) to {out}")
