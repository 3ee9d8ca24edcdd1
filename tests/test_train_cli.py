"""``scalinglab train``: records out, JSON, progress, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from scalinglab.cli import train_cmd
from scalinglab.cli.common import run_app
from scalinglab.records import RECORD_COLUMNS

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / \
    "tinyshakespeare.txt"
TINY = ["--params", "3e3", "--batch-tokens", "256", "--seq-len", "32", "--eval-tokens", "4096",
        "--threads", "1", "--device", "cpu"]


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    train_cmd.register(app)

    @app.callback()
    def main() -> None:  # keeps "train" a subcommand, as in the real app
        pass

    return app


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    if not SHAKESPEARE.exists():
        pytest.skip(f"shared corpus not found at {SHAKESPEARE}")
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_train_writes_records_and_json(tmp_path):
    out = tmp_path / "runs.parquet"
    result = CliRunner().invoke(make_app(), ["train", *TINY, "--tokens", str(60 * 256),
                                             "--corpus", str(SHAKESPEARE), "--evals", "3",
                                             "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = pd.read_parquet(out)
    assert list(rows.columns) == list(RECORD_COLUMNS)
    assert len(rows) == report["records"] == len(report["rows"]) == 3
    assert rows["tokens"].iloc[-1] == 60 * 256 and rows["final"].tolist() == [False, False, True]
    assert report["n_params"] == rows["n_params"].iloc[0]
    assert report["flops_per_token"] == rows["flops"].iloc[-1] / rows["tokens"].iloc[-1]
    assert set(report["flops_comparison"]) >= {"exact", "kaplan", "chinchilla",
                                               "six_n_non_embedding"}
    assert report["tokens_per_second"] > 0


def test_wsd_cooldown_branches_and_human_output(tmp_path):
    out = tmp_path / "runs.csv"
    result = CliRunner().invoke(make_app(), [
        "train", *TINY, "--tokens", str(100 * 256), "--corpus", str(SHAKESPEARE),
        "--schedule", "wsd", "--warmup-tokens", str(10 * 256),
        "--cooldown-at", f"{40 * 256},{70 * 256},{100 * 256}", "--out", str(out),
        "--progress"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    finals = rows[rows["final"]]
    assert sorted(finals["tokens"]) == [40 * 256, 70 * 256, 100 * 256]
    assert "FLOPs per token" in result.stdout and "tokens/s" in result.stdout
    assert f"wrote {len(rows)} record(s)" in result.stdout


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["scalinglab", "train", *args])
    with pytest.raises(SystemExit) as exit_info:
        run_app(make_app())
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--tokens", "5e6"], "allow repeats (--allow-repeat)"),
    (["--tokens", "1e4", "--params", "1e14"], "non-embedding parameters"),
    (["--tokens", "abc"], "--tokens must be a number"),
    (["--tokens", "1e4", "--schedule", "cosine", "--cooldown-at", "5e3"], "'wsd' schedule"),
    (["--tokens", "1e4", "--out", "runs.txt"], "must end in .csv or .parquet"),
    (["--tokens", "1e4", "--batch-tokens", "100"], "multiple of the context"),
    (["--tokens", "1e4", "--checkpoint-every", "10"], "needs a step count >= 1 and"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, args, message):
    code, err = run_cli(monkeypatch, capsys, *TINY, "--corpus", str(SHAKESPEARE), *args)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_corpus_file_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    code, err = run_cli(monkeypatch, capsys, *TINY, "--tokens", "1e4",
                        "--corpus", str(tmp_path / "nope.txt"))
    assert code == 2 and err.startswith("error: ") and "nope.txt" in err
    assert len(err.strip().splitlines()) == 1


def test_fallback_loader_when_the_corpora_loader_is_absent(monkeypatch, tmp_path):
    import scalinglab.corpora as corpora

    monkeypatch.delattr(corpora, "load_corpus", raising=False)
    corpus = train_cmd.load_training_corpus(str(SHAKESPEARE), "byte")
    assert corpus.meta["loader"] == "scalinglab.train.data.load_text_corpus"
    with pytest.raises(train_cmd.ScalingLabError, match="--corpus PATH is required"):
        train_cmd.load_training_corpus(None, "byte")
