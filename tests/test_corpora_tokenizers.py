"""Tokenizers: byte, locally trained byte-level BPE, .tiktoken files and tokenizer.json files."""

from __future__ import annotations

import base64
import sys

import numpy as np
import pytest

from scalinglab.corpora import ByteTokenizer, load_corpus, parse_tokenizer_spec, train_bpe
from scalinglab.corpora.tokenizers import TiktokenTokenizer, build_tokenizer
from scalinglab.errors import ScalingLabError

TEXT = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
        "it was the age of foolishness. Ünïcödé too: naïve café — 東京.\n")
DOCUMENTS = [TEXT * 3, "the quick brown fox jumps over the lazy dog " * 20, TEXT]


def test_byte_tokenizer_round_trips_utf8():
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode(TEXT)
    assert ids.dtype == np.uint16 and len(ids) == len(TEXT.encode("utf-8"))
    assert tokenizer.decode(ids) == TEXT
    joined = tokenizer.encode_documents(DOCUMENTS, "\n\n")
    assert tokenizer.decode(joined) == "\n\n".join(DOCUMENTS)


def test_bpe_is_trained_deterministically_and_round_trips():
    first = train_bpe(DOCUMENTS, 300)
    second = train_bpe(DOCUMENTS, 300)
    assert first.name == "bpe:300" and 256 < first.vocab_size <= 300
    ids = first.encode_documents(DOCUMENTS, "\n\n")
    np.testing.assert_array_equal(ids, second.encode_documents(DOCUMENTS, "\n\n"))
    assert first.decode(ids) == "\n\n".join(DOCUMENTS)
    assert len(ids) < 0.6 * len("\n\n".join(DOCUMENTS).encode())  # it compresses
    # unseen text still encodes (byte-level: no unknown tokens)
    unseen = "zyxw 🙂 ΩΨ"
    assert first.decode(first.encode(unseen)) == unseen


@pytest.mark.parametrize("spec, kind", [("byte", "byte"), ("bpe:4096", "bpe"),
                                        ("BPE:512", "bpe")])
def test_spec_parsing(spec, kind):
    assert parse_tokenizer_spec(spec).kind == kind


@pytest.mark.parametrize("spec, message", [
    ("wordpiece", "unknown tokenizer"),
    ("bpe:100", "bpe vocab size"),
    ("bpe:lots", "bpe vocab size"),
    ("bpe:4096.5", "bpe vocab size"),
    ("tiktoken:/no/such/file.tiktoken", "tokenizer file not found"),
    ("/no/such/tokenizer.json", "tokenizer file not found"),
])
def test_bad_specs_give_one_line_errors(spec, message):
    with pytest.raises(ScalingLabError, match=message) as info:
        parse_tokenizer_spec(spec)
    assert "\n" not in str(info.value)


def test_unknown_tokenizer_file_contents(tmp_path):
    bad_json = tmp_path / "tok.json"
    bad_json.write_text('{"not": "a tokenizer"}')
    with pytest.raises(ScalingLabError, match="not a Hugging Face tokenizer file") as info:
        build_tokenizer(parse_tokenizer_spec(str(bad_json)))
    assert "\n" not in str(info.value)
    bad_tiktoken = tmp_path / "bad.tiktoken"
    bad_tiktoken.write_text("this is not base64 at all\n")
    pytest.importorskip("tiktoken")
    with pytest.raises(ScalingLabError, match=r"not a \.tiktoken file \(line 1"):
        build_tokenizer(parse_tokenizer_spec(str(bad_tiktoken)))


def test_hf_tokenizer_json_file_is_loaded_by_path(tmp_path):
    trained = train_bpe(DOCUMENTS, 280)
    path = tmp_path / "my-tokenizer.json"
    path.write_text(trained.to_json(), encoding="utf-8")
    loaded = build_tokenizer(parse_tokenizer_spec(str(path)))
    assert loaded.name == "hf:my-tokenizer.json"
    np.testing.assert_array_equal(loaded.encode(TEXT), trained.encode(TEXT))


def write_tiktoken_file(path, merges: list[bytes]) -> None:
    """A byte-level .tiktoken rank file: the 256 bytes, then the given merged tokens."""
    tokens = [bytes([b]) for b in range(256)] + merges
    path.write_text("".join(f"{base64.b64encode(t).decode()} {rank}\n"
                            for rank, t in enumerate(tokens)), encoding="ascii")


def test_tiktoken_file_by_path(tmp_path):
    pytest.importorskip("tiktoken", reason="tiktoken is optional and not installed")
    path = tmp_path / "tiny.tiktoken"
    write_tiktoken_file(path, [b"th", b"the", b" t", b" th", b" the"])
    tokenizer = build_tokenizer(parse_tokenizer_spec(f"tiktoken:{path}"))
    assert tokenizer.name == "tiktoken:tiny.tiktoken" and tokenizer.vocab_size == 261
    ids = tokenizer.encode("the theme")
    assert ids.tolist()[:2] == [257, 260]  # "the", " the"
    assert tokenizer.decode(ids) == "the theme"
    joined = tokenizer.encode_documents(DOCUMENTS, "\n\n")
    assert tokenizer.decode(joined) == "\n\n".join(DOCUMENTS)
    corpus_file = tmp_path / "c.txt"
    corpus_file.write_text("\n\n".join(["the theatre then " * 40] * 30), encoding="utf-8")
    corpus = load_corpus(str(corpus_file), str(path), cache_dir=tmp_path / "cache",
                         doc_split="paragraphs")
    assert corpus.tokenizer == "tiktoken:tiny.tiktoken" and corpus.vocab_size == 261
    assert corpus.train_tokens < corpus.train_bytes


def test_tiktoken_missing_gives_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "tiny.tiktoken"
    write_tiktoken_file(path, [])
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken now fails
    with pytest.raises(ScalingLabError, match="needs the optional package 'tiktoken'"):
        TiktokenTokenizer(path)


def test_tiktoken_file_without_all_bytes_is_refused(tmp_path):
    pytest.importorskip("tiktoken")
    path = tmp_path / "partial.tiktoken"
    path.write_text(f"{base64.b64encode(b'a').decode()} 0\n", encoding="ascii")
    with pytest.raises(ScalingLabError, match="255 single bytes have no rank"):
        TiktokenTokenizer(path)
