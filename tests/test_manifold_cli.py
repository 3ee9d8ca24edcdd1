"""``scalinglab manifold ...`` through the installed console script, and the LM path on a tiny
sweep's checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skdim")
pytest.importorskip("sklearn")

SCRIPT = Path(sys.executable).with_name("scalinglab")

TINY_SWEEP = """
[sweep]
levels = [1e9, 3e9]
seq_len = 32
batch_tokens = 64
min_steps = 40
sizes_per_level = 3
eval_tokens = 2048
checkpoint_every = 100
# the trainer's full rate: these few-hundred-step runs need it to leave the bigram plateau
# far enough for a final-layer dimension above 1 (at the demo's 0.7x one run measured 0.99)
lr_scale = 1.0
"""


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    if not SCRIPT.exists():
        pytest.skip(f"console script {SCRIPT} not installed")
    return subprocess.run([str(SCRIPT), "manifold", *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert text in lines[0]
    assert "Traceback" not in result.stderr


def test_id_on_a_sphere_json():
    result = run("id", "--sphere", "3", "--n", "2000", "--bootstrap", "30", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["dimension"] == pytest.approx(3, rel=0.05)
    assert payload["low"] < payload["dimension"] < payload["high"]


def test_id_of_a_file_with_duplicates_and_out(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(500, 2)) @ rng.normal(size=(2, 6))
    path = tmp_path / "points.npy"
    np.save(path, np.vstack([X, X[:50]]))
    out = tmp_path / "id.json"
    result = run("id", str(path), "--bootstrap", "0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "50 exact duplicate point(s) removed" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["n_duplicates"] == 50 and saved["dimension"] == pytest.approx(2, rel=0.1)


@pytest.mark.parametrize(("content", "text"), [
    (np.arange(40.0), "2-D array"),
    (np.full((30, 3), np.nan), "non-finite"),
    (np.ones((30, 3)), "1 distinct points"),
    (np.random.default_rng(1).normal(size=(5, 3)), "needs at least 10"),
])
def test_id_bad_points_exit_2(tmp_path, content, text):
    path = tmp_path / "bad.npy"
    np.save(path, content)
    assert_one_line_error(run("id", str(path)), text)


def test_id_bad_usage_exit_2(tmp_path):
    assert_one_line_error(run("id"), "exactly one of")
    assert_one_line_error(run("id", str(tmp_path / "missing.npy")), "missing.npy")
    assert_one_line_error(run("id", "--sphere", "2", "--method", "pca"), "unknown method")


def test_teacher_student_bad_input_exit_2():
    assert_one_line_error(run("teacher-student", "--dims", "2,x"), "--dims")
    assert_one_line_error(run("teacher-student", "--dims", "40"), "exceeds the ambient")
    assert_one_line_error(run("teacher-student", "--widths", "4,8"), "at least 3 distinct")


def test_teacher_student_tiny_json():
    result = run("teacher-student", "--dims", "2", "--widths", "4,8,16", "--data-sizes", "none",
                 "--interp-sizes", "500,1000,2000", "--steps", "150", "--batch", "128",
                 "--bootstrap", "20", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    row = payload["table"][0]
    assert row["d"] == 2 and row["four_over_d"] == 2.0 and row["alpha_N"] > 0
    assert payload["runs"][0]["alpha_D"] is None


def test_digits_json():
    result = run("digits", "--sizes", "100,200,400", "--bootstrap", "20", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["exponent"]["alpha"] > 0 and 4 < payload["id"]["dimension"] < 20
    assert_one_line_error(run("digits", "--sizes", "100,200,9000"), "training sizes")


def test_lm_without_store_or_checkpoints_exit_2(tmp_path):
    assert_one_line_error(run("lm", str(tmp_path / "nowhere")), "does not exist")
    assert_one_line_error(run("lm", str(tmp_path)), "no run store")
    from scalinglab.sweep.store import SQLiteRunStore

    with SQLiteRunStore(tmp_path):
        pass
    assert_one_line_error(run("lm", str(tmp_path)), "no checkpoints")


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    if not SCRIPT.exists():
        pytest.skip(f"console script {SCRIPT} not installed")
    root = tmp_path_factory.mktemp("lm")
    config = root / "tiny.toml"
    config.write_text(TINY_SWEEP)
    directory = root / "sweep"
    done = subprocess.run([str(SCRIPT), "sweep", "run", str(directory), "--config", str(config),
                           "--threads", "1", "--json"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    return directory


@pytest.mark.slow
def test_lm_final_layer_dimension_of_a_tiny_sweep(tiny_sweep):
    checkpoints = sorted(tiny_sweep.glob("checkpoints/*/checkpoint.pt"))
    assert checkpoints
    result = run("lm", str(tiny_sweep), "--positions", "400", "--bootstrap", "30", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert len(payload["runs"]) == len(checkpoints)
    for r in payload["runs"]:
        d_model = r["d_model"]
        assert 1 < r["id"]["dimension"] < d_model
        assert r["id"]["low"] <= r["id"]["dimension"] <= r["id"]["high"]
        assert r["loss"] > 0 and r["n_params"] > 0
    kaplan = {(c["source"], c["exponent"]): c for c in payload["comparison"]}
    assert kaplan[("Kaplan 2020", "alpha_N")]["four_over_alpha"] == pytest.approx(52.63, 1e-3)
    assert kaplan[("Kaplan 2020", "alpha_D")]["four_over_alpha"] == pytest.approx(42.11, 1e-3)
    # the same numbers again: everything is seeded
    again = json.loads(run("lm", str(tiny_sweep), "--positions", "400", "--bootstrap", "30",
                           "--json").stdout)
    assert [r["id"] for r in again["runs"]] == [
        {**r["id"], "seconds": a["id"]["seconds"]} for r, a in
        zip(payload["runs"], again["runs"], strict=True)]
