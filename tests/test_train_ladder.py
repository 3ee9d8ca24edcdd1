"""A 5-size ladder of tiny models on Tiny Shakespeare: final loss falls with size at fixed D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scalinglab.train import TrainConfig, load_text_corpus, train_run

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / \
    "tinyshakespeare.txt"
# Non-embedding parameter targets, ~4x apart (built: 792, 3,120, 19,320, 49,344, 221,664).
LADDER = (1e3, 4e3, 1.6e4, 6e4, 2e5)
# ~1950 optimiser steps of 256 tokens: past the bigram plateau (the first few hundred steps),
# where the loss reflects N rather than the step count.  The learning rate is the size-aware
# default (6e-3 at a 1024-token batch, scaled by sqrt(256/1024) to 3e-3 here).
TOKENS = 5e5


@pytest.mark.slow
def test_final_loss_falls_monotonically_with_size():
    if not SHAKESPEARE.exists():
        pytest.skip(f"shared corpus not found at {SHAKESPEARE}")
    corpus = load_text_corpus(SHAKESPEARE)
    previous_threads = torch.get_num_threads()
    try:
        results = [train_run(TrainConfig(params=n, tokens=TOKENS, batch_tokens=256, seq_len=64,
                                         eval_at=(), eval_tokens=16384, threads=1), corpus)
                   for n in LADDER]
    finally:
        torch.set_num_threads(previous_threads)
    sizes = [r.plan.shape.n_params for r in results]
    final = np.array([r.final_loss for r in results])
    assert sizes == sorted(sizes) and len(set(sizes)) == len(LADDER)
    assert all(r.plan.total_steps == results[0].plan.total_steps for r in results)
    assert np.all(np.diff(final) < 0), dict(zip(sizes, final.round(4).tolist(), strict=True))
    # the biggest model is well below the ~2.45 nats/byte bigram plateau
    assert final[-1] < 2.3
    assert all(r.records[-1].final and r.records[-1].tokens == r.plan.total_tokens
               for r in results)
