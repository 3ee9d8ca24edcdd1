"""Tokenizers: byte-level (vocab 256, the default), byte-level BPE trained locally with Hugging
Face ``tokenizers``, a GPT-2 style ``.tiktoken`` file (needs ``tiktoken``), or a Hugging Face
``tokenizer.json`` file.

Specs (strings, as on the command line): ``byte``, ``bpe:4096``, ``tiktoken:PATH`` (or any
path ending in ``.tiktoken``), ``PATH.json``.  Every tokenizer has a ``name`` that runs record,
so losses from different tokenizers can be told apart (and compared in bits/byte).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.errors import ScalingLabError

BYTE_VOCAB_SIZE = 256
MIN_BPE_VOCAB = 257  # the 256 byte symbols plus at least one merge
MAX_BPE_VOCAB = 1 << 20
# The pre-tokenization pattern of GPT-2 (Radford et al. 2019, openai/gpt-2 src/encoder.py),
# also tiktoken's r50k/p50k pattern.
GPT2_SPLIT_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
                      r"""|\s+(?!\S)|\s+""")
TOKENIZER_HELP = "byte, bpe:VOCAB (e.g. bpe:4096), tiktoken:PATH or a tokenizer .json file"


@dataclass(frozen=True)
class TokenizerSpec:
    """A parsed tokenizer spec: ``kind`` in {byte, bpe, tiktoken, hf-json}."""

    kind: str
    vocab_size: int | None = None  # requested BPE vocab
    path: Path | None = None

    @property
    def trained_on_corpus(self) -> bool:
        return self.kind == "bpe"

    def canonical(self) -> str:
        """The spec as a string, with the file's content hash for file tokenizers."""
        if self.kind == "byte":
            return "byte"
        if self.kind == "bpe":
            return f"bpe:{self.vocab_size}"
        assert self.path is not None
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
        return f"{self.kind}:{self.path.name}:{digest}"


def parse_tokenizer_spec(spec: str) -> TokenizerSpec:
    """Parse ``byte`` / ``bpe:N`` / ``tiktoken:PATH`` / ``PATH.tiktoken`` / ``PATH.json``."""
    text = str(spec).strip()
    lowered = text.lower()
    if lowered in ("byte", "bytes"):
        return TokenizerSpec("byte")
    if lowered.startswith("bpe:") or lowered.startswith("bpe="):
        return TokenizerSpec("bpe", vocab_size=_parse_bpe_vocab(text[4:]))
    if lowered.startswith("tiktoken:"):
        return TokenizerSpec("tiktoken", path=_existing_file(text[len("tiktoken:"):]))
    if lowered.endswith(".tiktoken"):
        return TokenizerSpec("tiktoken", path=_existing_file(text))
    if lowered.endswith(".json"):
        return TokenizerSpec("hf-json", path=_existing_file(text))
    raise ScalingLabError(f"unknown tokenizer {spec!r}: expected {TOKENIZER_HELP}")


def _parse_bpe_vocab(text: str) -> int:
    try:
        vocab = int(float(text))
    except ValueError:
        raise ScalingLabError(f"bpe vocab size must be an integer, got {text!r}") from None
    if not MIN_BPE_VOCAB <= vocab <= MAX_BPE_VOCAB or vocab != float(text):
        raise ScalingLabError(f"bpe vocab size must be an integer in [{MIN_BPE_VOCAB}, "
                              f"{MAX_BPE_VOCAB}], got {text!r}")
    return vocab


def _existing_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ScalingLabError(f"tokenizer file not found: {path}")
    return path


def token_dtype(vocab_size: int) -> type[np.unsignedinteger]:
    """uint16 when every id fits (vocab ≤ 65,536), else uint32."""
    return np.uint16 if vocab_size <= 1 << 16 else np.uint32


class ByteTokenizer:
    """UTF-8 bytes as tokens: vocab 256, one token per byte, nothing to train or store."""

    name = "byte"
    vocab_size = BYTE_VOCAB_SIZE

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)

    def encode_documents(self, documents: Sequence[str], separator: str) -> np.ndarray:
        return self.encode(separator.join(documents))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(np.asarray(ids, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")

    def to_json(self) -> str | None:
        return None


class HFTokenizer:
    """A Hugging Face ``tokenizers.Tokenizer`` (trained byte-level BPE or a loaded file)."""

    def __init__(self, tokenizer, name: str) -> None:
        self._tokenizer = tokenizer
        self.name = name
        self.vocab_size = int(tokenizer.get_vocab_size(with_added_tokens=True))

    @classmethod
    def from_file(cls, path: Path, name: str | None = None) -> HFTokenizer:
        from tokenizers import Tokenizer  # noqa: PLC0415

        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exceptions with long messages
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ScalingLabError(f"{path} is not a Hugging Face tokenizer file: {first}") from None
        return cls(tokenizer, name or f"hf:{path.name}")

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tokenizer.encode(text).ids, dtype=token_dtype(self.vocab_size))

    def encode_documents(self, documents: Sequence[str], separator: str) -> np.ndarray:
        """Encode each document (in parallel inside ``tokenizers``) and join with the
        separator's tokens; decodes back to ``separator.join(documents)``."""
        dtype = token_dtype(self.vocab_size)
        if not documents:
            return np.zeros(0, dtype=dtype)
        encoded = self._tokenizer.encode_batch(list(documents))
        sep_ids = self._tokenizer.encode(separator).ids
        pieces: list[list[int]] = []
        for index, encoding in enumerate(encoded):
            if index:
                pieces.append(sep_ids)
            pieces.append(encoding.ids)
        total = sum(len(piece) for piece in pieces)
        out = np.empty(total, dtype=dtype)
        position = 0
        for piece in pieces:
            out[position:position + len(piece)] = piece
            position += len(piece)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode([int(i) for i in ids])

    def to_json(self) -> str:
        return self._tokenizer.to_str()


def train_bpe(documents: Sequence[str], vocab_size: int) -> HFTokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenization, 256 byte symbols + merges) trained on
    ``documents`` up to ``vocab_size`` tokens; fewer if the text runs out of merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tokenizer.train_from_iterator(documents, trainer=trainer, length=len(documents))
    return HFTokenizer(tokenizer, f"bpe:{vocab_size}")


class TiktokenTokenizer:
    """A GPT-2 style ``.tiktoken`` rank file (``base64-token rank`` per line) run by
    ``tiktoken`` with GPT-2's pre-tokenization pattern.  Nothing is downloaded."""

    def __init__(self, path: Path) -> None:
        try:
            import tiktoken  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ScalingLabError("a .tiktoken tokenizer needs the optional package 'tiktoken' "
                                  "(pip install tiktoken)") from None
        ranks = read_tiktoken_ranks(path)
        self.vocab_size = max(ranks.values()) + 1
        self.name = f"tiktoken:{path.name}"
        try:
            self._encoding = tiktoken.Encoding(name=path.stem, pat_str=GPT2_SPLIT_PATTERN,
                                               mergeable_ranks=ranks, special_tokens={})
        except ValueError as exc:
            raise ScalingLabError(f"{path} is not a usable .tiktoken file: {exc}") from None

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._encoding.encode_ordinary(text),
                          dtype=token_dtype(self.vocab_size))

    def encode_documents(self, documents: Sequence[str], separator: str) -> np.ndarray:
        ids = self._encoding.encode_ordinary_batch(list(documents), num_threads=1)
        sep = self._encoding.encode_ordinary(separator)
        joined: list[int] = []
        for index, doc_ids in enumerate(ids):
            if index:
                joined.extend(sep)
            joined.extend(doc_ids)
        return np.asarray(joined, dtype=token_dtype(self.vocab_size))

    def decode(self, ids: Sequence[int]) -> str:
        return self._encoding.decode([int(i) for i in ids])

    def to_json(self) -> str | None:
        return None


def read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file into {token bytes: rank}, with a one-line error naming the
    first bad line.  Every single byte must have a rank (byte-level BPE)."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (UnicodeDecodeError, OSError):
        raise ScalingLabError(f"{path} is not a .tiktoken file (not ASCII text)") from None
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError
            ranks[base64.b64decode(parts[0], validate=True)] = int(parts[1])
        except (ValueError, binascii.Error):
            raise ScalingLabError(f"{path} is not a .tiktoken file (line {number}: expected "
                                  "'<base64 token> <rank>')") from None
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise ScalingLabError(f"{path} is not a byte-level .tiktoken file: {len(missing)} "
                              f"single bytes have no rank")
    return ranks


Tokenizer = ByteTokenizer | HFTokenizer | TiktokenTokenizer


def build_tokenizer(spec: TokenizerSpec, train_documents: Sequence[str] | None = None
                    ) -> Tokenizer:
    """The tokenizer for a spec; BPE is trained on ``train_documents`` (training split only)."""
    if spec.kind == "byte":
        return ByteTokenizer()
    if spec.kind == "bpe":
        if not train_documents:
            raise ScalingLabError("bpe tokenizer needs training documents")
        assert spec.vocab_size is not None
        return train_bpe(train_documents, spec.vocab_size)
    assert spec.path is not None
    if spec.kind == "tiktoken":
        return TiktokenTokenizer(spec.path)
    return HFTokenizer.from_file(spec.path)


def load_tokenizer(name: str, tokenizer_file: str | Path | None = None) -> Tokenizer:
    """Rebuild a corpus's tokenizer from its recorded name (and cached ``tokenizer.json``),
    e.g. to decode generated tokens."""
    if name == "byte":
        return ByteTokenizer()
    if name.startswith("tiktoken:") and tokenizer_file is not None:
        return TiktokenTokenizer(Path(tokenizer_file))
    if tokenizer_file is None:
        raise ScalingLabError(f"tokenizer {name!r} needs its tokenizer file")
    return HFTokenizer.from_file(Path(tokenizer_file), name=name)
