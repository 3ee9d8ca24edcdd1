"""The training loop: records, determinism, resume after a crash or a kill, WSD branches."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError
from scalinglab.records import load_runs
from scalinglab.train import TrainConfig, load_text_corpus, train_run
from scalinglab.train.checkpoint import checkpoint_path

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / \
    "tinyshakespeare.txt"
BATCH = 256
SEQ = 32


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shakespeare():
    if not SHAKESPEARE.exists():
        pytest.skip(f"shared corpus not found at {SHAKESPEARE}")
    return load_text_corpus(SHAKESPEARE)


def toy_corpus(train_tokens: int = 20_000, val_tokens: int = 2_000) -> TokenizedCorpus:
    rng = np.random.default_rng(0)
    return TokenizedCorpus(name="toy", tokenizer="byte", vocab_size=256,
                           train=rng.integers(0, 256, train_tokens).astype(np.uint8),
                           val=rng.integers(0, 256, val_tokens).astype(np.uint8),
                           train_bytes=train_tokens, val_bytes=val_tokens)


def tiny(steps: int, **overrides) -> TrainConfig:
    settings = dict(params=3e3, tokens=steps * BATCH, batch_tokens=BATCH, seq_len=SEQ,
                    eval_tokens=4096, n_evals=3, threads=1)
    settings.update(overrides)
    return TrainConfig(**settings)


def losses(result) -> list[tuple[str, float, float]]:
    return [(r.run_id, r.tokens, r.loss) for r in result.records]


def test_records_carry_exact_n_d_c_and_held_out_loss(shakespeare):
    result = train_run(tiny(120, sweep="unit", seed=3), shakespeare)
    shape, plan = result.plan.shape, result.plan
    assert [r.tokens for r in result.records] == [s * BATCH for s in plan.eval_steps]
    assert [r.final for r in result.records] == [False] * (len(plan.eval_steps) - 1) + [True]
    for record in result.records:
        assert record.n_params == shape.n_params and record.n_params_total == shape.n_params_total
        assert record.flops == record.tokens * shape.flops_per_token()
        assert record.bits_per_byte == pytest.approx(record.loss / math.log(2))  # 1 byte/token
        assert (record.batch_tokens, record.seq_len, record.vocab_size) == (BATCH, SEQ, 256)
        assert (record.corpus, record.tokenizer, record.schedule, record.seed, record.sweep) == \
            ("tinyshakespeare", "byte", "cosine", 3, "unit")
        assert record.lr == plan.lr
    assert result.records[-1].loss < result.records[0].loss < math.log(256)
    walls = [r.wall_seconds for r in result.records]
    assert walls == sorted(walls)
    frame = load_runs(result.frame())  # the record table validates
    assert len(frame) == len(result.records)
    assert result.tokens_per_second > 0 and result.achieved_flops_per_second > 0
    assert math.isnan(result.mfu)  # no CPU peak given
    assert result.warnings and "optimiser steps" in result.warnings[0]


def test_same_seed_and_config_give_bit_identical_losses(shakespeare):
    first = train_run(tiny(150), shakespeare)
    second = train_run(tiny(150), shakespeare)
    other_seed = train_run(tiny(150, seed=1), shakespeare)
    assert losses(first) == losses(second)
    assert [r.loss for r in first.records] != [r.loss for r in other_seed.records]


def test_resume_after_a_crash_equals_an_uninterrupted_run(shakespeare, tmp_path):
    config = tiny(200, checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=40)
    uninterrupted = train_run(replace(config, checkpoint_dir=None, checkpoint_every=None),
                              shakespeare)

    def crash(step: int) -> None:
        if step == 130:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        train_run(config, shakespeare, on_step=crash)
    resumed = train_run(config, shakespeare, resume=True)
    assert resumed.resumed_from_step == 120
    assert losses(resumed) == losses(uninterrupted)
    assert resumed.final_loss == uninterrupted.final_loss
    again = train_run(config, shakespeare, resume=True)  # a finished run resumes to its end
    assert again.resumed_from_step == 200 and losses(again) == losses(uninterrupted)


KILLED_SCRIPT = """
import sys, time, torch
torch.set_num_threads(1)
from scalinglab.train import TrainConfig, load_text_corpus, train_run
config = TrainConfig.from_dict(eval(sys.argv[1]))
# a pause after each step (it changes no number) keeps the run alive until it is killed
train_run(config, load_text_corpus(sys.argv[2]), on_step=lambda step: time.sleep(0.01))
"""


def test_a_killed_process_resumes_to_the_same_final_loss(shakespeare, tmp_path):
    folder = tmp_path / "ckpt"
    config = tiny(300, checkpoint_dir=str(folder), checkpoint_every=25, cooldown_at=(),
                  schedule="wsd", warmup_tokens=20 * BATCH)
    settings = config.to_dict()
    process = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT, repr(settings),
                                str(SHAKESPEARE)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not checkpoint_path(folder).exists() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        time.sleep(0.3)  # let it run on past the first checkpoint, then kill it mid-step
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    resumed = train_run(config, shakespeare, resume=True)
    assert 0 < resumed.resumed_from_step < 300
    uninterrupted = train_run(replace(config, checkpoint_dir=None, checkpoint_every=None),
                              shakespeare)
    assert losses(resumed) == losses(uninterrupted)


def test_wsd_branches_equal_standalone_runs(shakespeare):
    warmup = 20 * BATCH
    config = tiny(300, schedule="wsd", warmup_tokens=warmup,
                  cooldown_at=(100 * BATCH, 200 * BATCH, 300 * BATCH), run_id="wsd",
                  eval_at=(100 * BATCH, 200 * BATCH))
    result = train_run(config, shakespeare)
    finals = {r.tokens: r for r in result.records if r.final}
    assert sorted(finals) == [100 * BATCH, 200 * BATCH, 300 * BATCH]
    assert finals[100 * BATCH].run_id == f"wsd-cd{100 * BATCH}" and finals[300 * BATCH].run_id \
        == "wsd"
    assert finals[200 * BATCH].flops == 200 * BATCH * result.plan.shape.flops_per_token()
    # one stable run plus two 20% cooldowns: 300 + 20 + 40 steps, not 100 + 200 + 300
    assert result.tokens_processed == 360 * BATCH
    standalone = train_run(tiny(200, schedule="wsd", warmup_tokens=warmup), shakespeare)
    assert standalone.final_loss == finals[200 * BATCH].loss
    # the stable run's own evaluations at the fork points are kept, as non-final rows
    stable = [r for r in result.records if not r.final]
    assert [(r.run_id, r.tokens) for r in stable] == [("wsd", 100 * BATCH), ("wsd", 200 * BATCH)]
    assert all(finals[r.tokens].loss != r.loss for r in stable)


def test_gradient_accumulation_matches_the_full_batch(shakespeare):
    full = train_run(tiny(60, n_evals=1), shakespeare)
    accumulated = train_run(tiny(60, n_evals=1, micro_batch_tokens=64), shakespeare)
    assert accumulated.plan.accumulation_steps == 4
    assert accumulated.final_loss == pytest.approx(full.final_loss, rel=1e-4)


def test_bad_configs_are_one_line_errors(tmp_path):
    corpus = toy_corpus()
    with pytest.raises(ScalingLabError, match="allow repeats"):
        train_run(tiny(100), corpus)  # 25,600 tokens > 20,000 without repeating
    assert train_run(tiny(100, allow_repeat=True, n_evals=1), corpus).records
    with pytest.raises(ScalingLabError, match="wsd"):
        train_run(tiny(10, cooldown_at=(5 * BATCH,)), corpus)
    with pytest.raises(ScalingLabError, match="beyond"):
        train_run(tiny(10, schedule="wsd", warmup_tokens=0, cooldown_at=(50 * BATCH,)), corpus)
    with pytest.raises(ScalingLabError, match="multiple of the context"):
        train_run(tiny(10, batch_tokens=100), corpus)
    with pytest.raises(ScalingLabError, match="beyond"):
        train_run(tiny(10, eval_at=(20 * BATCH,)), corpus)
    with pytest.raises(ScalingLabError, match="non-embedding parameters"):
        train_run(tiny(10, params=1e14), corpus)
    with pytest.raises(ScalingLabError, match="checkpoint folder"):
        train_run(tiny(10), corpus, resume=True)
    with pytest.raises(ScalingLabError, match="checkpoint folder"):
        train_run(tiny(10, checkpoint_every=5), corpus)


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    corpus = toy_corpus()
    folder = str(tmp_path / "ckpt")
    train_run(tiny(20, n_evals=1, checkpoint_dir=folder), corpus)
    with pytest.raises(ScalingLabError, match="another run .*lr"):
        train_run(tiny(20, n_evals=1, checkpoint_dir=folder, lr=1e-3), corpus, resume=True)


def test_a_diverging_run_stops_with_a_clear_error():
    from scalinglab.train import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train_run(tiny(40, lr=1e6, warmup_tokens=0, grad_clip=0.0, n_evals=1), toy_corpus())
