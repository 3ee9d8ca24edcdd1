"""The documented example trainers (examples/) run a planned ladder through --trainer:
the nanoGPT-style script with WSD cooldown branches (metrics.jsonl) and Hugging Face
transformers' Trainer read through its TensorBoard logs (issue 23, item 5)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.importers import parse_mapping, read_jsonl, read_tensorboard
from scalinglab.sweep import LocalExecutor, SQLiteRunStore, SweepSpec, plan_sweep, run_pending
from scalinglab.sweep.external import ExternalTrainer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KEY = ["run_id", "tokens"]


def _ladder(tmp_path: Path, spec: SweepSpec, trainer: ExternalTrainer, count: int):
    from scalinglab.corpora import load_corpus

    runs = plan_sweep(spec, load_corpus("kjv")).runs[:count]
    store = SQLiteRunStore(tmp_path / "sweep")
    store.add_runs(r.stored() for r in runs)
    outcomes = run_pending(store, LocalExecutor(1, threads=1), tmp_path / "sweep", "kjv",
                           "byte", retries=0, trainer=trainer)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return runs, store.records()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


@pytest.mark.slow
def test_nanogpt_example_trains_a_wsd_run_with_branches(tmp_path):
    template = (f"{sys.executable} {EXAMPLES / 'nanogpt_train.py'} --n_layer {{n_layer}} "
                f"--d_model {{d_model}} --n_head {{n_head}} --seq_len {{seq_len}} "
                f"--tokens {{tokens}} --batch_tokens {{batch_tokens}} --lr {{lr}} "
                f"--warmup_tokens {{warmup_tokens}} --schedule {{schedule}} "
                f"--cooldown_tokens {{cooldown_tokens}} --cooldown_fraction "
                f"{{cooldown_fraction}} --eval_tokens 8192 --seed {{seed}} --data {{corpus}} "
                f"--out {{run_dir}} --resume {{resume}}")
    spec = SweepSpec(levels=(1e10, 2e10), sizes_per_level=1, design="wsd", min_steps=100)
    runs, records = _ladder(tmp_path, spec, ExternalTrainer(template), 1)
    assert len(runs[0].points) == 2  # one branch and the main run's end
    assert list(records["tokens"]) == [p["tokens"] for p in runs[0].points]
    assert records["final"].all() and records["loss"].iloc[-1] < 3.5
    imported, _ = read_jsonl(tmp_path / "sweep" / "runs")
    pd.testing.assert_frame_equal(_sorted(imported), _sorted(records))


@pytest.mark.slow
def test_transformers_trainer_through_tensorboard(tmp_path):
    pytest.importorskip("transformers", reason="needs the external extra")
    pytest.importorskip("tensorboard", reason="needs the external extra")
    template = (f"{sys.executable} {EXAMPLES / 'hf_trainer.py'} --n_layer {{n_layer}} "
                f"--d_model {{d_model}} --n_head {{n_head}} --seq_len {{seq_len}} "
                f"--tokens {{tokens}} --batch_tokens {{batch_tokens}} --lr {{lr}} "
                f"--warmup_tokens {{warmup_tokens}} --eval_tokens 8192 --seed {{seed}} "
                f"--corpus {{corpus}} --tokenizer {{tokenizer}} --out {{run_dir}} "
                f"--resume {{resume}}")
    trainer = ExternalTrainer(template, tb_loss="eval/loss", tb_n_params="model/n_params")
    spec = SweepSpec(levels=(2e10, 6e10), sizes_per_level=3, design="isoflop", min_steps=100)
    runs, records = _ladder(tmp_path, spec, trainer, 1)
    run = runs[0]
    assert len(records) == 4 and records["final"].tolist() == [False] * 3 + [True]
    assert records["tokens"].iloc[-1] == run.config.tokens
    assert records["loss"].iloc[-1] < records["loss"].iloc[0] < 6.0  # it learned
    gpt2_n = records["n_params"].iloc[0]
    assert gpt2_n != run.shape.n_params and abs(gpt2_n / run.shape.n_params - 1) < 0.2
    tb, _ = read_tensorboard(tmp_path / "sweep" / "runs",
                             parse_mapping("loss=eval/loss,N=model/n_params"))
    pd.testing.assert_frame_equal(_sorted(tb), _sorted(records))
    jsonl, _ = read_jsonl(tmp_path / "sweep" / "runs")
    pd.testing.assert_frame_equal(_sorted(jsonl), _sorted(records))
