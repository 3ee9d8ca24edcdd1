"""The trainer's held-out task suite (issue 24): items, likelihood scoring, records' acc_ columns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError
from scalinglab.records import records_to_frame
from scalinglab.train import TrainConfig, train_run
from scalinglab.train.model import GPT
from scalinglab.train.shape import ModelShape
from scalinglab.train.tasks import build_suite, evaluate_suite, option_logprobs

pytestmark = pytest.mark.usefixtures("one_thread")


def periodic_corpus(period: int = 23, train_tokens: int = 60_000) -> TokenizedCorpus:
    """A text that repeats one random 23-token phrase: its continuations are learnable."""
    rng = np.random.default_rng(0)
    phrase = rng.integers(0, 64, period)
    train = np.resize(phrase, train_tokens).astype(np.uint8)
    val = np.resize(np.roll(phrase, 5), 4_000).astype(np.uint8)
    return TokenizedCorpus(name="periodic", tokenizer="byte", vocab_size=64, train=train,
                           val=val, train_bytes=train_tokens, val_bytes=4_000)


def test_suite_items_are_deterministic_with_known_chance():
    val = np.random.default_rng(1).integers(0, 200, 5_000)
    a, b = build_suite(val, 64, seed=3), build_suite(val, 64, seed=3)
    for ta, tb in zip(a, b, strict=True):
        assert np.array_equal(ta.options, tb.options) and np.array_equal(ta.answers, tb.answers)
        assert ta.chance == 0.25
        assert 0.15 < np.mean(ta.answers == 0) < 0.35          # answers spread over positions
    cloze = a[1]
    true = cloze.options[np.arange(len(cloze.answers)), cloze.answers, 0]
    assert not any(true[i] in np.delete(cloze.options[i, :, 0], cloze.answers[i])
                   for i in range(len(true)))             # distractors differ from the answer
    assert cloze.options.shape[1:] == (4, 1)
    with pytest.raises(ScalingLabError, match="too short"):
        build_suite(val[:50], 64)


def test_option_scores_equal_the_models_cross_entropy():
    torch.manual_seed(0)
    shape = ModelShape(n_layer=1, d_model=32, n_heads=2, vocab_size=64, seq_len=48)
    model = GPT(shape).eval()
    suite = build_suite(np.random.default_rng(2).integers(0, 64, 3_000), 48, n_items=5)
    task = suite[0]
    scores = option_logprobs(model, task, torch.device("cpu"))
    seq = torch.as_tensor(np.concatenate([task.contexts[1], task.options[1, 2]]))[None]
    logits, _ = model(seq[:, :-1])
    ctx = task.contexts.shape[1]
    nll = F.cross_entropy(logits[0, ctx - 1:], seq[0, ctx:], reduction="sum")
    assert scores[1, 2] == pytest.approx(-float(nll.detach()), rel=1e-5)
    cloze = suite[1]                             # one-token options: one shared forward pass
    scores = option_logprobs(model, cloze, torch.device("cpu"))
    logits, _ = model(torch.as_tensor(cloze.contexts[3])[None])
    logp = F.log_softmax(logits[0, -1].detach(), dim=-1)
    assert scores[3] == pytest.approx(logp[torch.as_tensor(cloze.options[3, :, 0])].numpy(),
                                      rel=1e-5)


def test_trainer_records_task_accuracy_that_rises_from_chance():
    corpus = periodic_corpus()
    config = TrainConfig(params=2e4, tokens=60 * 768, batch_tokens=768, seq_len=48,
                         eval_tokens=2048, n_evals=3, threads=1, lr=3e-3)
    result = train_run(config, corpus, tasks=True)
    frame = records_to_frame(result.records)
    assert {"acc_continuation", "acc_cloze", "task_loss_continuation"} <= set(frame.columns)
    acc = frame["acc_continuation"].to_numpy()
    assert np.all((0 <= acc) & (acc <= 1))
    assert acc[-1] > 0.6 and acc[-1] > acc[0] + 0.3   # the phrase is learnt: far above 0.25
    assert frame["task_loss_continuation"].iloc[-1] < frame["task_loss_continuation"].iloc[0]
    plain = train_run(config, corpus)       # scoring tasks leaves the losses unchanged
    assert [r.loss for r in plain.records] == [r.loss for r in result.records]
    assert "acc_cloze" not in records_to_frame(plain.records).columns


def test_untrained_model_scores_near_chance():
    torch.manual_seed(1)
    shape = ModelShape(n_layer=1, d_model=32, n_heads=2, vocab_size=200, seq_len=48)
    suite = build_suite(np.random.default_rng(4).integers(0, 200, 6_000), 48, n_items=400)
    scores = evaluate_suite(GPT(shape), suite, torch.device("cpu"))
    assert abs(scores["acc_continuation"] - 0.25) < 0.08      # 400 items: sd 0.022
    assert abs(scores["acc_cloze"] - 0.25) < 0.08
    assert scores["task_loss_cloze"] == pytest.approx(np.log(200), rel=0.1)
