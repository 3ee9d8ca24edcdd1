"""The trainer's fallback byte-level loader and its step-indexed batches."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.train.data import (
    TokenWindows,
    load_text_corpus,
    split_documents,
    validation_windows,
)

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / \
    "tinyshakespeare.txt"

PARAGRAPHS = "".join(f"Paragraph {i} says {'la ' * (i % 7)}.\n\n" for i in range(40))


def test_split_by_blank_lines_keeps_every_byte():
    data = PARAGRAPHS.encode()
    documents = split_documents(data)
    assert len(documents) == 40 and b"".join(documents) == data


def test_few_paragraphs_fall_back_to_chunks():
    data = ("x" * 10_000).encode()
    documents = split_documents(data, chunk_bytes=4096)
    assert [len(d) for d in documents] == [4096, 4096, 1808]


@pytest.mark.parametrize("suffix,opener", [(".txt", open), (".txt.gz", gzip.open),
                                           (".txt.xz", lzma.open)])
def test_plain_gz_and_xz_files_give_the_same_corpus(tmp_path, suffix, opener):
    path = tmp_path / f"story{suffix}"
    with opener(path, "wb") as handle:
        handle.write(PARAGRAPHS.encode())
    corpus = load_text_corpus(path)
    assert corpus.name == "story" and corpus.tokenizer == "byte" and corpus.vocab_size == 256
    assert corpus.val_documents == 4 and corpus.train_documents == 36
    text = PARAGRAPHS.encode()
    assert bytes(corpus.train) + bytes(corpus.val) == text  # last 10% of documents held out
    assert corpus.train_bytes + corpus.val_bytes == len(text)


def test_seeded_split_is_deterministic_and_disjoint(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(PARAGRAPHS)
    first, again = load_text_corpus(path, split_seed=3), load_text_corpus(path, split_seed=3)
    other = load_text_corpus(path, split_seed=4)
    assert bytes(first.val) == bytes(again.val) and bytes(first.val) != bytes(other.val)
    val_docs = set(bytes(first.val).split(b"\n\n")) - {b""}
    train_docs = set(bytes(first.train).split(b"\n\n")) - {b""}
    assert len(val_docs) == 4 and not val_docs & train_docs


def test_loader_errors(tmp_path):
    with pytest.raises(ScalingLabError, match="does not exist"):
        load_text_corpus(tmp_path / "missing.txt")
    with pytest.raises(ScalingLabError, match="directory"):
        load_text_corpus(tmp_path)
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n\n" * 30)
    with pytest.raises(ScalingLabError, match="not UTF-8"):
        load_text_corpus(tmp_path / "latin1.txt")
    (tmp_path / "broken.txt.xz").write_bytes(b"not xz at all")
    with pytest.raises(ScalingLabError, match="cannot read"):
        load_text_corpus(tmp_path / "broken.txt.xz")


def test_tinyshakespeare_split():
    if not SHAKESPEARE.exists():
        pytest.skip(f"shared corpus not found at {SHAKESPEARE}")
    corpus = load_text_corpus(SHAKESPEARE)
    assert corpus.train_tokens + corpus.val_tokens == SHAKESPEARE.stat().st_size
    assert 0.05 < corpus.val_tokens / corpus.train_tokens < 0.15
    assert corpus.val_documents > 100


def test_windows_visit_every_window_once_per_epoch():
    tokens = np.arange(1001) % 256
    windows = TokenWindows(tokens, seq_len=10, seed=7)
    assert windows.n_windows == 100 and windows.tokens_per_epoch == 1000
    epoch0 = windows.window_ids(0, 100)
    assert sorted(epoch0.tolist()) == list(range(100))
    epoch1 = windows.window_ids(100, 100)
    assert sorted(epoch1.tolist()) == list(range(100)) and not np.array_equal(epoch0, epoch1)
    spanning = windows.window_ids(95, 10)  # crosses the epoch boundary
    assert np.array_equal(spanning, np.concatenate([epoch0[95:], epoch1[:5]]))


def test_batches_are_pure_functions_of_position():
    tokens = np.random.default_rng(0).integers(0, 256, 5000)
    x1, y1 = TokenWindows(tokens, 16, seed=1).batch(40, 8)
    x2, y2 = TokenWindows(tokens, 16, seed=1).batch(40, 8)
    assert x1.equal(x2) and y1.equal(y2)
    assert x1[:, 1:].equal(y1[:, :-1])  # targets are inputs shifted by one
    start = int(TokenWindows(tokens, 16, seed=1).window_ids(40, 1)[0]) * 16
    assert x1[0].tolist() == tokens[start:start + 16].tolist()


def test_validation_windows_are_evenly_spread():
    assert validation_windows(5, 10).tolist() == [0, 1, 2, 3, 4]
    ids = validation_windows(1000, 10)
    assert len(ids) == 10 and ids[0] == 0 and ids[-1] == 999
