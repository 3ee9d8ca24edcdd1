"""Training windows: without replacement within an epoch, epochs counted, repeats refused."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import (
    DataRepeatError,
    RepeatedDataWarning,
    WindowSampler,
    check_token_budget,
    epochs_for_budget,
    validation_windows,
)
from scalinglab.errors import ScalingLabError

TOKENS = np.arange(1001, dtype=np.uint16)  # token value = position: windows are traceable


def test_one_epoch_serves_every_window_exactly_once():
    sampler = WindowSampler(TOKENS, seq_len=10, batch_size=4, seed=0)
    assert sampler.windows_per_epoch == 100 and sampler.tokens_per_epoch == 1000
    starts = []
    for _ in range(25):
        batch = sampler.next_batch()
        assert batch.inputs.shape == (4, 10) and batch.inputs.dtype == np.int64
        np.testing.assert_array_equal(batch.targets, batch.inputs + 1)  # shifted by one
        starts.extend(batch.inputs[:, 0].tolist())
    assert sorted(starts) == list(range(0, 1000, 10))
    assert sampler.epochs_seen == pytest.approx(1.0)
    assert starts[:10] != sorted(starts)[:10]  # shuffled


def test_beyond_one_epoch_is_refused_without_allow_repeat():
    sampler = WindowSampler(TOKENS, seq_len=10, batch_size=30, seed=0)
    for _ in range(3):
        sampler.next_batch()
    with pytest.raises(DataRepeatError, match="exhausted after 1 epoch"):
        sampler.next_batch()


def test_allow_repeat_warns_counts_epochs_and_shifts_windows():
    sampler = WindowSampler(TOKENS, seq_len=10, batch_size=30, seed=0, allow_repeat=True)
    for _ in range(3):
        sampler.next_batch()
    with pytest.warns(RepeatedDataWarning):
        batch = sampler.next_batch()
    assert batch.epoch == 1 and batch.epochs_seen == pytest.approx(1.2)
    later = [sampler.next_batch() for _ in range(3)]
    served = np.concatenate([b.inputs[:, 0] for b in [batch, *later]])
    offset = int(served[10] % 10)
    assert offset != 0  # seed 0 shifts the second epoch's grid
    second_epoch = served[10:10 + (1000 - offset) // 10]  # that grid holds fewer windows
    assert np.all(second_epoch % 10 == offset)  # one window grid per epoch
    assert len(set(second_epoch.tolist())) == len(second_epoch)  # without replacement
    assert later[-1].epoch == 2 and served[-1] % 10 != offset


@pytest.mark.filterwarnings("ignore::scalinglab.corpora.RepeatedDataWarning")
def test_same_seed_same_batches_and_exact_resume():
    a = WindowSampler(TOKENS, seq_len=7, batch_size=5, seed=3, allow_repeat=True)
    b = WindowSampler(TOKENS, seq_len=7, batch_size=5, seed=3, allow_repeat=True)
    c = WindowSampler(TOKENS, seq_len=7, batch_size=5, seed=4, allow_repeat=True)
    first = [a.next_batch().inputs for _ in range(40)]
    assert all(np.array_equal(x, b.next_batch().inputs) for x in first)
    assert not np.array_equal(first[0], c.next_batch().inputs)
    state = a.state_dict()
    expected = [a.next_batch().inputs for _ in range(10)]
    resumed = WindowSampler(TOKENS, seq_len=7, batch_size=5, seed=3, allow_repeat=True)
    resumed.load_state_dict(state)
    assert all(np.array_equal(x, resumed.next_batch().inputs) for x in expected)


def test_ranks_get_disjoint_shards_of_the_global_batch():
    ranks = [WindowSampler(TOKENS, seq_len=10, batch_size=5, seed=1, rank=r, world_size=2)
             for r in range(2)]
    single = WindowSampler(TOKENS, seq_len=10, batch_size=10, seed=1)
    for _ in range(5):
        parts = [r.next_batch().inputs for r in ranks]
        np.testing.assert_array_equal(np.concatenate(parts), single.next_batch().inputs)
        assert set(parts[0][:, 0]).isdisjoint(parts[1][:, 0])


def test_token_budget_check():
    assert epochs_for_budget(1000, 500) == 0.5
    assert check_token_budget(1000, 1000) == 1.0
    with pytest.raises(DataRepeatError, match="2.5 epochs") as info:
        check_token_budget(1000, 2500, corpus_name="kjv")
    assert "allow-repeat" in str(info.value) and "\n" not in str(info.value)
    with pytest.warns(RepeatedDataWarning, match="repeated"):
        assert check_token_budget(1000, 2500, allow_repeat=True) == 2.5
    with pytest.raises(ScalingLabError, match="budget must be > 0"):
        epochs_for_budget(1000, 0)


def test_validation_windows_are_fixed_and_cover_the_split():
    inputs, targets = validation_windows(TOKENS, 10)
    assert inputs.shape == (100, 10)
    np.testing.assert_array_equal(inputs[:, 0], np.arange(0, 1000, 10))
    np.testing.assert_array_equal(targets, inputs + 1)
    few, _ = validation_windows(TOKENS, 10, max_windows=5)
    np.testing.assert_array_equal(few[:, 0], [0, 250, 500, 740, 990])


def test_splits_shorter_than_a_window_are_refused():
    with pytest.raises(ScalingLabError, match="fewer than one window"):
        WindowSampler(np.arange(5, dtype=np.uint16), seq_len=8, batch_size=1)
    with pytest.raises(ScalingLabError, match="validation split has 5 tokens"):
        validation_windows(np.arange(5, dtype=np.uint16), 8)
