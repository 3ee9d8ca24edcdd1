"""The size ladder: ModelShape.for_params and exact parameter counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.train.model import GPT
from scalinglab.train.shape import ModelShape, ladder_depth


def test_ladder_hits_targets_from_1e4_to_1e9():
    targets = np.logspace(4, 9, 61)
    for target in targets:
        shape = ModelShape.for_params(target, vocab_size=50257, seq_len=1024)
        assert 0.75 < shape.n_params / target < 1.3, (target, shape)
        assert shape.d_model % shape.n_heads == 0
        assert shape.head_dim in (8, 16, 32, 64)
        assert shape.n_params_total == shape.n_params + (50257 + 1024) * shape.d_model


def test_ladder_keeps_the_aspect_ratio_for_multi_layer_models():
    for target in (1e7, 1e8, 1e9):
        shape = ModelShape.for_params(target)
        assert 40 <= shape.d_model / shape.n_layer <= 100
    big = ModelShape.for_params(1e9)
    assert big.head_dim == 64 and big.n_layer > 20


@pytest.mark.parametrize("target", [1e3, 2e4, 3e5, 2e6])
def test_counts_match_the_model_tensors(target):
    shape = ModelShape.for_params(target, vocab_size=97, seq_len=40)
    non_embedding, total = GPT(shape).count_params()
    assert non_embedding == shape.n_params
    assert total == shape.n_params_total


def test_padded_vocabulary_does_not_change_counts_or_logit_width():
    shape = ModelShape.for_params(2e4, vocab_size=100, seq_len=16)
    model = GPT(shape, padded_vocab=128)
    assert model.count_params() == (shape.n_params, shape.n_params_total)
    logits, loss = model(torch.zeros(1, 16, dtype=torch.long), torch.zeros(1, 16,
                                                                          dtype=torch.long))
    assert logits.shape[-1] == 100 and torch.isfinite(loss)


def test_explicit_shape_formula():
    shape = ModelShape(n_layer=12, d_model=768, n_heads=12, vocab_size=50257, seq_len=1024)
    # GPT-2 small without biases: 12 blocks of 12 d^2 + 2 d, plus the final norm
    assert shape.n_params == 12 * (12 * 768**2 + 2 * 768) + 768
    assert shape.head_dim == 64


@pytest.mark.parametrize("bad", [10.0, 1e13, float("nan"), -5.0])
def test_impossible_targets_are_one_line_errors(bad):
    with pytest.raises(ScalingLabError, match="non-embedding parameters"):
        ModelShape.for_params(bad)


def test_invalid_explicit_shapes():
    with pytest.raises(ScalingLabError, match="divisible"):
        ModelShape(2, 30, 4, 256, 64)
    with pytest.raises(ScalingLabError, match="vocab_size"):
        ModelShape(2, 32, 4, 1, 64)
    with pytest.raises(ScalingLabError, match="seq_len"):
        ModelShape(2, 32, 4, 256, 0)


def test_min_layers_deepens_tiny_models_and_leaves_large_ones():
    one = ModelShape.for_params(2e4)
    two = ModelShape.for_params(2e4, min_layers=2)
    assert one.n_layer == 1 and two.n_layer == 2 and two.d_model < one.d_model
    assert 0.5 < two.n_params / 2e4 < 2.0
    big = ModelShape.for_params(1e7)
    assert ModelShape.for_params(1e7, min_layers=2) == big  # already deeper than 2
    with pytest.raises(ScalingLabError, match="min_layers"):
        ModelShape.for_params(2e4, min_layers=0)


@pytest.mark.parametrize("target", [5e3, 2e5, 3e6, 8e7])
def test_ladder_depth_is_the_depth_of_the_ladder_shape(target):
    assert ModelShape.for_params(target).n_layer == ladder_depth(target)
    assert ModelShape.for_params(target, min_layers=3).n_layer == ladder_depth(target, 3)
