"""A decoder-only GPT, readable in one sitting (in the spirit of nanoGPT's model.py).

Choices, and why:

* **Pre-norm** blocks ``x + attn(norm(x))``, ``x + mlp(norm(x))`` with a final norm — the GPT-2
  layout, stable without learning-rate tricks.  LayerNorm has a weight and no bias.
* **Causal self-attention** through :func:`torch.nn.functional.scaled_dot_product_attention`
  (flash / memory-efficient kernels where the device has them).
* **GELU MLP** of width ``4 d`` (GPT-2); no biases anywhere, so every weight is a matmul weight
  or a norm weight and the parameter count is exact and simple (see :mod:`.shape`).
* **Learned absolute positions** (GPT-2): the simplest scheme, with parameters that count as
  embeddings, so they stay out of N.
* **Tied embeddings**: the output layer reuses the token table (Press & Wolf 2017), counted once.
* Initialisation N(0, 0.02), residual output projections scaled by ``1/sqrt(2 n_layer)``
  (GPT-2, Radford et al. 2019).

The vocabulary may be *padded* (e.g. to a multiple of 64 on GPUs, for tensor-core friendly
shapes); the padded logits are sliced off before the loss, so the loss is over the real
vocabulary only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.errors import ScalingLabError
from scalinglab.train.shape import ModelShape

INIT_STD = 0.02


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused QKV projection."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.n_heads = shape.n_heads
        self.qkv = nn.Linear(shape.d_model, 3 * shape.d_model, bias=False)
        self.proj = nn.Linear(shape.d_model, shape.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        # (batch, time, width) -> (batch, heads, time, head_dim)
        q, k, v = (t.view(batch, time, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, time, width))


class MLP(nn.Module):
    """Two-layer GELU MLP of hidden width ``d_ff``."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.fc = nn.Linear(shape.d_model, shape.d_ff, bias=False)
        self.proj = nn.Linear(shape.d_ff, shape.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """One pre-norm transformer block."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.norm_attn = nn.LayerNorm(shape.d_model, bias=False)
        self.attn = CausalSelfAttention(shape)
        self.norm_mlp = nn.LayerNorm(shape.d_model, bias=False)
        self.mlp = MLP(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.mlp(self.norm_mlp(x))


class GPT(nn.Module):
    """The language model: token ids (batch, time) -> logits (batch, time, vocab)."""

    def __init__(self, shape: ModelShape, padded_vocab: int | None = None):
        super().__init__()
        self.shape = shape
        self.padded_vocab = max(shape.vocab_size, padded_vocab or shape.vocab_size)
        self.token_embedding = nn.Embedding(self.padded_vocab, shape.d_model)
        self.position_embedding = nn.Embedding(shape.seq_len, shape.d_model)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.n_layer))
        self.norm_final = nn.LayerNorm(shape.d_model, bias=False)
        self.lm_head = nn.Linear(shape.d_model, self.padded_vocab, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # tied
        self.apply(_init_weights)
        residual_std = INIT_STD / math.sqrt(2 * shape.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.proj.weight, mean=0.0, std=residual_std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits over the real vocabulary and, with ``targets``, the mean loss (nats/token)."""
        time = idx.shape[1]
        if time > self.shape.seq_len:
            raise ScalingLabError(f"sequence of {time} tokens exceeds the model's context "
                                  f"of {self.shape.seq_len}")
        positions = torch.arange(time, device=idx.device)
        x = self.token_embedding(idx) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm_final(x))
        if self.padded_vocab != self.shape.vocab_size:
            logits = logits[..., : self.shape.vocab_size]
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        return logits, loss

    # ----------------------------------------------------------------- accounting
    def count_params(self) -> tuple[int, int]:
        """(non-embedding, total) parameters counted from the tensors, tied weights once.

        Padding rows of the vocabulary are excluded so the counts match :class:`ModelShape`.
        """
        total = sum(p.numel() for p in self.parameters())  # parameters() yields tied ones once
        padding = (self.padded_vocab - self.shape.vocab_size) * self.shape.d_model
        embeddings = self.token_embedding.weight.numel() + self.position_embedding.weight.numel()
        return total - embeddings, total - padding


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
