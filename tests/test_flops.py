"""FLOPs accounting: hand counts, published formulas, and FlopCounterMode on the real model."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scalinglab.compute.flops import (
    TransformerDims,
    chinchilla_flops_per_token,
    compare_flops,
    flops_breakdown,
    flops_per_token,
    kaplan_flops_per_token,
    mfu,
    palm_flops_per_token,
    six_nd,
)
from scalinglab.errors import ScalingLabError

# 2 layers, width 16, 2 heads of 8, MLP 64, vocab 256, context 32.
DIMS = TransformerDims(n_layer=2, d_model=16, n_heads=2, d_ff=64, vocab_size=256, seq_len=32)


def test_breakdown_matches_a_hand_count():
    parts = flops_breakdown(DIMS)
    assert parts.qkv == 2 * (2 * 16 * 48)            # 2 layers x 2 x d x 3d
    assert parts.attention_scores == 2 * (2 * 32 * 16)  # every query against all 32 keys
    assert parts.attention_values == 2 * (2 * 32 * 16)
    assert parts.attention_output == 2 * (2 * 16 * 16)
    assert parts.mlp == 2 * (2 * 2 * 16 * 64)
    assert parts.logits == 2 * 16 * 256
    forward = 3072 + 2048 + 2048 + 1024 + 8192 + 8192
    assert parts.forward == forward
    assert flops_per_token(DIMS) == 3 * forward


def test_causal_half_counts_the_triangle_only():
    dense, half = flops_breakdown(DIMS, "dense"), flops_breakdown(DIMS, "half")
    assert half.attention_scores == pytest.approx(dense.attention_scores * (33 / 2) / 32)
    assert half.mlp == dense.mlp and half.logits == dense.logits
    with pytest.raises(ScalingLabError, match="causal"):
        flops_breakdown(DIMS, "quarter")


def test_published_formulas():
    n = DIMS.non_embedding_matmul_params
    assert n == 2 * (4 * 16 * 16 + 2 * 16 * 64)
    # Kaplan et al. 2020, Eq. 2.2: 6N + 6 n_layer n_ctx d_attn
    assert kaplan_flops_per_token(DIMS) == 6 * n + 6 * 2 * 32 * 16
    # Hoffmann et al. 2022, App. F, written out per sequence of T=32 tokens
    t, d, v, h = 32, 16, 256, 2
    per_layer = (2 * 3 * t * d * d + 2 * t * t * d + 3 * h * t * t + 2 * t * t * d
                 + 2 * t * d * d + 2 * t * (2 * d * 64))
    forward = 2 * t * v * d + 2 * per_layer + 2 * t * d * v
    assert chinchilla_flops_per_token(DIMS) == pytest.approx(3 * forward / t)
    assert six_nd(1e9, 2e10) == 1.2e20
    # PaLM App. B: 6N + 12 L H Q T
    assert palm_flops_per_token(DIMS, 1000) == 6000 + 12 * 2 * 2 * 8 * 32


def test_comparison_side_by_side_and_mfu():
    comparison = compare_flops(DIMS, n_params=10_000, n_params_total=20_000)
    ratios = comparison.ratios_to_exact()
    assert ratios["exact"] == 1.0
    assert comparison.six_n_total == 120_000
    # Kaplan's count leaves out the output layer: below the exact count here
    assert comparison.kaplan < comparison.exact
    assert mfu(1000.0, 1e6, 1e10) == pytest.approx(0.1)
    assert mfu(1000.0, 1e6, float("nan")) != mfu(1000.0, 1e6, float("nan"))  # NaN: unknown peak


def test_bad_dimensions_are_one_line_errors():
    with pytest.raises(ScalingLabError, match="not divisible"):
        TransformerDims(2, 30, 4, 120, 256, 32)
    with pytest.raises(ScalingLabError, match="n_layer"):
        TransformerDims(0, 16, 2, 64, 256, 32)


def test_compute_flops_does_not_import_torch():
    code = ("import sys, scalinglab.compute.flops; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("target,seq_len", [(3e3, 32), (1e5, 64), (1.2e6, 48)])
def test_exact_count_agrees_with_flop_counter_mode(target, seq_len):
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from scalinglab.train.model import GPT
    from scalinglab.train.shape import ModelShape

    torch.manual_seed(0)
    shape = ModelShape.for_params(target, vocab_size=256, seq_len=seq_len)
    model = GPT(shape)
    batch = 2
    idx = torch.randint(0, 256, (batch, seq_len))
    # The math backend runs attention as matmuls that FlopCounterMode sees; the CPU flash
    # kernel is not registered with the counter (torch 2.13), and the flash backward formula
    # includes the recomputation of the scores, which model FLOPs leave out.
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        _, loss = model(idx, idx)
        loss.backward()
    counted = counter.get_total_flops() / (batch * seq_len)
    assert counted == pytest.approx(shape.flops_per_token(), rel=0.02)
