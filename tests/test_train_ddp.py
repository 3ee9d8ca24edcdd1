"""The loop under torchrun: 2 CPU processes on gloo, DDP, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from scalinglab.cli.train_cmd import load_training_corpus
from scalinglab.train import TrainConfig, train_run

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / \
    "tinyshakespeare.txt"

# The CLI's train command, run by each torchrun worker.
WORKER = """
import typer
from scalinglab.cli import train_cmd
from scalinglab.cli.common import run_app
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
train_cmd.register(app)
@app.callback()
def main() -> None:
    pass
run_app(app)
"""


def test_two_gloo_processes_match_one_process_with_accumulation(tmp_path, monkeypatch):
    if not SHAKESPEARE.exists():
        pytest.skip(f"shared corpus not found at {SHAKESPEARE}")
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this build")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "runs.csv"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(script), "train", "--params", "3e3",
               "--tokens", str(40 * 256), "--batch-tokens", "256", "--seq-len", "32",
               "--corpus", str(SHAKESPEARE), "--eval-tokens", "4096", "--evals", "2",
               "--threads", "1", "--device", "cpu", "--no-progress", "--out", str(out),
               "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCALINGLAB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # one JSON document: rank 1 printed nothing
    rows = pd.read_csv(out)
    assert len(rows) == report["records"]

    # One process, the same global batch as two micro-batches of 4 sequences each: the same
    # gradients up to the order of floating-point sums.
    # The corpus is loaded as the CLI loads it (scalinglab.corpora when present).
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    corpus = load_training_corpus(str(SHAKESPEARE), "byte")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train_run(TrainConfig(params=3e3, tokens=40 * 256, batch_tokens=256, seq_len=32,
                                       micro_batch_tokens=128, eval_tokens=4096, n_evals=2),
                           corpus)
    finally:
        torch.set_num_threads(previous)
    assert list(rows["tokens"]) == [r.tokens for r in single.records]
    assert list(rows["loss"]) == pytest.approx([r.loss for r in single.records], rel=1e-4)
