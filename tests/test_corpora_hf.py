"""Hugging Face datasets, offline: a dataset built here, saved with save_to_disk, loaded by path."""

from __future__ import annotations

import pytest

from scalinglab.corpora import load_corpus
from scalinglab.errors import ScalingLabError

datasets = pytest.importorskip("datasets", reason="optional extra scalinglab[hf] not installed")
datasets.disable_progress_bars()

ROWS = [f"Story number {i}. " + "Once upon a time there was a tokenizer. " * (i % 5 + 3)
        for i in range(60)]


@pytest.fixture()
def saved_dataset(tmp_path):
    dataset = datasets.Dataset.from_dict({"story": ROWS, "id": list(range(60))})
    path = tmp_path / "stories"
    dataset.save_to_disk(str(path))
    return path


@pytest.fixture()
def saved_dataset_dict(tmp_path):
    dataset = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ROWS}),
        "test": datasets.Dataset.from_dict({"text": ROWS[:5]}),
    })
    path = tmp_path / "stories-dict"
    dataset.save_to_disk(str(path))
    return path


def test_dataset_from_disk_with_a_field(saved_dataset, tmp_path):
    corpus = load_corpus(f"hf:{saved_dataset}", "byte", cache_dir=tmp_path / "cache",
                         field="story")
    assert corpus.name == "hf:stories"
    assert corpus.train_documents + corpus.val_documents == 60
    # documents are stripped and joined by blank lines within each split
    total = sum(len(r.strip().encode()) for r in ROWS) + 2 * 58
    assert corpus.train_bytes + corpus.val_bytes == total
    bpe = load_corpus(f"hf:{saved_dataset}", "bpe:300", cache_dir=tmp_path / "cache",
                      hf_field="story")
    assert bpe.train_tokens < corpus.train_tokens


def test_dataset_dict_split_selection(saved_dataset_dict, tmp_path):
    corpus = load_corpus(f"hf:{saved_dataset_dict}", cache_dir=tmp_path, split="train")
    assert corpus.train_documents + corpus.val_documents == 60
    with pytest.raises(ScalingLabError, match="has no split 'validation'"):
        load_corpus(f"hf:{saved_dataset_dict}", cache_dir=tmp_path, split="validation")


def test_missing_field_is_a_one_line_error(saved_dataset, tmp_path):
    with pytest.raises(ScalingLabError, match="has no field 'text'") as info:
        load_corpus(f"hf:{saved_dataset}", cache_dir=tmp_path)
    assert "story" in str(info.value) and "\n" not in str(info.value)
