"""The trainer's data side: a fallback byte-level file loader, and batches as pure functions.

:func:`load_text_corpus` is the trainer's **fallback** loader, so that ``scalinglab train
--corpus FILE`` works without the richer corpora of :mod:`scalinglab.corpora` (BPE, the built-in
KJV, Hugging Face sets).  It reads a plain-text, ``.txt.xz`` or ``.gz`` file, splits it into
documents (paragraphs separated by blank lines; fixed-size chunks when a file has too few
paragraphs), holds out the *last* ~10% of documents (or a seeded random 10%) as validation,
and tokenizes bytes (vocabulary 256, one token per byte).

:class:`TokenWindows` turns a token array into training batches.  The array is cut into
non-overlapping windows of ``seq_len + 1`` tokens (inputs and shifted targets); each epoch
visits the windows in a seeded random order.  The batch of optimiser step ``s`` is a pure
function of ``(seed, s)``, so resuming, branching and data-parallel sharding need no data
state beyond the step number.
"""

from __future__ import annotations

import gzip
import lzma
import re
from pathlib import Path

import numpy as np
import torch

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError

BYTE_TOKENIZER = "byte"
BYTE_VOCAB = 256
#: Held-out share of documents (nanoGPT's Shakespeare split also keeps the last 10%).
VAL_FRACTION = 0.1
#: Files with fewer paragraphs than this are cut into fixed-size chunks instead.
MIN_PARAGRAPHS = 20
CHUNK_BYTES = 4096
#: Token arrays up to this length are copied once into a torch tensor for fast gathers.
IN_MEMORY_TOKENS = 1 << 28

_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")


# --------------------------------------------------------------------------- file loading
def read_text_bytes(path: str | Path) -> bytes:
    """UTF-8 bytes of a plain, ``.xz`` or ``.gz`` text file, with one-line errors."""
    path = Path(path)
    if not path.exists():
        raise ScalingLabError(f"corpus file {str(path)!r} does not exist")
    if path.is_dir():
        raise ScalingLabError(f"corpus path {str(path)!r} is a directory, not a text file")
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, lzma.LZMAError, EOFError) as exc:
        raise ScalingLabError(f"cannot read corpus file {str(path)!r}: {exc}") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScalingLabError(f"corpus file {str(path)!r} is not UTF-8 text "
                              f"(bad byte at offset {exc.start})") from None
    return data


def split_documents(data: bytes, chunk_bytes: int = CHUNK_BYTES) -> list[bytes]:
    """Paragraphs (each keeping its trailing blank line), or fixed-size chunks if too few."""
    if not data:
        return []
    cuts = [m.end() for m in _BLANK_LINE.finditer(data)]
    bounds = [0, *cuts, len(data)] if not cuts or cuts[-1] != len(data) else [0, *cuts]
    paragraphs = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    if len(paragraphs) >= MIN_PARAGRAPHS:
        return paragraphs
    return [data[i:i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]


def load_text_corpus(path: str | Path, val_fraction: float = VAL_FRACTION,
                     split_seed: int | None = None, name: str | None = None,
                     chunk_bytes: int = CHUNK_BYTES) -> TokenizedCorpus:
    """A byte-level :class:`TokenizedCorpus` from a text file (the trainer's fallback loader).

    Validation is the last ``val_fraction`` of documents, or, with ``split_seed``, a seeded
    random ``val_fraction`` of them; train and validation never share a document.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ScalingLabError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    path = Path(path)
    documents = split_documents(read_text_bytes(path), chunk_bytes)
    if len(documents) < 2:
        raise ScalingLabError(f"corpus file {str(path)!r} holds too little text to split into "
                              f"train and validation documents")
    n_val = max(1, round(len(documents) * val_fraction))
    order = np.arange(len(documents))
    if split_seed is not None:
        order = np.random.default_rng(split_seed).permutation(len(documents))
    val_ids = np.sort(order[-n_val:])
    train_ids = np.sort(order[:-n_val])
    train = b"".join(documents[i] for i in train_ids)
    val = b"".join(documents[i] for i in val_ids)
    corpus_name = name or path.name.split(".")[0]
    return TokenizedCorpus(
        name=corpus_name, tokenizer=BYTE_TOKENIZER, vocab_size=BYTE_VOCAB,
        train=np.frombuffer(train, dtype=np.uint8), val=np.frombuffer(val, dtype=np.uint8),
        train_bytes=len(train), val_bytes=len(val),
        train_documents=len(train_ids), val_documents=len(val_ids),
        meta={"source": str(path), "loader": "scalinglab.train.data.load_text_corpus",
              "split": "seeded" if split_seed is not None else "last documents"},
    )


# --------------------------------------------------------------------------- batching
class TokenWindows:
    """Non-overlapping ``seq_len + 1`` windows of a token array, served by step number."""

    def __init__(self, tokens: np.ndarray, seq_len: int, seed: int):
        self.seq_len = int(seq_len)
        self.seed = int(seed)
        self.n_windows = max(0, (len(tokens) - 1) // self.seq_len)
        if self.n_windows < 1:
            raise ScalingLabError(f"the token array ({len(tokens)} tokens) is shorter than one "
                                  f"context of {seq_len + 1} tokens")
        if len(tokens) <= IN_MEMORY_TOKENS:
            self._tokens = torch.from_numpy(np.asarray(tokens).astype(np.int64))
        else:  # leave big (memory-mapped) arrays where they are; gather per batch
            self._tokens = tokens
        self._offsets = np.arange(self.seq_len + 1, dtype=np.int64)
        self._orders: dict[int, np.ndarray] = {}

    @property
    def tokens_per_epoch(self) -> int:
        """Training tokens (targets) one pass over all windows yields."""
        return self.n_windows * self.seq_len

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            if len(self._orders) >= 2:
                self._orders.pop(min(self._orders))
            rng = np.random.default_rng([self.seed, epoch])
            self._orders[epoch] = rng.permutation(self.n_windows)
        return self._orders[epoch]

    def window_ids(self, first_sequence: int, count: int) -> np.ndarray:
        """Window ids of global sequences ``first_sequence .. first_sequence + count - 1``."""
        sequence = np.arange(first_sequence, first_sequence + count, dtype=np.int64)
        epochs, positions = np.divmod(sequence, self.n_windows)
        ids = np.empty(count, dtype=np.int64)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            ids[mask] = self._epoch_order(int(epoch))[positions[mask]]
        return ids

    def gather(self, window_ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, each (len(window_ids), seq_len) int64."""
        index = window_ids[:, None] * self.seq_len + self._offsets
        if isinstance(self._tokens, torch.Tensor):
            windows = self._tokens[torch.from_numpy(index)]
        else:
            windows = torch.from_numpy(np.asarray(self._tokens[index]).astype(np.int64))
        return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()

    def batch(self, first_sequence: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``count`` sequences starting at global sequence number ``first_sequence``."""
        return self.gather(self.window_ids(first_sequence, count))


def validation_windows(n_windows: int, max_sequences: int) -> np.ndarray:
    """Evenly spaced window ids covering the whole validation set (all if few enough)."""
    if n_windows <= max_sequences:
        return np.arange(n_windows, dtype=np.int64)
    return np.unique(np.linspace(0, n_windows - 1, max_sequences).round().astype(np.int64))
