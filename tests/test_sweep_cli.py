"""``scalinglab sweep plan|run|status|export`` through typer's CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scalinglab.cli import sweep_cmd
from scalinglab.errors import ScalingLabError

TINY = """
[sweep]
levels = [1e9, 3e9]
seq_len = 32
batch_tokens = 64
min_steps = 40
sizes_per_level = 3
eval_tokens = 2048
checkpoint_every = 100
"""


@pytest.fixture()
def invoke(tmp_path):
    app = typer.Typer()
    sweep_cmd.register(app)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)

    def run(*args: str):
        return CliRunner().invoke(app, [a.replace("CONFIG", str(config)) for a in args])
    return run


def test_plan_json_totals(invoke):
    result = invoke("sweep", "plan", "--config", "CONFIG", "--no-probe", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["sweep_flops"] == pytest.approx(sum(r["flops"] for r in plan["runs"]))
    assert plan["validation_flops"] == pytest.approx(10 * plan["largest_point_flops"])
    assert plan["total_flops"] == pytest.approx(plan["sweep_flops"] + plan["validation_flops"])
    assert plan["estimate"] is None


def test_plan_table_with_throughput_probe(invoke):
    result = invoke("sweep", "plan", "--config", "CONFIG", "--workers", "1", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "estimated wall time on this machine" in result.stdout
    assert "sweep plan (wsd)" in result.stdout


def test_run_status_export_round_trip(invoke, tmp_path):
    directory = str(tmp_path / "sweep")
    result = invoke("sweep", "run", directory, "--config", "CONFIG", "--threads", "1",
                    "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["counts"]["done"] == len(status["runs"]) > 0
    again = json.loads(invoke("sweep", "status", directory, "--json").stdout)
    assert again == status
    rerun = json.loads(invoke("sweep", "run", directory, "--config", "CONFIG", "--threads", "1",
                    "--json").stdout)
    assert [r["wall_seconds"] for r in rerun["runs"]] == [r["wall_seconds"]
                                                          for r in status["runs"]]
    out = tmp_path / "runs.parquet"
    exported = invoke("sweep", "export", directory, "--out", str(out), "--json")
    assert exported.exit_code == 0, exported.output
    frame = pd.read_parquet(out)
    assert json.loads(exported.stdout)["rows"] == len(frame) > 0
    assert {"n_params", "tokens", "flops", "loss", "final"} <= set(frame.columns)


def test_bad_input_raises_scalinglab_errors(invoke, tmp_path):
    missing = invoke("sweep", "status", str(tmp_path / "nowhere"))
    assert isinstance(missing.exception, ScalingLabError)
    assert "no run store" in str(missing.exception)
    levels = invoke("sweep", "plan", "--levels", "1e9,lots", "--no-probe")
    assert isinstance(levels.exception, ScalingLabError)
    assert "--levels" in str(levels.exception)


def test_bad_input_is_one_line_and_exit_status_two(tmp_path):
    """Through ``run_app`` (what the scalinglab entry point uses), in a fresh process."""
    import subprocess
    import sys

    script = ("import typer\nfrom scalinglab.cli import sweep_cmd\n"
              "from scalinglab.cli.common import run_app\n"
              "app = typer.Typer()\nsweep_cmd.register(app)\nrun_app(app)\n")
    result = subprocess.run([sys.executable, "-c", script, "sweep", "status",
                             str(tmp_path / "nowhere")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no run store") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_plan_on_the_synthetic_language_uses_its_default_design(invoke):
    result = invoke("sweep", "plan", "--corpus", "synthetic:train_tokens=100000", "--no-probe",
                    "--json")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)["spec"]
    assert (spec["seq_len"], spec["tokenizer"], spec["batch_tokens"]) == (16, "none", 1024)


def test_plan_keeps_the_config_files_corpus_unless_told(invoke, tmp_path):
    config = tmp_path / "synthetic.toml"
    config.write_text(TINY.replace("[sweep]",
                                   '[sweep]\ncorpus = "synthetic:train_tokens=100000"'))
    result = invoke("sweep", "plan", "--config", str(config), "--no-probe", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spec"]["corpus"] == "synthetic:train_tokens=100000"
    result = invoke("sweep", "plan", "--config", str(config), "--corpus", "kjv", "--no-probe",
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spec"]["corpus"] == "kjv"


def test_plan_keeps_the_config_files_seed_unless_told(invoke, tmp_path):
    # `--seed` had a default of 0 that silently replaced the file's seed
    config = tmp_path / "seeded.toml"
    config.write_text(TINY.replace("[sweep]", "[sweep]\nseed = 3"))
    result = invoke("sweep", "plan", "--config", str(config), "--no-probe", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spec"]["seed"] == 3
    result = invoke("sweep", "plan", "--config", str(config), "--seed", "5", "--no-probe",
                    "--json")
    assert json.loads(result.stdout)["spec"]["seed"] == 5
    result = invoke("sweep", "plan", "--no-probe", "--json")
    assert json.loads(result.stdout)["spec"]["seed"] == 0


def test_task_suite_with_an_external_trainer_is_one_line_and_exit_two(tmp_path):
    """``sweep run --tasks`` scores the suite with the built-in trainer only (console script)."""
    import sys

    from tests.clihelp import assert_one_line_error, run_script

    result = run_script("sweep", "run", str(tmp_path / "sweep"), "--trainer",
                        f"{sys.executable} -c pass", "--tasks")
    assert_one_line_error(result, "built-in trainer")
    assert not (tmp_path / "sweep").exists()
