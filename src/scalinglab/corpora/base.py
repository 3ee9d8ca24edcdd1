"""The contract between corpora and the trainer: a tokenized corpus split by document.

The trainer only needs this dataclass; where the tokens come from (text files, the built-in
KJV, Hugging Face datasets, the synthetic language) is the business of this sub-package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scalinglab.corpora.synthetic import SyntheticLanguage


@dataclass
class TokenizedCorpus:
    """Token ids of a corpus, split into train and validation by document.

    ``train`` and ``val`` are 1-D integer arrays (possibly memory-mapped) of token ids in
    ``[0, vocab_size)``; documents are concatenated (a separator token, if any, is the
    tokenizer's business).  ``train_bytes`` / ``val_bytes`` count the UTF-8 bytes of text the
    tokens encode, so that bits/byte = loss * tokens / (bytes * ln 2); they are None for a
    source with no text (the synthetic language).
    """

    name: str
    tokenizer: str
    vocab_size: int
    train: np.ndarray
    val: np.ndarray
    train_bytes: int | None = None
    val_bytes: int | None = None
    train_documents: int = 0
    val_documents: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def train_tokens(self) -> int:
        return int(len(self.train))

    @property
    def val_tokens(self) -> int:
        return int(len(self.val))

    def tokens_available(self, seq_len: int) -> int:
        """Training tokens one pass over the training split gives at context ``seq_len``:
        whole contexts only, each needing one more token as the last target (tokens)."""
        return max(0, (self.train_tokens - 1) // seq_len) * seq_len

    @property
    def language(self) -> SyntheticLanguage | None:
        """The source language when it is known exactly (the synthetic language), else None:
        it gives the exact entropy, best possible loss and exact evaluation."""
        return self.meta.get("language")

    def bits_per_byte(self, val_loss_nats_per_token: float) -> float:
        """Validation loss (nats/token) as bits per byte of the validation text (NaN if no text)."""
        if not self.val_bytes:
            return float("nan")
        return val_loss_nats_per_token * self.val_tokens / (self.val_bytes * math.log(2))
