"""Document sources (text files, folders, compressed text, JSON lines, Hugging Face datasets)
and the deterministic train/validation split by document.

A :class:`DocumentSet` is a list of documents (strings) plus, optionally, a group label per
document (the KJV's book of each chapter) that the split keeps together.  Documents are
stripped of surrounding whitespace and joined with a blank line (``DOCUMENT_SEPARATOR``) when
they are tokenized, so bytes and tokens always describe the same text.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.errors import ScalingLabError

DOCUMENT_SEPARATOR = "\n\n"
DEFAULT_VAL_FRACTION = 0.05
# A single text file is cut into documents of about this many characters, at blank lines where
# possible; validation then takes whole chunks, so it rarely shares a paragraph with training.
DEFAULT_CHUNK_CHARS = 8192
DOC_SPLITS = ("chunks", "paragraphs", "lines", "file")

_DECOMPRESSORS = {".gz": gzip.open, ".xz": lzma.open, ".lzma": lzma.open, ".bz2": bz2.open}
_TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ".jsonl", ".json", ".csv", ".tsv", ".html",
                  ".xml", ".tex", ".py", ""}
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


@dataclass
class DocumentSet:
    """Documents of one corpus, in source order (str each), with optional split groups."""

    name: str
    documents: list[str]
    groups: list[str] | None = None  # a label per document; a group is never split
    split_order: str = "random"  # "random": seeded choice of groups; "tail": the last groups
    description: str = ""
    group_kind: str = "group"  # what a group is, for messages ("book")

    @property
    def n_documents(self) -> int:
        return len(self.documents)

    def document_bytes(self) -> np.ndarray:
        """UTF-8 bytes of each document, int64."""
        return np.array([len(doc.encode("utf-8")) for doc in self.documents], dtype=np.int64)


@dataclass
class DocumentSplit:
    """Train and validation documents of a :class:`DocumentSet` (source order kept)."""

    train: list[str]
    val: list[str]
    val_groups: list[str]

    def texts(self) -> tuple[str, str]:
        """The train and validation text exactly as the tokens will encode it."""
        return DOCUMENT_SEPARATOR.join(self.train), DOCUMENT_SEPARATOR.join(self.val)


# ---- reading files ---------------------------------------------------------------------------
def read_text(path: Path) -> str:
    """UTF-8 text of a plain or compressed (.gz, .xz, .lzma, .bz2) file, with one-line errors
    for a missing, empty, corrupt, binary or non-UTF-8 file."""
    raw = _read_bytes(path)
    if not raw.strip():
        raise ScalingLabError(f"{path} is empty (no text to train on)")
    if b"\x00" in raw[:1 << 20]:
        raise ScalingLabError(f"{path} looks like a binary file (NUL bytes), not UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScalingLabError(f"{path} is not UTF-8 text (undecodable byte at offset "
                              f"{exc.start})") from None


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ScalingLabError(f"no such file: {path}")
    if path.is_dir():
        raise ScalingLabError(f"{path} is a folder, expected a file")
    opener = _DECOMPRESSORS.get(path.suffix.lower())
    try:
        if opener is None:
            return path.read_bytes()
        with opener(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ScalingLabError(f"cannot read {path}: {exc}") from None


def _base_suffix(path: Path) -> str:
    """The suffix under any compression suffix: ``a.jsonl.gz`` → ``.jsonl``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _DECOMPRESSORS:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def read_jsonl(path: Path, field: str = "text") -> list[str]:
    """The ``field`` of every JSON object in a JSON-lines file (blank lines skipped)."""
    documents = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScalingLabError(f"{path} line {number} is not JSON: {exc.msg}") from None
        if not isinstance(record, dict) or field not in record:
            raise ScalingLabError(f"{path} line {number} has no field {field!r} "
                                  f"(choose it with field=...)")
        value = record[field]
        if not isinstance(value, str):
            raise ScalingLabError(f"{path} line {number}: field {field!r} is not a string")
        documents.append(value)
    return documents


# ---- cutting one text into documents ----------------------------------------------------------
def split_text(text: str, mode: str = "chunks", chunk_chars: int = DEFAULT_CHUNK_CHARS
               ) -> list[str]:
    """Cut one text into documents: ``chunks`` of about ``chunk_chars`` characters ending at a
    blank line (else a line end), ``paragraphs`` at blank lines, ``lines``, or the whole
    ``file``.  Documents are stripped; empty ones are dropped."""
    if mode == "file":
        pieces = [text]
    elif mode == "lines":
        pieces = text.splitlines()
    elif mode == "paragraphs":
        pieces = _BLANK_LINE.split(text)
    elif mode == "chunks":
        if chunk_chars < 1:
            raise ScalingLabError(f"chunk_chars must be >= 1, got {chunk_chars}")
        pieces = _chunks(text, chunk_chars)
    else:
        raise ScalingLabError(f"unknown doc_split {mode!r}: expected one of {', '.join(DOC_SPLITS)}")
    return [piece.strip() for piece in pieces if piece.strip()]


def _chunks(text: str, chunk_chars: int) -> list[str]:
    pieces, start = [], 0
    while start < len(text):
        cut = _next_cut(text, start + chunk_chars, start + 2 * chunk_chars)
        pieces.append(text[start:cut])
        start = cut
    return pieces


def _next_cut(text: str, target: int, limit: int) -> int:
    """First blank line after ``target`` (before ``limit``), else the end of the text if it is
    near, else a line end, else a space, else ``limit``."""
    if target >= len(text):
        return len(text)
    match = _BLANK_LINE.search(text, target, min(limit, len(text)))
    if match:
        return match.end()
    if limit >= len(text):  # the rest fits in this chunk: no small leftover piece
        return len(text)
    for sep in ("\n", " "):
        found = text.find(sep, target, min(limit, len(text)))
        if found >= 0:
            return found + 1
    return min(limit, len(text))


# ---- sources ---------------------------------------------------------------------------------
def documents_from_path(path: str | Path, *, field: str = "text", doc_split: str | None = None,
                        chunk_chars: int = DEFAULT_CHUNK_CHARS) -> DocumentSet:
    """Documents of a text file, a compressed text file, a JSON-lines file or a folder.

    A JSON-lines file gives one document per record (its ``field``).  A folder gives one
    document per text file in it (recursively, sorted by path; JSON lines by record).  A single
    text file is cut by ``doc_split`` (default ``chunks``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ScalingLabError(f"no such file or folder: {path}")
    if path.is_dir():
        return _documents_from_folder(path, field, doc_split, chunk_chars)
    if _base_suffix(path) == ".jsonl":
        documents = read_jsonl(path, field)
    else:
        documents = split_text(read_text(path), doc_split or "chunks", chunk_chars)
    return _nonempty(DocumentSet(name=_corpus_name(path), documents=documents,
                                 description=str(path)), path)


def _documents_from_folder(folder: Path, field: str, doc_split: str | None,
                           chunk_chars: int) -> DocumentSet:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and _base_suffix(p) in _TEXT_SUFFIXES)
    if not files:
        raise ScalingLabError(f"folder {folder} holds no text files (.txt, .jsonl, .gz, .xz, ...)")
    documents: list[str] = []
    for file in files:
        if _base_suffix(file) == ".jsonl":
            documents.extend(read_jsonl(file, field))
        else:
            documents.extend(split_text(read_text(file), doc_split or "file", chunk_chars))
    return _nonempty(DocumentSet(name=folder.name, documents=documents,
                                 description=f"{folder} ({len(files)} files)"), folder)


def documents_from_hf(name: str, *, split: str = "train", field: str = "text",
                      config: str | None = None) -> DocumentSet:
    """Documents from a Hugging Face dataset: a folder written by ``save_to_disk`` when
    ``name`` is an existing path, otherwise ``datasets.load_dataset(name, config)`` (which may
    download from the hub).  Needs the optional extra ``scalinglab[hf]``."""
    try:
        import datasets  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ScalingLabError("Hugging Face datasets need the optional package 'datasets': "
                              "pip install 'scalinglab[hf]'") from None
    local = Path(name).expanduser()
    try:
        if local.exists():
            loaded = datasets.load_from_disk(str(local))
        else:
            loaded = datasets.load_dataset(name, config, split=split)
    except (FileNotFoundError, ValueError, OSError, ConnectionError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScalingLabError(f"cannot load Hugging Face dataset {name!r}: {first_line}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ScalingLabError(f"Hugging Face dataset {name!r} has no split {split!r} "
                                  f"(has {', '.join(loaded)})")
        loaded = loaded[split]
    if field not in loaded.column_names:
        raise ScalingLabError(f"Hugging Face dataset {name!r} has no field {field!r} "
                              f"(has {', '.join(loaded.column_names)})")
    documents = [doc.strip() for doc in loaded[field] if isinstance(doc, str) and doc.strip()]
    return _nonempty(DocumentSet(name=f"hf:{local.name if local.exists() else name}",
                                 documents=documents,
                                 description=f"Hugging Face {name} split={split} field={field}"),
                     name)


def _corpus_name(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name or path.name


def _nonempty(doc_set: DocumentSet, origin: object) -> DocumentSet:
    stripped = [doc.strip() for doc in doc_set.documents]
    keep = [i for i, doc in enumerate(stripped) if doc]
    doc_set.documents = [stripped[i] for i in keep]
    if doc_set.groups is not None:
        doc_set.groups = [doc_set.groups[i] for i in keep]
    if not doc_set.documents:
        raise ScalingLabError(f"{origin} holds no text (0 non-empty documents)")
    return doc_set


# ---- the split ---------------------------------------------------------------------------------
def split_documents(doc_set: DocumentSet, val_fraction: float = DEFAULT_VAL_FRACTION,
                    seed: int = 0) -> DocumentSplit:
    """Split by document (or by group), deterministically, so that the validation part holds
    at least ``val_fraction`` of the bytes and both parts are non-empty.

    ``random`` order takes groups in a seeded random order; ``tail`` takes the last groups
    (the KJV's last books).  The seed is the *split* seed: keep it fixed across a sweep, or
    runs are validated on different text.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ScalingLabError(f"val_fraction must be in (0, 1), got {val_fraction}")
    labels = doc_set.groups or [str(i) for i in range(doc_set.n_documents)]
    if len(labels) != doc_set.n_documents:
        raise ScalingLabError("document groups must have one label per document")
    group_names, group_of_doc = np.unique(np.array(labels, dtype=object), return_inverse=True)
    sizes = doc_set.document_bytes()
    group_bytes = np.bincount(group_of_doc, weights=sizes, minlength=len(group_names))
    if len(group_names) < 2:
        raise ScalingLabError(
            f"corpus {doc_set.name} has only {doc_set.n_documents} document(s) "
            f"({int(sizes.sum())} bytes) in one split unit; need at least 2 to hold out a "
            "validation set (add text or choose a finer doc_split)")
    val_groups = _choose_val_groups(group_of_doc, group_bytes, val_fraction, seed,
                                    doc_set.split_order)
    if len(val_groups) == len(group_names):
        raise ScalingLabError(
            f"corpus {doc_set.name} ({int(sizes.sum())} bytes, {doc_set.n_documents} documents) "
            f"is too small for a validation set of {val_fraction:.0%}: nothing would be left "
            "to train on")
    is_val = np.isin(group_of_doc, list(val_groups))
    docs = doc_set.documents
    return DocumentSplit(train=[d for d, v in zip(docs, is_val, strict=True) if not v],
                         val=[d for d, v in zip(docs, is_val, strict=True) if v],
                         val_groups=list(dict.fromkeys(
                             str(label) for label, v in zip(labels, is_val, strict=True) if v)))


def _choose_val_groups(group_of_doc: np.ndarray, group_bytes: np.ndarray, val_fraction: float,
                       seed: int, order: str) -> set[int]:
    n_groups = len(group_bytes)
    if order == "tail":
        # groups in order of their last document, latest first
        last_doc = np.zeros(n_groups, dtype=np.int64)
        np.maximum.at(last_doc, group_of_doc, np.arange(len(group_of_doc)))
        candidates = np.argsort(-last_doc, kind="stable")
    elif order == "random":
        candidates = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E11])
                                           ).permutation(n_groups)
    else:
        raise ScalingLabError(f"unknown split order {order!r}: expected random or tail")
    target = val_fraction * group_bytes.sum()
    cumulative = np.cumsum(group_bytes[candidates])
    count = int(np.searchsorted(cumulative, target, side="left")) + 1
    return {int(g) for g in candidates[:min(count, n_groups)]}


def documents_from_texts(name: str, texts: Iterable[str], groups: Sequence[str] | None = None,
                         split_order: str = "random") -> DocumentSet:
    """A :class:`DocumentSet` from strings already in memory."""
    texts = list(texts)
    if groups is not None and len(groups) != len(texts):
        raise ScalingLabError(f"{len(groups)} group labels for {len(texts)} documents")
    return _nonempty(DocumentSet(name=name, documents=texts,
                                 groups=list(groups) if groups is not None else None,
                                 split_order=split_order), name)
