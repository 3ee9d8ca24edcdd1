"""``scalinglab corpus info | clear-cache``: what a corpus holds, per tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scalinglab.cli.common import console, parse_float, print_json, print_table
from scalinglab.corpora import (
    DEFAULT_VAL_FRACTION,
    SOURCE_HELP,
    TokenCache,
    TokenizedCorpus,
    epochs_for_budget,
    load_corpus,
    parse_source,
)
from scalinglab.errors import ScalingLabError

# Chinchilla's compute-optimal ratio, ~20 training tokens per parameter (Hoffmann et al. 2022,
# Table 3): the largest model one epoch of the corpus feeds compute-optimally.
TOKENS_PER_PARAM = 20.0
DEFAULT_SEQ_LENS = (16, 64, 256)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Token cache folder (default $SCALINGLAB_CACHE or ~/.cache/scalinglab).")]


def register(app: typer.Typer) -> None:
    corpus_app = typer.Typer(help="Corpora and tokenizers: sizes, splits, exact entropy.",
                             no_args_is_help=True)
    corpus_app.command("info")(info_command)
    corpus_app.command("clear-cache")(clear_cache_command)
    app.add_typer(corpus_app, name="corpus")


def info_command(
    source: Annotated[str, typer.Argument(help=SOURCE_HELP)] = "kjv",
    tokenizer: Annotated[list[str] | None, typer.Option(
        "--tokenizer", "-t", help="byte, bpe:VOCAB, tiktoken:PATH or a tokenizer .json file; "
        "repeat to compare.")] = None,
    val_fraction: Annotated[float, typer.Option(
        help="Share of bytes held out for validation (by document).")] = DEFAULT_VAL_FRACTION,
    seed: Annotated[int, typer.Option(help="Split seed (synthetic: sample seed).")] = 0,
    budget: Annotated[str | None, typer.Option(
        help="Training tokens of a planned run: prints the epochs it needs.")] = None,
    seq_len: Annotated[list[int] | None, typer.Option(
        "--seq-len", help="Context lengths for the synthetic language's E_T (repeatable).")]
    = None,
    field: Annotated[str | None, typer.Option(help="JSON-lines / HF text field.")] = None,
    doc_split: Annotated[str | None, typer.Option(
        help="How a single text file becomes documents: chunks, paragraphs, lines, file.")]
    = None,
    hf_split: Annotated[str | None, typer.Option(help="Hugging Face split.")] = None,
    hf_config: Annotated[str | None, typer.Option(help="Hugging Face config name.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="Source option key=value (e.g. -o train_tokens=2e6).")] = None,
    cache_dir: CacheOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bytes, documents, tokens and the train/validation split of a corpus, per tokenizer;
    for the synthetic language its exact entropy rate and best possible loss E_T."""
    kind, _ = parse_source(source)
    budget_tokens = parse_float(budget, "--budget") if budget is not None else None
    options = _source_options(kind, field, doc_split, hf_split, hf_config, option or [])
    specs = tokenizer or (["none"] if kind == "synthetic" else ["byte"])
    rows = []
    for spec in specs:
        corpus = load_corpus(source, spec, seed=seed, val_fraction=val_fraction,
                             cache_dir=cache_dir, **options)
        rows.append((corpus, _tokenizer_summary(corpus, budget_tokens)))
    report = _corpus_summary(rows[0][0], [summary for _, summary in rows], budget_tokens,
                             tuple(seq_len or DEFAULT_SEQ_LENS))
    if as_json:
        print_json(report)
        return
    _print_report(report)


def clear_cache_command(cache_dir: CacheOpt = None, as_json: JsonOpt = False) -> None:
    """Delete cached token arrays (they are rebuilt on the next use)."""
    cache = TokenCache(cache_dir)
    removed = cache.clear()
    if as_json:
        print_json({"cache": str(cache.tokens_dir), "removed": removed})
    else:
        console.print(f"removed {removed} cached token arrays from {cache.tokens_dir}")


def _source_options(kind: str, field: str | None, doc_split: str | None, hf_split: str | None,
                    hf_config: str | None, pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScalingLabError(f"--option takes key=value, got {pair!r}")
        options[key.strip()] = value.strip()
    given = {"field": field, "doc_split": doc_split, "split": hf_split, "config": hf_config}
    for key, value in given.items():
        if value is None:
            continue
        if key in ("split", "config") and kind != "hf":
            raise ScalingLabError(f"--hf-{key} applies only to hf: sources")
        if key == "doc_split" and kind != "path":
            raise ScalingLabError("--doc-split applies only to file and folder sources")
        if key == "field" and kind not in ("hf", "path"):
            raise ScalingLabError("--field applies only to JSON lines and hf: sources")
        options[key] = value
    return options


def _tokenizer_summary(corpus: TokenizedCorpus, budget_tokens: float | None) -> dict:
    summary = {
        "tokenizer": corpus.tokenizer,
        "vocab_size": corpus.vocab_size,
        "train_tokens": corpus.train_tokens,
        "val_tokens": corpus.val_tokens,
        "bytes_per_token": (corpus.train_bytes / corpus.train_tokens
                            if corpus.train_bytes else None),
        "params_one_epoch": corpus.train_tokens / TOKENS_PER_PARAM,
        "cache_path": corpus.meta.get("cache_path"),
    }
    if budget_tokens is not None:
        summary["epochs_at_budget"] = epochs_for_budget(corpus.train_tokens, budget_tokens)
    return summary


def _corpus_summary(corpus: TokenizedCorpus, tokenizers: list[dict], budget: float | None,
                    seq_lens: tuple[int, ...]) -> dict:
    report: dict[str, Any] = {
        "name": corpus.name,
        "source": corpus.meta.get("source"),
        "documents": {"train": corpus.train_documents, "val": corpus.val_documents},
        "bytes": {"train": corpus.train_bytes, "val": corpus.val_bytes},
        "split": corpus.meta.get("split"),
        "budget_tokens": budget,
        "tokenizers": tokenizers,
    }
    if "val_groups" in corpus.meta:
        report["val_groups"] = corpus.meta["val_groups"]
    language = corpus.language
    if language is not None:
        report["synthetic"] = language.describe(seq_lens)
    return report


def _print_report(report: dict) -> None:
    source = report["source"] if report["source"] != report["name"] else ""
    console.print(f"{report['name']}  {source}".rstrip(), highlight=False, markup=False)
    docs, size = report["documents"], report["bytes"]
    if size["train"] is not None:
        console.print(f"bytes: {size['train']:,} train + {size['val']:,} validation; "
                      f"documents: {docs['train']:,} train + {docs['val']:,} validation",
                      highlight=False, markup=False)
    else:
        console.print(f"chains: {docs['train']} train + {docs['val']} validation",
                      highlight=False, markup=False)
    if report.get("split"):
        console.print(f"split: {report['split']}", highlight=False, markup=False)
    if report.get("val_groups"):
        console.print(f"validation: {', '.join(report['val_groups'])}", highlight=False, markup=False)
    columns = ["tokenizer", "vocab", "train tokens", "val tokens", "bytes/token",
               "N for 1 epoch"]
    has_budget = report["budget_tokens"] is not None
    if has_budget:
        columns.append(f"epochs at {report['budget_tokens']:.3g} tokens")
    rows = []
    for item in report["tokenizers"]:
        row = [item["tokenizer"], item["vocab_size"], item["train_tokens"], item["val_tokens"],
               item["bytes_per_token"] if item["bytes_per_token"] is not None else float("nan"),
               item["params_one_epoch"]]
        if has_budget:
            row.append(item["epochs_at_budget"])
        rows.append(row)
    print_table("tokens (N for 1 epoch: parameters fed compute-optimally by one pass, at 20 "
                "tokens/parameter)", columns, rows)
    synthetic = report.get("synthetic")
    if synthetic:
        console.print(f"exact entropy rate h = {synthetic['entropy_rate']:.6f} nats/token "
                      f"(unigram entropy {synthetic['unigram_entropy']:.4f})", highlight=False, markup=False)
        print_table("best possible loss E_T (nats/token)", ["seq_len", "E_T", "E_T / h - 1"],
                    [[t, e, e / synthetic["entropy_rate"] - 1]
                     for t, e in synthetic["best_possible_loss"].items()])
