"""External trainers (issue 23): a stand-alone PyTorch script trains a small ladder for real;
placeholders, the metrics contract, failures with reasons, timeouts, retries, resume, GPUs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.importers import read_jsonl
from scalinglab.sweep import LocalExecutor, SQLiteRunStore, SweepSpec, plan_sweep, run_pending
from scalinglab.sweep.external import PLACEHOLDERS, ExternalTrainer, plan_values
from tests.clihelp import assert_one_line_error, run_inprocess, run_script

TRAINER = Path(__file__).parent / "trainers" / "tiny_torch_trainer.py"
TEMPLATE = (f"{sys.executable} {TRAINER} --d_model {{d_model}} --max_tokens {{tokens}} "
            f"--batch_tokens {{batch_tokens}} --lr {{lr}} --seed {{seed}} --out {{run_dir}} "
            f"--resume {{resume}}")
LADDER = ["--levels", "2e10,4e10", "--sizes", "2", "--design", "isoflop"]


@pytest.fixture(scope="module")
def plan():
    from scalinglab.corpora import load_corpus

    spec = SweepSpec(levels=(2e10, 4e10), sizes_per_level=2, design="isoflop")
    return plan_sweep(spec, load_corpus(spec.corpus, tokenizer=spec.tokenizer))


def _store(tmp_path: Path, plan) -> SQLiteRunStore:
    store = SQLiteRunStore(tmp_path / "sweep")
    store.add_runs(r.stored() for r in plan.runs)
    return store


def _run(store, tmp_path, trainer, workers=1, retries=0, runs=None, **kw):
    executor = LocalExecutor(workers, threads=1, **kw)
    try:
        return run_pending(store, executor, tmp_path / "sweep", "kjv", "byte", runs=runs,
                           retries=retries, trainer=trainer)
    finally:
        executor.close()


def test_placeholders_cover_the_plan(plan, tmp_path):
    run = plan.runs[0].stored()
    values = plan_values(run, tmp_path / "r", "kjv", "byte")
    assert set(values) == set(PLACEHOLDERS)
    shape = run.meta["shape"]
    assert (values["n_layer"], values["d_model"], values["n_head"]) == \
        (shape["n_layer"], shape["d_model"], shape["n_heads"])
    assert values["tokens"] == run.config["tokens"] and values["steps"] * 512 == values["tokens"]
    assert 0 < values["lr"] < 0.01 and 0 < values["warmup_tokens"] < values["tokens"]
    everything = " ".join(f"--{k} {{{k}}}" for k in PLACEHOLDERS)
    argv = ExternalTrainer(f"train {everything}").argv(values)
    assert argv[argv.index("--run_dir") + 1] == str(tmp_path / "r")
    assert ExternalTrainer("t --lr {lr:.2e}").argv(values)[-1] == f"{values['lr']:.2e}"


@pytest.mark.parametrize("command, fragment", [
    ("python train.py --width {width}", "unknown placeholder {width}"),
    ("python train.py --out {}", "unknown placeholder {}"),
    ("python 'train.py", "cannot parse"),
])
def test_bad_templates_fail_before_anything_runs(command, fragment):
    with pytest.raises(ScalingLabError, match="^" + fragment.split("{")[0]):
        ExternalTrainer(command)


def test_trainers_not_found(tmp_path):
    for command, fragment in ((f"{tmp_path}/missing.sh {{run_dir}}", "not found"),
                              ("no-such-trainer-xyz --out {run_dir}", "not found on PATH"),
                              (f"{sys.executable} {tmp_path}/nope.py", "script"),
                              ("no_such_module_xyz:train", "module 'no_such_module_xyz'")):
        with pytest.raises(ScalingLabError, match=fragment):
            ExternalTrainer(command).check_found()


def test_cli_bad_trainer_is_one_line_and_touches_nothing(tmp_path):
    """The console script in a subprocess, then the same entry point in-process."""
    result = run_script("sweep", "run", str(tmp_path / "s"), *LADDER, "--trainer",
                        "python train.py --x {width}")
    assert_one_line_error(result, "unknown placeholder {width}")
    result = run_inprocess("sweep", "run", str(tmp_path / "s"), *LADDER, "--trainer",
                           "no-such-trainer-xyz {run_dir}")
    assert_one_line_error(result, "trainer program 'no-such-trainer-xyz' not found")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_real_pytorch_ladder_then_import_gives_the_same_rows(plan, tmp_path):
    """The tiny PyTorch script trains both runs for real; progress shows their losses; the
    store holds checked rows (the trainer's own N); importing the run directories gives the
    same rows exactly; running again trains nothing."""
    store = _store(tmp_path, plan)
    events = []
    trainer = ExternalTrainer(TEMPLATE + " --report_params 1", poll_seconds=0.2)
    executor = LocalExecutor(1, threads=1)
    outcomes = run_pending(store, executor, tmp_path / "sweep", "kjv", "byte", retries=0,
                           trainer=trainer, progress=events.append)
    assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
    frame = store.records()
    assert len(frame) == 8 and frame["final"].sum() == 2
    first = frame[frame["run_id"] == plan.runs[0].name]
    assert first["loss"].iloc[-1] < first["loss"].iloc[0] < 3.5  # it learned (ln 32 = 3.47)
    assert set(frame["n_params"]) != {float(r.shape.n_params) for r in plan.runs}  # reported
    assert all(store.get(r.key).meta["n_params_source"] == "trainer" for r in plan.runs)
    assert any(e[3] == e[3] and e[5] == "external" for e in events)  # a latest loss shown
    imported, warnings = read_jsonl(tmp_path / "sweep" / "runs")
    key = ["run_id", "tokens"]
    pd.testing.assert_frame_equal(imported.sort_values(key).reset_index(drop=True),
                                  frame.sort_values(key).reset_index(drop=True))
    assert warnings == []
    assert run_pending(store, executor, tmp_path / "sweep", "kjv", "byte", trainer=trainer) == []


@pytest.mark.parametrize("mode, reason", [
    ("exit", "exited with status 3: loading data failed"),
    ("nometrics", "exited 0 but wrote no metrics"),
    ("nan", "loss is nan"),
    ("decreasing", "do not increase"),
    ("nofinal", "no final row"),
])
def test_bad_runs_fail_with_their_reason(plan, tmp_path, mode, reason):
    store = _store(tmp_path, plan)
    target, other = plan.runs[0], plan.runs[1]
    outcomes = _run(store, tmp_path, ExternalTrainer(TEMPLATE + f" --fail {mode}"),
                    runs=[target.stored()])
    assert not outcomes[0].ok and reason in outcomes[0].error
    failed = store.get(target.key)
    assert failed.status == "failed" and reason in failed.error
    if mode == "exit":
        assert "no such dataset 'missing'" in failed.meta["stderr_tail"]
    untouched = store.get(other.key)
    assert untouched.status == "planned" and untouched.error is None
    assert store.records().empty


@pytest.mark.parametrize("mode, fragment", [("bits", "is it in bits?"),
                                            ("percent", "a percentage?")])
def test_implausible_losses_are_warned(plan, tmp_path, mode, fragment):
    store = _store(tmp_path, plan)
    outcomes = _run(store, tmp_path, ExternalTrainer(TEMPLATE + f" --fail {mode}"),
                    runs=[plan.runs[0].stored()])
    assert outcomes[0].ok
    assert any(fragment in w for w in store.get(plan.runs[0].key).meta["warnings"])


def test_timeout_kills_the_trainer_and_fails_the_run(plan, tmp_path):
    store = _store(tmp_path, plan)
    started = time.monotonic()
    outcomes = _run(store, tmp_path, ExternalTrainer(TEMPLATE + " --fail sleep", timeout=1.5),
                    runs=[plan.runs[0].stored()])
    assert time.monotonic() - started < 60
    assert "timed out after 1.5 s (--run-timeout)" in outcomes[0].error
    pid = json.loads((Path(outcomes[0].meta["run_dir"]) / "env.json").read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_retry_after_a_crash_resumes_and_succeeds(plan, tmp_path):
    store = _store(tmp_path, plan)
    outcomes = _run(store, tmp_path, ExternalTrainer(TEMPLATE + " --fail crash_once"),
                    retries=1, runs=[plan.runs[0].stored()])
    assert outcomes[0].ok and outcomes[0].attempts == 2
    run_dir = Path(outcomes[0].meta["run_dir"])
    assert json.loads((run_dir / "env.json").read_text())["resume"] == 1
    assert outcomes[0].meta["resumed"] is True


def test_without_resume_placeholder_a_rerun_starts_from_scratch(plan, tmp_path):
    store = _store(tmp_path, plan)
    template = TEMPLATE.replace(" --resume {resume}", "") + " --fail quick"
    run_dir = tmp_path / "sweep" / "runs" / plan.runs[0].name
    run_dir.mkdir(parents=True)
    (run_dir / "leftover.pt").write_text("from a killed attempt")
    outcomes = _run(store, tmp_path, ExternalTrainer(template), runs=[plan.runs[0].stored()])
    assert outcomes[0].ok and outcomes[0].meta["resumed"] is False
    assert not (run_dir / "leftover.pt").exists()


@pytest.mark.slow
def test_gpus_per_run_sets_cuda_visible_devices_per_worker(plan, tmp_path):
    store = _store(tmp_path, plan)
    outcomes = _run(store, tmp_path, ExternalTrainer(TEMPLATE + " --fail quick"), workers=2,
                    gpus_per_run=2)
    seen = {json.loads((Path(o.meta["run_dir"]) / "env.json").read_text())
            ["CUDA_VISIBLE_DEVICES"] for o in outcomes}
    assert all(o.ok for o in outcomes)
    assert seen <= {"0,1", "2,3"} and seen


def test_module_function_trainer(plan, tmp_path, monkeypatch):
    module = tmp_path / "mytrainer_xyz.py"
    module.write_text("def train(run):\n"
                      "    return [{'tokens': run['tokens'] // 2, 'loss': 3.0},\n"
                      "            {'tokens': run['tokens'], 'loss': 2.0, 'final': True}]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    store = _store(tmp_path, plan)
    outcomes = _run(store, tmp_path, ExternalTrainer("mytrainer_xyz:train"),
                    runs=[plan.runs[0].stored()])
    assert outcomes[0].ok, outcomes[0].error
    assert list(store.records()["loss"]) == [3.0, 2.0]


@pytest.mark.slow
def test_two_sweeps_cannot_share_a_run_directory(tmp_path):
    shared = tmp_path / "shared-runs"
    args = [*LADDER, "--trainer", TEMPLATE + " --fail quick", "--runs-dir", str(shared)]
    first = run_script("sweep", "run", str(tmp_path / "a"), *args, timeout=300)
    assert first.code == 0, first.stderr
    second = run_script("sweep", "run", str(tmp_path / "b"), *args, timeout=300)
    assert_one_line_error(second, "belongs to another sweep")
    with SQLiteRunStore(tmp_path / "b") as store:
        assert {r.status for r in store.runs()} == {"planned"}
    with SQLiteRunStore(tmp_path / "a") as store:
        assert {r.status for r in store.runs()} == {"done"}
