"""The size ladder: a GPT shape with exact parameter and FLOP counts, chosen from a target N.

Rule of :meth:`ModelShape.for_params` (documented here because it moves every ladder):

1. **Depth** from a fixed aspect ratio ``d_model / n_layer = 64`` (GPT-2 small: 768 / 12;
   Kaplan et al. 2020, Fig. 5, found loss within a few percent over aspect ratios ~20–200 at
   fixed N, so one fixed ratio is enough).  With ``N ≈ 12 n_layer d_model²`` this gives
   ``n_layer = round((N / (12·64²))^(1/3))``, at least 1.
2. **Width** ``d_model`` solves the exact count for that depth, rounded to a multiple of 8
   (below 64), 16 (below 256), 32 (below 512) or 64, choosing the neighbour whose exact N is
   nearer the target in log scale.
3. **Heads**: the head width is the largest power of two <= min(64, d_model / 4) that divides
   d_model, at least 8 (so wide models get 64-wide heads as in GPT-2: 768 → 12 heads,
   1600 → 25 heads; narrow ones 16- or 32-wide heads; 32 → 4 heads of 8).

Tiny targets (below ~1.6e5) get one layer and a width below the aspect rule; the smallest
possible shape (1 layer, width 8) has 792 non-embedding parameters.

Parameter counts (GELU MLP of width ``4 d``, no biases, LayerNorm with weight only):
non-embedding ``N = n_layer (12 d² + 2 d) + d`` (blocks plus final norm); embeddings are the
token table ``V d`` (tied with the output layer, so counted once) and learned positions ``T d``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalinglab.compute.flops import (
    FlopsBreakdown,
    FlopsComparison,
    TransformerDims,
    compare_flops,
    flops_breakdown,
    palm_flops_per_token,
)
from scalinglab.errors import ScalingLabError

#: d_model / n_layer of the ladder (GPT-2 small's 768/12; Kaplan et al. 2020, Fig. 5).
ASPECT_RATIO = 64
MLP_RATIO = 4
#: Range of targets ``for_params`` accepts (non-embedding parameters).
MIN_TARGET_PARAMS = 500.0
MAX_TARGET_PARAMS = 1e11
#: A chosen shape must be within this factor of the target, else the target is impossible.
MAX_MISMATCH = 2.0


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only GPT's shape: depth, width, heads, vocabulary and context (tokens)."""

    n_layer: int
    d_model: int
    n_heads: int
    vocab_size: int
    seq_len: int

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_heads", "vocab_size", "seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ScalingLabError(f"model shape: {name} must be a positive integer, "
                                      f"got {value!r}")
        if self.d_model % self.n_heads:
            raise ScalingLabError(f"model shape: d_model={self.d_model} is not divisible by "
                                  f"n_heads={self.n_heads}")
        if self.vocab_size < 2:
            raise ScalingLabError(f"model shape: vocab_size must be >= 2, got {self.vocab_size}")

    # ----------------------------------------------------------------- construction
    @classmethod
    def for_params(cls, target_params: float, vocab_size: int = 256, seq_len: int = 128,
                   aspect_ratio: int = ASPECT_RATIO, min_layers: int = 1) -> ModelShape:
        """The ladder shape whose non-embedding parameter count is nearest ``target_params``.

        ``min_layers`` raises the depth of tiny models (narrower instead): one attention layer
        cannot compose heads (no induction heads, Olsson et al. 2022), so a ladder whose small
        end is one layer deep changes model class along the way.
        """
        target = float(target_params)
        if not math.isfinite(target) or not MIN_TARGET_PARAMS <= target <= MAX_TARGET_PARAMS:
            raise ScalingLabError(
                f"cannot build a model of {target_params!r} non-embedding parameters: the ladder "
                f"covers {MIN_TARGET_PARAMS:.0f} to {MAX_TARGET_PARAMS:.0e}")
        check_min_layers(min_layers)
        n_layer = ladder_depth(target, min_layers, aspect_ratio)
        d_model = _nearest_width(target, n_layer)
        shape = cls(n_layer, d_model, d_model // _head_dim_for(d_model), int(vocab_size),
                    int(seq_len))
        mismatch = max(shape.n_params / target, target / shape.n_params)
        if mismatch > MAX_MISMATCH:
            raise ScalingLabError(
                f"cannot build a model of {target:.3g} non-embedding parameters: the nearest "
                f"shape has {shape.n_params} ({shape.describe()})")
        return shape

    # ----------------------------------------------------------------- counts
    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def d_ff(self) -> int:
        return MLP_RATIO * self.d_model

    @property
    def n_params(self) -> int:
        """Non-embedding parameters (Kaplan's N): blocks and the final norm."""
        d = self.d_model
        per_block = 4 * d * d + 2 * d * self.d_ff + 2 * d  # attention, MLP, two norm weights
        return self.n_layer * per_block + d

    @property
    def n_embedding_params(self) -> int:
        """Token table (tied with the output layer) plus learned positions."""
        return (self.vocab_size + self.seq_len) * self.d_model

    @property
    def n_params_total(self) -> int:
        """All parameters (Chinchilla's convention), the tied output layer counted once."""
        return self.n_params + self.n_embedding_params

    def dims(self) -> TransformerDims:
        return TransformerDims(self.n_layer, self.d_model, self.n_heads, self.d_ff,
                               self.vocab_size, self.seq_len, mlp_matrices=2)

    def flops_breakdown(self) -> FlopsBreakdown:
        """Exact forward FLOPs per token by component (dense causal attention)."""
        return flops_breakdown(self.dims())

    def flops_per_token(self) -> float:
        """Exact training FLOPs per token (forward + backward, dense attention)."""
        return self.flops_breakdown().training

    def flops_comparison(self) -> FlopsComparison:
        """Exact, Kaplan, Chinchilla App. F and 6N counts (FLOPs/token) side by side."""
        return compare_flops(self.dims(), self.n_params, self.n_params_total)

    def palm_flops_per_token(self) -> float:
        """Model FLOPs/token for MFU (PaLM), N = non-embedding + tied output-layer weights."""
        return palm_flops_per_token(self.dims(), self.n_params + self.vocab_size * self.d_model)

    # ----------------------------------------------------------------- misc
    def describe(self) -> str:
        return (f"{self.n_layer} layer(s), d_model {self.d_model}, {self.n_heads} head(s) of "
                f"{self.head_dim}, vocab {self.vocab_size}, context {self.seq_len}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelShape:
        return cls(**{k: int(data[k]) for k in
                      ("n_layer", "d_model", "n_heads", "vocab_size", "seq_len")})


def ladder_depth(n_params: float, min_layers: int = 1, aspect_ratio: int = ASPECT_RATIO) -> int:
    """The ladder's depth for N non-embedding parameters: with N ≈ 12 n_layer d_model² and
    d_model = aspect_ratio · n_layer, n_layer = round((N / (12 aspect_ratio²))^(1/3)), at least
    ``min_layers``."""
    return max(min_layers, round((n_params / (12.0 * aspect_ratio**2)) ** (1.0 / 3.0)))


def _non_embedding(n_layer: int, d_model: int) -> int:
    return n_layer * (12 * d_model * d_model + 2 * d_model) + d_model


def _granule(width: float) -> int:
    """Width step: 8 below 64, 16 below 256, 32 below 512, then 64 (hardware-friendly sizes)."""
    return 8 if width < 64 else 16 if width < 256 else 32 if width < 512 else 64


def check_min_layers(value: object) -> int:
    """``value`` if it is a positive integer (the least depth of a ladder), else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScalingLabError(f"min_layers must be a positive integer, got {value!r}")
    return value


def _nearest_width(target: float, n_layer: int) -> int:
    """Width (a multiple of the granule) whose exact N is nearest the target in log scale."""
    exact = (-2 * n_layer + math.sqrt(4 * n_layer**2 + 48 * n_layer * target)) / (24 * n_layer)
    step = _granule(exact)
    low = max(step, math.floor(exact / step) * step)
    return min((low, low + step),
               key=lambda d: abs(math.log(_non_embedding(n_layer, d) / target)))


def _head_dim_for(d_model: int) -> int:
    """The largest power of two <= min(64, d_model / 4) dividing d_model, at least 8."""
    head_dim = 64
    while head_dim > 8 and (head_dim > d_model / 4 or d_model % head_dim):
        head_dim //= 2
    return head_dim
