"""Exact evaluation on the synthetic language: E_T + mean KL beside the sampled loss."""

import math

import numpy as np
import pytest

from scalinglab.corpora import load_corpus
from scalinglab.train import TrainConfig, train_run

pytestmark = pytest.mark.usefixtures("one_thread")


def test_exact_loss_is_reported_and_bounded_by_best_possible(tmp_path):
    corpus = load_corpus("synthetic:train_tokens=400000,val_tokens=20000", cache_dir=tmp_path)
    language = corpus.meta["language"]
    seq_len = 16
    best = language.best_possible_loss(seq_len)
    config = TrainConfig(params=5e3, tokens=300 * 512, batch_tokens=512, seq_len=seq_len,
                         eval_tokens=8192, n_evals=3, threads=1)
    records = train_run(config, corpus).records
    exact = np.array([r.exact_loss for r in records])
    sampled = np.array([r.loss for r in records])
    assert np.all(np.isfinite(exact))
    # A model can never beat the exact best possible loss of a T-token context.
    assert np.all(exact >= best - 1e-9)
    # Learning shows in the exact loss, and the sampled loss tracks it (same windows).
    assert exact[-1] < exact[0]
    assert np.max(np.abs(sampled - exact)) < 0.05 * best


def test_exact_loss_is_nan_for_text():
    rng = np.random.default_rng(0)
    from scalinglab.corpora import TokenizedCorpus

    corpus = TokenizedCorpus(name="toy", tokenizer="byte", vocab_size=256,
                             train=rng.integers(0, 256, 20_000).astype(np.uint8),
                             val=rng.integers(0, 256, 2_000).astype(np.uint8))
    config = TrainConfig(params=3e3, tokens=20 * 256, batch_tokens=256, seq_len=32,
                         eval_tokens=1024, n_evals=1, threads=1)
    record = train_run(config, corpus).records[-1]
    assert math.isnan(record.exact_loss)
