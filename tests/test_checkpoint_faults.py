"""Checkpoint faults: truncated or corrupted files, a full disk while writing, a stop request.

Each case trains a tiny model (3e3 parameters, 256-token steps) on a toy corpus and compares the
records of the faulty-then-resumed run with those of an uninterrupted run.
"""

from __future__ import annotations

import errno
from dataclasses import replace

import numpy as np
import pytest

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.train import TrainConfig, train_run
from scalinglab.train import checkpoint as ckpt
from scalinglab.train.loop import TrainingInterrupted

BATCH, SEQ = 256, 32
pytestmark = pytest.mark.usefixtures("one_thread")


def toy_corpus() -> TokenizedCorpus:
    rng = np.random.default_rng(0)
    text = np.tile(rng.integers(0, 64, 500), 60).astype(np.uint8)  # learnable repetitions
    return TokenizedCorpus(name="toy", tokenizer="byte", vocab_size=256, train=text[:27_000],
                           val=text[27_000:], train_bytes=27_000, val_bytes=3_000)


def tiny(steps: int, folder=None, **overrides) -> TrainConfig:
    settings = dict(params=3e3, tokens=steps * BATCH, batch_tokens=BATCH, seq_len=SEQ,
                    eval_tokens=2048, n_evals=3, threads=1,
                    checkpoint_dir=None if folder is None else str(folder),
                    checkpoint_every=None if folder is None else 20)
    settings.update(overrides)
    return TrainConfig(**settings)


def losses(result) -> list[tuple[str, float, float]]:
    return [(r.run_id, r.tokens, r.loss) for r in result.records]


@pytest.fixture(scope="module")
def corpus():
    return toy_corpus()


@pytest.fixture(scope="module")
def clean(corpus):
    return train_run(tiny(80), corpus)


def crash_at(step_to_crash: int):
    def on_step(step: int) -> None:
        if step == step_to_crash:
            raise RuntimeError("simulated crash")
    return on_step


def crashed_run(corpus, folder, at: int = 50) -> None:
    """Checkpoints at steps 20 and 40 (checkpoint.prev.pt, checkpoint.pt), crash at ``at``."""
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_run(tiny(80, folder), corpus, on_step=crash_at(at))
    assert ckpt.read_checkpoint_file(ckpt.checkpoint_path(folder))["step"] == 40
    assert ckpt.read_checkpoint_file(ckpt.previous_path(folder))["step"] == 20


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(corpus, clean, tmp_path):
    crashed_run(corpus, tmp_path)
    path = ckpt.checkpoint_path(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    resumed = train_run(tiny(80, tmp_path), corpus, resume=True)
    assert resumed.resumed_from_step == 20
    assert losses(resumed) == losses(clean)
    text = " ".join(resumed.warnings)
    assert "truncated" in text and "checkpoint.prev.pt (step 20)" in text
    assert (tmp_path / "checkpoint.pt.corrupt").exists()
    again = train_run(tiny(80, tmp_path), corpus, resume=True)  # no crash loop, no new warning
    assert again.resumed_from_step == 80
    assert [w for w in again.warnings if w not in again.plan.warnings] == []
    assert losses(again) == losses(clean)


def test_a_flipped_byte_fails_the_checksum(corpus, tmp_path):
    crashed_run(corpus, tmp_path)
    path = ckpt.checkpoint_path(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ckpt.CorruptCheckpoint, match="SHA-256"):
        ckpt.read_checkpoint_file(path)


def test_both_checkpoints_corrupt_restarts_from_scratch_with_a_warning(corpus, clean, tmp_path):
    crashed_run(corpus, tmp_path)
    ckpt.checkpoint_path(tmp_path).write_bytes(b"\x00garbage" * 100)  # no header at all
    prev = ckpt.previous_path(tmp_path)
    prev.write_bytes(prev.read_bytes()[:300])
    resumed = train_run(tiny(80, tmp_path), corpus, resume=True)
    assert resumed.resumed_from_step is None
    assert losses(resumed) == losses(clean)
    assert "restarts from scratch" in resumed.warnings[-1]
    assert len([w for w in resumed.warnings if "moved it to" in w]) == 2
    assert ckpt.read_checkpoint_file(ckpt.checkpoint_path(tmp_path))["step"] == 80


def test_a_leftover_temporary_file_is_removed(corpus, clean, tmp_path):
    crashed_run(corpus, tmp_path)
    leftover = tmp_path / ".checkpoint.pt.99999.tmp"  # a writer killed before its rename
    leftover.write_bytes(b"half a checkpoint")
    resumed = train_run(tiny(80, tmp_path), corpus, resume=True)
    assert resumed.resumed_from_step == 40 and not leftover.exists()
    assert losses(resumed) == losses(clean)


class _FullDisk:
    """``open`` for the checkpoint module that fails writes with ENOSPC after ``after`` saves."""

    def __init__(self, after: int):
        self.after, self.calls = after, 0

    def __call__(self, path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)  # noqa: SIM115
        if "w" in mode:
            self.calls += 1
            if self.calls > self.after:
                real_write = handle.write

                def write(data):
                    real_write(data[: len(data) // 3])
                    raise OSError(errno.ENOSPC, "No space left on device")
                handle.write = write
        return handle


def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(corpus, clean, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(ckpt, "open", _FullDisk(after=1), raising=False)
    with pytest.raises(OSError) as caught:
        train_run(tiny(80, tmp_path), corpus)
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temp file
    assert ckpt.read_checkpoint_file(ckpt.checkpoint_path(tmp_path))["step"] == 20
    monkeypatch.undo()  # space freed: the run resumes from the good checkpoint
    resumed = train_run(tiny(80, tmp_path), corpus, resume=True)
    assert resumed.resumed_from_step == 20 and losses(resumed) == losses(clean)


@pytest.mark.parametrize("stop_at", [30, 45, 65])
def test_a_stop_request_checkpoints_and_resumes_exactly(corpus, tmp_path, stop_at):
    # WSD: a 10-step cooldown branch to step 50 forks at step 40 (20% cooldown), the main run
    # ends at 80.  The 30th optimiser step polled is main step 30, the 45th lies inside the
    # branch, the 65th is main step 55 (after the branch)
    config = tiny(80, tmp_path, schedule="wsd", warmup_tokens=10 * BATCH,
                  cooldown_at=(50 * BATCH, 80 * BATCH), run_id="wsd")
    uninterrupted = train_run(replace(config, checkpoint_dir=None, checkpoint_every=None),
                              corpus)
    steps = {"n": 0}

    def should_stop() -> bool:
        steps["n"] += 1  # polled once per optimiser step, branch steps included
        return steps["n"] >= stop_at

    with pytest.raises(TrainingInterrupted) as caught:
        train_run(config, corpus, should_stop=should_stop)
    saved = ckpt.read_checkpoint_file(ckpt.checkpoint_path(tmp_path))
    assert saved["step"] == caught.value.step
    expected = {30: 30, 45: 40, 65: 55}[stop_at]  # inside the branch: back to its fork
    assert caught.value.step == expected
    branch_records = [r for r in saved["records"] if r["run_id"] != "wsd"]
    assert len(branch_records) == (1 if stop_at == 65 else 0)  # a dropped branch: no record
    resumed = train_run(config, corpus, resume=True)
    assert resumed.resumed_from_step == caught.value.step
    assert losses(resumed) == losses(uninterrupted)
    assert len(losses(resumed)) == len({(r, t) for r, t, _ in losses(resumed)})
