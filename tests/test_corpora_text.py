"""Text corpora: the shared English files, local files and folders, the split, the cache, and
one-line errors on bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

import scalinglab.corpora.loading as loading
from scalinglab.corpora import (
    CACHE_ENV_VAR,
    cache_root,
    documents_from_path,
    documents_from_texts,
    load_corpus,
    split_documents,
)
from scalinglab.corpora.documents import DOCUMENT_SEPARATOR, split_text
from scalinglab.errors import ScalingLabError

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora"

# Decompressed sizes and SHA-256 from ../shared/data/corpora/README.md.
SHARED_FILES = {
    "tinyshakespeare.txt": (
        1_115_394, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    "gutenberg-nltk-13books.txt.xz": (
        6_024_218, "f3032d3fb91cf92fab85e863d87f21691e0b837297f8bd9485c1f515a9096939"),
    "state-union-1945-2006.txt.xz": (
        2_073_721, "b35898e0e0e1a86ddd48ab9a2cecf8be95db49c4ce8383ca326bf884e871ef74"),
}


def shared_corpus(name: str) -> Path:
    path = CORPORA / name
    if not path.exists():
        pytest.skip(f"shared corpus not found at {path} (expected ../shared beside the repo)")
    return path


@pytest.mark.parametrize("name", sorted(SHARED_FILES))
def test_shared_corpora_load_split_by_document_with_bytes_accounted(tmp_path, name):
    path = shared_corpus(name)
    size, sha = SHARED_FILES[name]
    opener = lzma.open if name.endswith(".xz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    assert len(raw) == size and hashlib.sha256(raw).hexdigest() == sha
    corpus = load_corpus(str(path), "byte", cache_dir=tmp_path)
    assert corpus.tokenizer == "byte" and corpus.vocab_size == 256
    assert corpus.train.dtype == np.uint16
    # byte tokens are the bytes: one token per byte of the joined documents
    assert corpus.train_tokens == corpus.train_bytes and corpus.val_tokens == corpus.val_bytes
    # stripping and re-joining documents changes only whitespace between them
    assert 0.97 * size < corpus.train_bytes + corpus.val_bytes <= size
    assert 0.05 <= corpus.val_bytes / (corpus.train_bytes + corpus.val_bytes) < 0.07
    assert corpus.train_documents > 20 * corpus.val_documents / 2 > 0
    # every validation document is a verbatim piece of the file
    val_text = bytes(np.asarray(corpus.val, dtype=np.uint8)).decode("utf-8")
    source = raw.decode("utf-8")
    for document in val_text.split("\n\n")[::5]:
        assert document in source


def test_split_is_by_whole_documents_deterministic_and_seeded():
    docs = [f"document {i}" + " word" * (i % 7 + 1) for i in range(200)]
    doc_set = documents_from_texts("toy", docs)
    a = split_documents(doc_set, 0.1, seed=0)
    b = split_documents(doc_set, 0.1, seed=0)
    c = split_documents(doc_set, 0.1, seed=1)
    assert a.val == b.val and a.val != c.val
    assert set(a.train).isdisjoint(a.val) and sorted(a.train + a.val) == sorted(docs)
    val_bytes = sum(len(d) for d in a.val)
    total = sum(len(d) for d in docs)
    assert 0.1 * total <= val_bytes < 0.1 * total + max(len(d) for d in docs)
    # source order is kept inside each part
    assert a.train == [d for d in docs if d in set(a.train)]


def test_groups_are_never_split():
    docs = [f"chapter {i}" for i in range(30)]
    groups = [f"book {i // 3}" for i in range(30)]
    split = split_documents(documents_from_texts("toy", docs, groups, "tail"), 0.2)
    val_books = {groups[docs.index(d)] for d in split.val}
    train_books = {groups[docs.index(d)] for d in split.train}
    assert val_books.isdisjoint(train_books)
    assert split.val_groups == ["book 8", "book 9"]  # the tail: the last books


def test_chunks_cut_at_blank_lines_and_keep_all_text():
    paragraphs = [f"paragraph {i}\nline two of {i}" for i in range(100)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text, "chunks", chunk_chars=100)
    assert DOCUMENT_SEPARATOR.join(chunks) == text
    assert all(c.startswith("paragraph") for c in chunks)
    assert len(chunks) > 10
    assert split_text(text, "paragraphs") == paragraphs
    assert len(split_text(text, "lines")) == 200
    assert split_text(text, "file") == [text]


def test_jsonl_folder_and_compressed_files(tmp_path):
    folder = tmp_path / "mydata"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha " * 50, encoding="utf-8")
    with gzip.open(folder / "b.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("beta " * 50)
    with lzma.open(folder / "c.jsonl.xz", "wt", encoding="utf-8") as handle:
        for i in range(3):
            handle.write(json.dumps({"body": f"gamma {i} " * 20}) + "\n")
    (folder / "notes.bin").write_bytes(b"\x00\x01")  # not a text suffix: ignored
    doc_set = documents_from_path(folder, field="body")
    assert doc_set.n_documents == 5
    assert doc_set.documents[0].startswith("alpha") and doc_set.documents[1].startswith("beta")
    corpus = load_corpus(str(folder), cache_dir=tmp_path / "cache", field="body")
    assert corpus.train_documents + corpus.val_documents == 5
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"record {i} " * 30}) for i in range(10)))
    corpus = load_corpus(str(jsonl), cache_dir=tmp_path / "cache")
    assert corpus.train_documents + corpus.val_documents == 10
    assert corpus.name == "records"


def test_tokenization_is_cached_and_not_repeated(tmp_path, monkeypatch):
    path = tmp_path / "text.txt"
    path.write_text("\n\n".join(f"para {i} " * 40 for i in range(200)), encoding="utf-8")
    first = load_corpus(str(path), "bpe:300", cache_dir=tmp_path / "cache")
    assert Path(first.meta["tokenizer_file"]).exists()
    assert Path(first.meta["tokenizer_file"]).parent == Path(first.meta["cache_path"])

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized again despite the cache")

    monkeypatch.setattr(loading, "build_tokenizer", no_tokenizing)
    second = load_corpus(str(path), "bpe:300", cache_dir=tmp_path / "cache")
    assert isinstance(second.train, np.memmap)
    np.testing.assert_array_equal(first.train, second.train)
    # a different split is different text: a new entry (and here: tokenizing, refused)
    with pytest.raises(AssertionError, match="tokenized again"):
        load_corpus(str(path), "bpe:300", cache_dir=tmp_path / "cache", val_fraction=0.2)


def test_cache_root_follows_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "from-env"))
    assert cache_root() == tmp_path / "from-env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    path = tmp_path / "t.txt"
    path.write_text("\n\n".join("x y z " * 30 for _ in range(40)), encoding="utf-8")
    corpus = load_corpus(str(path), doc_split="paragraphs")
    assert Path(corpus.meta["cache_path"]).is_relative_to(tmp_path / "from-env")
    monkeypatch.delenv(CACHE_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "scalinglab"


def test_bits_per_byte_uses_the_validation_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\n\n".join("the cat sat " * 30 for _ in range(40)), encoding="utf-8")
    byte = load_corpus(str(path), "byte", cache_dir=tmp_path)
    bpe = load_corpus(str(path), "bpe:260", cache_dir=tmp_path)
    assert byte.val_bytes == bpe.val_bytes and bpe.val_tokens < byte.val_tokens
    # the same total information (nats) gives the same bits/byte whatever the tokenizer
    total_nats = 1000.0
    assert byte.bits_per_byte(total_nats / byte.val_tokens) == pytest.approx(
        bpe.bits_per_byte(total_nats / bpe.val_tokens))


# ---- bad input: one-line errors --------------------------------------------------------------
def _one_line_error(func, match: str) -> str:
    with pytest.raises(ScalingLabError, match=match) as info:
        func()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    _one_line_error(lambda: load_corpus(str(empty), cache_dir=tmp_path), "empty")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n   \n")
    _one_line_error(lambda: load_corpus(str(blank), cache_dir=tmp_path), "empty")


def test_binary_and_non_utf8_files(tmp_path):
    binary = tmp_path / "image.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    _one_line_error(lambda: load_corpus(str(binary), cache_dir=tmp_path), "binary")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait ".encode("latin-1") * 100)
    _one_line_error(lambda: load_corpus(str(latin1), cache_dir=tmp_path), "not UTF-8")
    corrupt = tmp_path / "broken.txt.xz"
    corrupt.write_bytes(b"not really xz data")
    _one_line_error(lambda: load_corpus(str(corrupt), cache_dir=tmp_path), "cannot read")


def test_corpus_smaller_than_the_validation_set(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("just one short line of text")
    _one_line_error(lambda: load_corpus(str(tiny), cache_dir=tmp_path), "at least 2")
    two = tmp_path / "two.txt"
    two.write_text("first paragraph\n\nsecond paragraph")
    _one_line_error(lambda: load_corpus(str(two), cache_dir=tmp_path, doc_split="paragraphs",
                                        val_fraction=0.9), "too small")
    _one_line_error(lambda: load_corpus(str(two), cache_dir=tmp_path, val_fraction=1.5),
                    "val_fraction")


def test_bad_sources_and_options(tmp_path):
    _one_line_error(lambda: load_corpus(str(tmp_path / "missing.txt")), "no such corpus")
    empty_folder = tmp_path / "nothing"
    empty_folder.mkdir()
    _one_line_error(lambda: load_corpus(str(empty_folder)), "no text files")
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"text": "a"}\n{"content": "b"}\n')
    _one_line_error(lambda: load_corpus(str(jsonl), cache_dir=tmp_path), "line 2 has no field")
    jsonl.write_text('{"text": "a"}\nnot json\n')
    _one_line_error(lambda: load_corpus(str(jsonl), cache_dir=tmp_path), "line 2 is not JSON")
    path = tmp_path / "ok.txt"
    path.write_text("words " * 5000)
    _one_line_error(lambda: load_corpus(str(path), cache_dir=tmp_path, colour="red"),
                    "unknown option 'colour'")
    _one_line_error(lambda: load_corpus(str(path), cache_dir=tmp_path, doc_split="pages"),
                    "unknown doc_split")
    _one_line_error(lambda: load_corpus("kjv", cache_dir=tmp_path, field="x"), "unknown option")
