"""Training FLOPs of a decoder-only transformer, counted several ways side by side (no torch).

The *exact* count (:func:`flops_per_token`) adds up every matrix multiplication the model runs
for one token: the fused QKV projection, the attention scores ``Q Kᵀ``, the weighted sum of the
values, the attention output projection, the MLP, and the output (logit) layer.  Conventions:

* a multiply–accumulate is 2 FLOPs; a ``(m×k)·(k×n)`` product costs ``2 m k n``;
* the backward pass costs twice the forward pass (gradients w.r.t. inputs and w.r.t. weights,
  each a product of the same size), so training = 3 × forward;
* **causal attention is counted dense**: every query is scored against all ``seq_len`` keys,
  as dense kernels (and :class:`torch.utils.flop_counter.FlopCounterMode`) compute it; the
  masked half is not subtracted.  ``causal="half"`` gives the triangle-only variant
  (``(seq_len + 1) / 2`` keys per query on average);
* element-wise work (normalisation, softmax, GELU, residual adds, the optimiser) and the
  embedding lookup (a gather) are not counted: they are O(d) per token against O(d²) matmuls;
* no activation recomputation: these are *model* FLOPs, the quantity in MFU.

Alongside it, three published approximations:

* Kaplan et al. (2020), Table 1 / Eq. 2.2: ``C ≈ 6 N + 6 n_layer n_ctx d_attn`` per token, with N
  the non-embedding parameters (the output layer is not counted — one cause of the
  Kaplan/Chinchilla disagreement found by Porian et al. 2024);
* Hoffmann et al. (2022), Appendix F: per-sequence counts that include the embedding as a
  matmul, the softmax (3 FLOPs per score) and the logits, with backward = 2 × forward;
* ``6 N D``: the ubiquitous rule of thumb (N parameters, D tokens).

Units: FLOPs per token (floating-point operations), FLOPs for whole runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalinglab.errors import ScalingLabError

#: Backward pass costs twice the forward pass (Kaplan et al. 2020, Sec. 2.1).
BACKWARD_OVER_FORWARD = 2.0


@dataclass(frozen=True)
class TransformerDims:
    """The sizes that determine a decoder-only transformer's FLOPs.

    ``d_ff`` is the hidden width of the MLP; ``mlp_matrices`` is 2 for a GELU MLP (in, out)
    and 3 for SwiGLU (gate, up, down).  ``d_attn = n_heads * head_dim`` equals ``d_model`` here.
    """

    n_layer: int
    d_model: int
    n_heads: int
    d_ff: int
    vocab_size: int
    seq_len: int
    mlp_matrices: int = 2

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_heads", "d_ff", "vocab_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ScalingLabError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ScalingLabError(f"d_model={self.d_model} is not divisible by "
                                  f"n_heads={self.n_heads}")
        if self.mlp_matrices not in (2, 3):
            raise ScalingLabError(f"mlp_matrices must be 2 (GELU) or 3 (SwiGLU), "
                                  f"got {self.mlp_matrices!r}")

    @property
    def d_attn(self) -> int:
        return self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def matmul_params_per_layer(self) -> int:
        """Weights that take part in matmuls in one block: QKV, output projection, MLP."""
        return 4 * self.d_model * self.d_attn + self.mlp_matrices * self.d_model * self.d_ff

    @property
    def non_embedding_matmul_params(self) -> int:
        """Kaplan's N without the (tiny) normalisation weights: n_layer blocks of matmuls."""
        return self.n_layer * self.matmul_params_per_layer


@dataclass(frozen=True)
class FlopsBreakdown:
    """Forward FLOPs per token by component, and their training total (3 × forward)."""

    qkv: float
    attention_scores: float
    attention_values: float
    attention_output: float
    mlp: float
    logits: float

    @property
    def forward(self) -> float:
        """Forward FLOPs per token."""
        return (self.qkv + self.attention_scores + self.attention_values
                + self.attention_output + self.mlp + self.logits)

    @property
    def training(self) -> float:
        """Forward + backward FLOPs per token (backward = 2 × forward)."""
        return self.forward * (1.0 + BACKWARD_OVER_FORWARD)

    def to_dict(self) -> dict[str, float]:
        out = asdict(self)
        out["forward"] = self.forward
        out["training"] = self.training
        return out


def flops_breakdown(dims: TransformerDims, causal: str = "dense") -> FlopsBreakdown:
    """Exact forward FLOPs per token, by component (see the module docstring for conventions)."""
    if causal not in ("dense", "half"):
        raise ScalingLabError(f"causal must be 'dense' or 'half', got {causal!r}")
    keys_per_query = dims.seq_len if causal == "dense" else (dims.seq_len + 1) / 2.0
    d, layers = dims.d_model, dims.n_layer
    return FlopsBreakdown(
        qkv=layers * 2.0 * d * 3 * dims.d_attn,
        attention_scores=layers * 2.0 * keys_per_query * dims.d_attn,
        attention_values=layers * 2.0 * keys_per_query * dims.d_attn,
        attention_output=layers * 2.0 * dims.d_attn * d,
        mlp=layers * 2.0 * dims.mlp_matrices * d * dims.d_ff,
        logits=2.0 * d * dims.vocab_size,
    )


def flops_per_token(dims: TransformerDims, causal: str = "dense") -> float:
    """Exact training (forward + backward) FLOPs per token."""
    return flops_breakdown(dims, causal).training


def kaplan_flops_per_token(dims: TransformerDims, n_params: float | None = None) -> float:
    """Kaplan et al. (2020) Eq. 2.2: ``6 N + 6 n_layer n_ctx d_attn`` training FLOPs per token.

    ``n_params`` defaults to the non-embedding matmul weights (Kaplan's N; the output layer is
    excluded, as in the paper).
    """
    n = dims.non_embedding_matmul_params if n_params is None else n_params
    return 6.0 * n + 6.0 * dims.n_layer * dims.seq_len * dims.d_attn


def chinchilla_flops_per_token(dims: TransformerDims) -> float:
    """Hoffmann et al. (2022) Appendix F, per token: forward + backward (= 2 × forward).

    Per sequence of ``seq_len`` tokens the forward pass counts: embeddings ``2 T V d``; per
    layer the QKV projections ``2·3 T d d_attn``, the logits ``2 T² d_attn``, the softmax
    ``3 H T²``, the value reduction ``2 T² d_attn``, the output projection ``2 T d_attn d``, and
    the dense block ``2 T (d d_ff + d d_ff)``; and the final logits ``2 T d V``.  For a SwiGLU
    MLP the dense block gets a third matrix, in the same spirit.
    """
    t, d, v = dims.seq_len, dims.d_model, dims.vocab_size
    embeddings = 2.0 * t * v * d
    attention = (2.0 * 3 * t * d * dims.d_attn + 2.0 * t * t * dims.d_attn
                 + 3.0 * dims.n_heads * t * t + 2.0 * t * t * dims.d_attn
                 + 2.0 * t * dims.d_attn * d)
    dense = 2.0 * t * dims.mlp_matrices * d * dims.d_ff
    logits = 2.0 * t * d * v
    forward_per_sequence = embeddings + dims.n_layer * (attention + dense) + logits
    return forward_per_sequence * (1.0 + BACKWARD_OVER_FORWARD) / t


def six_n_flops_per_token(n_params: float) -> float:
    """The rule of thumb ``6 N`` training FLOPs per token."""
    return 6.0 * n_params


def six_nd(n_params: float, tokens: float) -> float:
    """The rule of thumb ``C = 6 N D`` (FLOPs) for N parameters and D training tokens."""
    return 6.0 * n_params * tokens


def palm_flops_per_token(dims: TransformerDims, n_params: float) -> float:
    """PaLM's model-FLOPs per token for MFU (Chowdhery et al. 2022, App. B): ``6N + 12 L H Q T``.

    ``L`` layers, ``H`` heads, ``Q`` head dimension, ``T`` sequence length; ``n_params`` is the
    parameter count that takes part in matmuls (the trainer passes non-embedding parameters
    plus the tied output layer).
    """
    return 6.0 * n_params + 12.0 * dims.n_layer * dims.n_heads * dims.head_dim * dims.seq_len


def mfu(tokens_per_second: float, model_flops_per_token: float, peak_flops_per_second: float
        ) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the hardware's peak FLOP/s."""
    if not (peak_flops_per_second > 0 and math.isfinite(peak_flops_per_second)):
        return float("nan")
    return tokens_per_second * model_flops_per_token / peak_flops_per_second


@dataclass(frozen=True)
class FlopsComparison:
    """Training FLOPs per token of one shape under every convention (FLOPs/token)."""

    exact: float
    exact_causal_half: float
    kaplan: float
    chinchilla: float
    six_n_non_embedding: float
    six_n_total: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def ratios_to_exact(self) -> dict[str, float]:
        """Each convention divided by the exact count."""
        return {k: v / self.exact for k, v in self.to_dict().items()}


def compare_flops(dims: TransformerDims, n_params: float, n_params_total: float
                  ) -> FlopsComparison:
    """All FLOP-per-token conventions side by side for one shape.

    ``n_params`` is the non-embedding parameter count, ``n_params_total`` includes embeddings.
    """
    return FlopsComparison(
        exact=flops_per_token(dims, "dense"),
        exact_causal_half=flops_per_token(dims, "half"),
        kaplan=kaplan_flops_per_token(dims, n_params),
        chinchilla=chinchilla_flops_per_token(dims),
        six_n_non_embedding=six_n_flops_per_token(n_params),
        six_n_total=six_n_flops_per_token(n_params_total),
    )
