"""CI-sized end-to-end run of the demo pipeline (tiny models, a few seconds of training each)."""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scalinglab.cli import sweep_cmd
from scalinglab.corpora import load_corpus
from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import Chinchilla
from scalinglab.study.config import DemoConfig, load_config_toml
from scalinglab.study.fits import (
    level_cuts,
    resolve_loss_column,
    with_loss_column,
    within_sweep_backtest,
)
from scalinglab.study.render import (
    DemoConsole,
    backtest_line,
    print_prediction,
    task_verdict_line,
)
from scalinglab.study.sizing import validation_size_source
from scalinglab.study.summary import DemoSummary
from scalinglab.study.tasks import measure_tasks, predict_tasks
from scalinglab.sweep.plan import SweepPlan, SweepSpec, default_spec, plan_sweep
from scalinglab.sweep.runner import SweepSettings
from scalinglab.sweep.store import SQLiteRunStore

TOML = """
workers = 1
threads = 1
bootstrap = 100
fit_min_steps = 100

[sweep]
corpus = "{corpus}"
levels = {levels}
seq_len = 32
batch_tokens = 64
min_steps = 40
sizes_per_level = 4
tokens_per_param = 20.0
eval_tokens = 2048
extrapolation = 4.0
checkpoint_every = 100
"""
SUMMARY_FIELDS = ("prediction", "measured_loss", "relative_error", "inside_interval",
                  "extrapolation_factor", "sweep_flops", "validation_flops", "wall_seconds",
                  "corpus")


def app() -> typer.Typer:
    application = typer.Typer()
    sweep_cmd.register(application)
    return application


KJV_LEVELS = "[1e9, 3e9, 1e10]"
#: vocabulary 64: fewer FLOPs per token, so lower levels give the same step counts
SYNTHETIC_LEVELS = "[4e8, 1.2e9, 4e9]"


def run_config(tmp_path, corpus: str = "kjv", levels: str = KJV_LEVELS):
    config = tmp_path / "demo.toml"
    config.write_text(TOML.format(corpus=corpus, levels=levels))
    out = tmp_path / "results"
    result = CliRunner().invoke(app(), ["run", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result


@pytest.fixture(scope="module")
def kjv_demo(tmp_path_factory):
    return run_config(tmp_path_factory.mktemp("demo"))


def test_summary_json_has_the_promised_fields(kjv_demo):
    out, result = kjv_demo
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(result.stdout) == summary  # --json prints the same summary
    for name in SUMMARY_FIELDS:
        assert name in summary, name
    prediction, measured = summary["prediction"], summary["measured_loss"]
    assert {"loss", "low", "high", "level", "kind"} <= set(prediction)
    assert prediction["level"] == 0.9 and prediction["kind"] in ("run", "law")
    if prediction["kind"] == "run":  # what the interval is made of, for the verdict
        assert set(prediction["components"]["share"]) == {"parameters", "run_scatter",
                                                          "extrapolation"}
    assert prediction["low"] <= prediction["loss"] <= prediction["high"]
    assert summary["relative_error"] == pytest.approx((prediction["loss"] - measured) / measured)
    assert summary["inside_interval"] == (prediction["low"] <= measured <= prediction["high"])
    assert summary["extrapolation_factor"] == pytest.approx(4.0, rel=0.02)
    assert summary["corpus"] == "kjv" and 1.0 < measured < 6.0
    assert summary["validation_flops"] > 3.9 * summary["largest_point_flops"]
    for name in ("fit_approach3.json", "summary.md", "runs.csv", "prediction.json"):
        assert (out / name).is_file(), name


def test_store_holds_every_run_and_the_prediction_came_first(kjv_demo):
    out, _ = kjv_demo
    summary = json.loads((out / "summary.json").read_text())
    with SQLiteRunStore(out) as store:
        runs = store.runs()
        assert all(r.status == "done" for r in runs)
        assert summary["sweep_flops"] == pytest.approx(
            sum(r.spent_flops for r in runs if r.role == "sweep"))
        (validation,) = store.runs(role="validation")
        finals = [r for r in store.run_records(validation.key) if r.final]
        assert finals[-1].loss == summary["measured_loss"]
        prediction = store.get_meta("prediction")
        assert prediction["made_at"] < validation.started_at  # frozen before training began
        assert not prediction["validation_already_trained"]
        assert prediction["key"] == validation.key
    # how the run was sized is a note, not a doubt about the run
    assert any(n.startswith("sized by") for n in summary["validation"]["notes"])
    assert not any(w.startswith("sized by") for w in summary["validation"]["warnings"])


def test_prediction_is_printed_before_the_validation_run_trains(kjv_demo):
    _, result = kjv_demo
    log = result.stderr
    predicted = log.index("PREDICTED loss")
    assert predicted < log.index("training the validation")
    done_line = re.search(r"done N\S+-validation", log)
    assert done_line is not None and predicted < done_line.start()
    assert log.index("fits") < predicted
    assert "verdict" in log[predicted:]


def test_rerunning_the_demo_trains_nothing(kjv_demo, tmp_path):
    out, first = kjv_demo
    config = tmp_path / "demo.toml"
    config.write_text(TOML.format(corpus="kjv", levels=KJV_LEVELS))
    result = CliRunner().invoke(app(), ["run", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert "0 of" in result.stderr and "done N" not in result.stderr
    again, before = json.loads(result.stdout), json.loads(first.stdout)
    assert again["measured_loss"] == before["measured_loss"]
    assert again["prediction"] == before["prediction"]


def test_synthetic_corpus_reports_fitted_e_against_the_exact_best_loss(tmp_path):
    out, result = run_config(tmp_path, "synthetic:train_tokens=400000,val_tokens=8192",
                             SYNTHETIC_LEVELS)
    summary = json.loads(result.stdout)
    assert summary["corpus"].startswith("synthetic")
    assert math.isfinite(summary["exact_best_loss"]) and summary["exact_best_loss"] > 0
    assert summary["fitted_E_relative_error"] == pytest.approx(
        (summary["fitted_E"] - summary["exact_best_loss"]) / summary["exact_best_loss"])
    assert "exact best possible loss" in result.stderr
    # the fits and the verdict use the exact expected loss of the validation run
    assert summary["loss_column"] == "exact_loss"
    runs = pd.read_csv(out / "runs.csv")
    validation = runs[runs["run_id"].str.endswith("-validation") & runs["final"]]
    assert summary["measured_loss"] == pytest.approx(validation["exact_loss"].iloc[-1])
    assert summary["measured_sampled_loss"] == pytest.approx(validation["loss"].iloc[-1])
    low, high = summary["fitted_E_interval"]
    assert low <= summary["fitted_E"] <= high
    check = summary["within_sweep_backtest"]
    assert "within-sweep backtest" in result.stderr
    assert re.search(r"done N\S+: \d point\(s\), loss [\d., ]+ \(exact [\d., ]+\)", result.stderr)
    if "error" not in check:
        assert check["min_rel_error"] <= check["median_rel_error"] <= check["max_rel_error"]
        assert check["max_extrapolation"] > 1


def _plan_with_levels(levels):
    runs = [SimpleNamespace(points=[{"level": c, "flops": c}]) for c in levels]
    return SweepPlan(SweepSpec(levels=tuple(levels)), runs)


def _chinchilla_points(levels, bend: float = 0.0) -> pd.DataFrame:
    """Five sizes per level on L = 1.7 + 40/N^0.5 + 900/D^0.6 (+ bend * log10(C / 1e9))."""
    rows = []
    for c in levels:
        for n in np.geomspace(2e3, 2e5, 5) * (c / 1e11) ** 0.5:
            d = c / (6 * n)
            loss = 1.7 + 40 / n**0.5 + 900 / d**0.6 + bend * np.log10(c / 1e9)
            rows.append({"run_id": f"N{n:.0f}-C{c:.0e}", "n_params": n, "tokens": d,
                         "flops": c, "loss": loss, "final": True})
    return pd.DataFrame(rows)


def test_within_sweep_backtest_is_exact_on_a_true_law_and_sees_a_wrong_form():
    levels = (2e11, 6e11, 2e12)
    exact = within_sweep_backtest(_chinchilla_points(levels), _plan_with_levels(levels))
    assert exact["fitted_points"] == 10 and exact["held_out_points"] == 5
    assert max(abs(exact["min_rel_error"]), abs(exact["max_rel_error"])) < 1e-3
    assert exact["max_extrapolation"] == pytest.approx(2e12 / 6e11)
    # a loss that keeps rising with compute is not a Chinchilla law: the check under-predicts
    bent = within_sweep_backtest(_chinchilla_points(levels, bend=0.1),
                                 _plan_with_levels(levels))
    assert bent["median_rel_error"] < -3e-3 and bent["min_rel_error"] < -1e-2


def test_level_cuts_leave_two_levels_below_each_cut():
    cuts = level_cuts(_plan_with_levels((1e11, 2e11, 4e11, 1e12, 2e12)))
    assert cuts == pytest.approx([np.sqrt(8e22), np.sqrt(4e23), np.sqrt(2e24)])
    assert level_cuts(_plan_with_levels((1e9, 3e9, 1e10))) == pytest.approx([np.sqrt(3e19)])
    assert level_cuts(_plan_with_levels((1e9, 1e10))) is None


def test_within_sweep_backtest_reports_too_few_points():
    levels = (2e11, 2e12)
    check = within_sweep_backtest(_chinchilla_points(levels), _plan_with_levels(levels))
    assert "error" in check and "5 fitted run" in check["error"]
    assert "not possible" in backtest_line(check, 0.9)


def test_loss_column_choice(tmp_path):
    kjv = TokenizedCorpus("kjv", "byte", 256, np.zeros(10, np.uint16), np.zeros(10, np.uint16))
    synthetic = load_corpus("synthetic:vocab=16", "none", cache_dir=tmp_path,
                            train_tokens=1000, val_tokens=100)
    assert resolve_loss_column("auto", kjv) == "loss"
    assert resolve_loss_column("auto", synthetic) == "exact_loss"
    assert resolve_loss_column("loss", synthetic) == "loss"
    with pytest.raises(ScalingLabError, match="known exactly"):
        resolve_loss_column("exact_loss", kjv)
    with pytest.raises(ScalingLabError, match="loss_column"):
        DemoConfig(loss_column="bits")


def test_with_loss_column_moves_the_chosen_loss_and_refuses_gaps():
    records = pd.DataFrame({"loss": [2.0, 1.9], "exact_loss": [1.95, 1.85]})
    moved = with_loss_column(records, "exact_loss")
    assert moved["loss"].tolist() == [1.95, 1.85]
    assert moved["sampled_loss"].tolist() == [2.0, 1.9]
    assert with_loss_column(records, "loss") is records
    with pytest.raises(ScalingLabError, match="1 record"):
        with_loss_column(records.assign(exact_loss=[1.95, float("nan")]), "exact_loss")


def test_bad_config_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nlevels = [1e9]\ncolour = 'red'\n")
    with pytest.raises(ScalingLabError, match="colour"):
        load_config_toml(bad)
    with pytest.raises(ScalingLabError, match="does not exist"):
        load_config_toml(tmp_path / "missing.toml")
    with pytest.raises(ScalingLabError, match="unknown setting"):
        DemoConfig.from_dict({"wrokers": 2})


def test_demo_writes_its_report(kjv_demo):
    out, _ = kjv_demo
    summary = json.loads((out / "summary.json").read_text())
    assert summary["report"] == str(out / "report.html")
    html = (out / "report.html").read_text()
    for key in ("loss_vs_compute", "loss_contours", "prediction_vs_measurement", "residuals"):
        assert f'data-figure="{key}"' in html, key
    assert "Prediction before training:" in html and "<script" not in html


def test_validation_run_is_sized_by_the_first_credible_exponent():
    corpus = load_corpus("kjv")
    spec = SweepSpec()
    approach3 = SimpleNamespace(law=Chinchilla(E=1.0, A=10.0, alpha=0.35, B=100.0, beta=0.37),
                                frontier=lambda C: {"N_opt": {"value": 1.23e5}})
    credible = SimpleNamespace(a=0.5, predict_n_opt=lambda C: 4.56e5)
    n, source = validation_size_source(spec, corpus, approach3, credible, 2e13)
    assert n == 4.56e5 and source.startswith("Approach 2")
    steep = SimpleNamespace(a=1.06, predict_n_opt=lambda C: 1e6)
    n, source = validation_size_source(spec, corpus, approach3, steep, 2e13)
    assert n == 1.23e5 and source.startswith("Approach 3")
    approach3.law = Chinchilla(E=1.0, A=10.0, alpha=0.39, B=100.0, beta=1.59)  # a = 0.80...
    n, source = validation_size_source(spec, corpus, approach3, None, 2e13)
    assert "prior 20 tokens/parameter" in source and "Approach 3's a = 0.80" in source
    assert 1e5 < n < 1e6


def test_a_config_file_gets_its_corpus_default_design(tmp_path):
    # a file naming the synthetic language silently got the byte-level KJV design (context 128)
    path = tmp_path / "synthetic.toml"
    path.write_text('[sweep]\ncorpus = "synthetic"\nseed = 2\nlevels = [1e11, 2e11]\n')
    spec = load_config_toml(path).spec
    assert (spec.seq_len, spec.tokenizer, spec.batch_tokens) == (16, "none", 1024)
    assert spec.seed == 2 and spec.levels == (1e11, 2e11)
    path.write_text('[sweep]\nseq_len = 64\n')
    spec = load_config_toml(path).spec
    assert (spec.corpus, spec.seq_len, spec.tokenizer) == ("kjv", 64, "byte")


def test_records_carry_task_scores_and_the_summary_the_task_prediction(kjv_demo):
    """Issue 24, item 4: every point carries acc_<task>; the validation run's accuracy was
    predicted (or refused, in one line) before it trained and is reported beside the loss."""
    out, result = kjv_demo
    runs = pd.read_csv(out / "runs.csv")
    columns = {"acc_continuation", "acc_cloze", "task_loss_continuation", "task_loss_cloze"}
    assert columns <= set(runs.columns)
    finals = runs[runs["final"].astype(bool)]
    accuracy = finals[["acc_continuation", "acc_cloze"]].to_numpy(dtype=float)
    assert np.all((accuracy >= 0) & (accuracy <= 1))
    validation = finals[finals["run_id"].str.endswith("-validation")].iloc[-1]
    summary = json.loads((out / "summary.json").read_text())
    frozen = {t["task"]: t for t in json.loads((out / "prediction.json").read_text())["tasks"]}
    log = result.stderr
    for task in summary["tasks"]:
        name = task["task"]
        assert name in ("acc_continuation", "acc_cloze") and name in frozen
        assert task["measured"] == pytest.approx(validation[name])
        short = name.removeprefix("acc_")
        if task["refused"]:     # one plain line before training, no invented number
            assert task["predicted"] is None and task["inside_interval"] is None
            assert "\n" not in task["refused"] and frozen[name]["refused"] == task["refused"]
            said = log.index(f"no accuracy prediction for {short}:")
        else:
            assert task["chance"] == 0.25 and task["level"] == 0.9
            assert task["low"] <= task["predicted"] <= task["high"]
            assert task["predicted"] == frozen[name]["accuracy"]
            assert task["inside_interval"] == (task["low"] <= task["measured"] <= task["high"])
            said = log.index(f"PREDICTED accuracy on {short} ")
            assert re.search(rf"{short} accuracy: measured [\d.]+ vs predicted", log)
            for warning in frozen[name]["warnings"]:    # the answer's guards, said with it
                assert f"warning: {warning}" in " ".join(log.split())
        assert said < log.index("training the validation")
    assert len(summary["tasks"]) == 2


def test_a_task_prediction_past_the_links_reach_carries_and_prints_its_warning(capsys):
    """The frozen prediction keeps its answer's warnings, and the demo prints them under it."""
    rng = np.random.default_rng(0)
    law = Chinchilla(E=1.5, A=40.0, alpha=0.34, B=40.0, beta=0.28)
    rows = []
    for n in (2e5, 4e5, 8e5, 1.6e6, 3.2e6, 6.4e6):
        for k, d in enumerate((5e6, 1e7, 2e7)):
            loss = float(law.predict(N=n, D=d)) * np.exp(rng.normal(0, 0.003))
            rows.append({"run_id": f"n{n:g}-{k}", "n_params": n, "tokens": d, "loss": loss,
                         "final": True, "acc_cloze": 0.25 + 0.6 / (1 + np.exp(3 * (loss - 2.4)))
                         + rng.normal(0, 0.005)})
    points = pd.DataFrame(rows)
    far = SimpleNamespace(shape=SimpleNamespace(n_params=1e8, n_params_total=1e8),
                          config=SimpleNamespace(tokens=3.2e8))
    (item,) = predict_tasks(points, points, far, {"law": "chinchilla"}, 0.9, 0)
    assert any("beyond the fitted runs' best" in w for w in item["warnings"]), item
    run = SimpleNamespace(name="v", shape=far.shape, config=far.config, planned_flops=1.9e17,
                          notes=[], warnings=[])
    print_prediction(DemoConsole(quiet_stdout=False), run,
                     {"loss": 2.0, "low": 1.9, "high": 2.1, "level": 0.9, "kind": "run",
                      "tasks": [item]})
    printed = " ".join(capsys.readouterr().out.split())
    for warning in item["warnings"]:
        assert f"warning: {warning}" in printed


def test_task_predictions_say_why_there_is_no_number():
    plain = pd.DataFrame({"run_id": ["a"], "loss": [2.0], "final": [True]})
    (none,) = predict_tasks(plain, plain, None, {}, 0.9, 0)
    assert none["task"] is None and "carry no task scores" in none["refused"]
    (old,) = measure_tasks(None, {"acc_cloze": 0.5})
    assert old.predicted is None and "no task prediction was frozen" in old.refused
    frozen = [{"task": "acc_cloze", "accuracy": 0.5, "low": 0.4, "high": 0.6, "level": 0.9},
              {"task": "acc_continuation", "refused": "near chance"}]
    cloze, continuation = measure_tasks(frozen, {"acc_cloze": 0.65, "acc_continuation": 0.3})
    assert cloze.inside_interval is False and cloze.measured == 0.65
    assert continuation.inside_interval is None and continuation.measured == 0.3
    assert "no accuracy prediction (near chance)" in task_verdict_line(continuation)
    assert "OUTSIDE" in task_verdict_line(cloze)
    summary = DemoSummary.from_dict({"tasks": [{"task": "acc_cloze", "predicted": 0.5}]})
    assert summary.tasks[0].predicted == 0.5 and summary.tasks[0].task == "acc_cloze"


def test_task_suite_needs_the_built_in_trainer():
    with pytest.raises(ScalingLabError, match="built-in trainer"):
        SweepSettings(tasks=True, trainer=object())
    assert DemoConfig.from_dict({"tasks": False}).tasks is False


def test_the_demo_plans_no_point_its_fit_would_drop():
    config = DemoConfig(spec=SweepSpec(min_steps=300), fit_min_steps=1500)
    assert config.planning_spec().min_steps == 1500
    assert config.spec.min_steps == 300  # the settings as given are kept (and stored)
    assert DemoConfig(spec=SweepSpec(min_steps=2000)).planning_spec().min_steps == 2000
    plan = plan_sweep(config.planning_spec(), load_corpus("kjv"))
    assert min(p["steps"] for run in plan.runs for p in run.points) >= 1500


def test_default_kjv_design_gives_two_cuts_with_enough_points_below():
    # the reason for the 6e11 level: a level cut needs more than n_free + 1 = 6 points below it
    # (fit.parametric's refit), or the run interval cannot be calibrated
    config = DemoConfig()
    plan = plan_sweep(config.planning_spec(), load_corpus("kjv"))
    compute = np.array([p["flops"] for run in plan.runs for p in run.points])
    usable_cuts = [cut for cut in level_cuts(plan) if (compute < cut).sum() > 6
                   and (compute > cut).sum() >= 3]
    assert len(usable_cuts) >= 2, usable_cuts


def test_validation_run_repeats_the_data_at_most_four_times():
    """The run is sized at N_opt unless it would see the training split more than
    MAX_VALIDATION_EPOCHS times (Muennighoff et al. 2023: up to ~4 epochs nearly as good as
    fresh); then it is raised until it fits, and the note says so."""
    from scalinglab.study.sizing import MAX_VALIDATION_EPOCHS, size_validation_run

    corpus = load_corpus("kjv")
    spec = default_spec("kjv")
    plan = plan_sweep(spec, corpus)
    available = corpus.tokens_available(spec.seq_len)

    def sized(n_opt: float):
        front = SimpleNamespace(law=Chinchilla(E=1.0, A=10.0, alpha=0.4, B=100.0, beta=0.4),
                                frontier=lambda C: {"N_opt": {"value": n_opt}})
        return size_validation_run(spec, corpus, plan, front)

    near = sized(4.5e5)       # the KJV demo's N_opt on seed 0: 1.4 epochs, kept
    assert near.shape.n_params == pytest.approx(4.5e5, rel=0.2)   # the ladder's nearest shape
    assert 1 < near.config.tokens / available <= MAX_VALIDATION_EPOCHS
    assert "raised" not in near.notes[-1]
    small = sized(2e4)         # far more than 4 epochs at this size: raised until it fits
    assert small.shape.n_params > 4e4 and "within 4 passes over the data" in small.notes[-1]
    assert small.config.tokens / available <= MAX_VALIDATION_EPOCHS
