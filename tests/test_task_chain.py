"""The task chain (issue 24): compute -> loss -> accuracy, its routes, intervals and refusals.

A synthetic ladder with a known Chinchilla loss and a known sigmoid link (plus run scatter of
accuracy) checks that the chain recovers the link and that a larger held-out run falls in its
interval; bad input and near-chance tasks get one-line errors (API and console script).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglab
from scalinglab.errors import ScalingLabError
from scalinglab.fit.chain import TaskFit, TaskRefusal, fit_task
from scalinglab.laws.links import TaskLink
from tests.clihelp import assert_one_line_error, run_inprocess, run_script

E, A, ALPHA, B, BETA = 1.8, 400.0, 0.34, 410.0, 0.28
LINK = TaskLink("sigmoid1", "loss", 0.25, 1.0, -2.0, 4.0)


def true_loss(n, d):
    return E + A / n ** ALPHA + B / d ** BETA


def ladder(seed: int = 0, sizes=(2e6, 4e6, 8e6, 1.6e7, 3.2e7, 6.4e7), scatter=0.01):
    """Checkpoints of a ladder of runs with loss and accuracy from the true chain."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        offset = rng.normal(0, 0.005)                       # run-level loss scatter (log)
        for d in np.geomspace(20 * n / 8, 20 * n, 6):
            loss = true_loss(n, d) * np.exp(offset + rng.normal(0, 0.002))
            acc = float(LINK.predict(loss)) + rng.normal(0, scatter)
            rows.append({"run_id": f"n{n:.0e}", "n_params": n, "tokens": d, "loss": loss,
                         "acc_demo": acc, "final": int(d == 20 * n)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def chain_fit() -> TaskFit:
    return fit_task(ladder(), "acc_demo", chance=0.25, via="loss", bootstrap=16, seed=0)


def test_chain_recovers_the_link_and_covers_a_larger_run(chain_fit):
    assert chain_fit.via == "loss"
    assert chain_fit.link.slope == pytest.approx(-2.0, rel=0.35)
    n, d = 2.56e8, 20 * 2.56e8                     # 4x beyond the largest fitted size
    truth = float(LINK.predict(true_loss(n, d)))
    out = chain_fit.predict_interval(N=n, D=d)
    assert out["low"] <= truth <= out["high"]
    # the true ceiling is 1, the top of the range the default averages the ceiling over
    # ([best accuracy seen, 1]), so the default's point lies below the truth; the
    # least-squares ceiling finds 1 here and recovers the point
    assert -0.06 < out["accuracy"] - truth < 0
    mle = fit_task(ladder(), "acc_demo", chance=0.25, via="loss", link="sigmoid", bootstrap=0)
    assert mle.link.ceiling == pytest.approx(1.0, abs=0.02)
    assert abs(mle.predict(N=n, D=d) - truth) < 0.03
    assert out["loss"]["low"] < true_loss(n, d) < out["loss"]["high"]
    assert out["chance"] - 0.1 < out["low"] < out["accuracy"] < out["high"] <= 1.0


def test_default_ceiling_beats_least_squares_when_the_runs_stay_below_the_bend(monkeypatch):
    """A true ceiling of 0.8, runs that reach 0.55-0.63: least squares puts the ceiling at
    either end of [best seen, 1] from one noise draw to the next; the likelihood's mean does
    not, and predicts a run 4x larger far better (development-data evidence: bench/README.md)."""
    import tests.test_task_chain as here

    monkeypatch.setattr(here, "LINK", TaskLink("sigmoid", "loss", 0.25, 0.8, -3.0, 3.95))
    n, d = 2.56e8, 20 * 2.56e8
    truth = float(here.LINK.predict(true_loss(n, d)))
    errors = {"sigmoid": [], "sigmoid_pm": []}
    for seed in range(6):
        table = here.ladder(seed=seed)
        assert table["acc_demo"].max() < 0.65
        for form, errs in errors.items():
            fit = fit_task(table, "acc_demo", chance=0.25, via="loss", link=form, bootstrap=0)
            errs.append(fit.predict(N=n, D=d) - truth)
            if form == "sigmoid_pm":
                assert table["acc_demo"].max() < fit.link.ceiling < 1.0
    mae = {form: float(np.mean(np.abs(e))) for form, e in errors.items()}
    assert mae["sigmoid_pm"] < 0.6 * mae["sigmoid"]
    assert mae["sigmoid_pm"] < 0.04


def test_public_entry_point_and_save_load_roundtrip(chain_fit, tmp_path):
    same = scalinglab.fit(ladder(), task="acc_demo", chance=0.25, via="loss", bootstrap=16)
    assert isinstance(same, TaskFit)
    a = same.predict_interval(N=1e8, D=2e9)
    b = chain_fit.predict_interval(N=1e8, D=2e9)      # same seed: same numbers
    assert (a["accuracy"], a["low"], a["high"]) == (b["accuracy"], b["low"], b["high"])
    path = chain_fit.save(tmp_path / "task.json")
    again = TaskFit.load(path).predict_interval(N=1e8, D=2e9)
    assert again["accuracy"] == pytest.approx(b["accuracy"], rel=1e-12)
    assert again["low"] == pytest.approx(b["low"], rel=1e-9)


def test_least_squares_step1_is_a_candidate_unless_the_user_sets_huber_delta():
    from scalinglab.fit.chainselect import LEAST_SQUARES_DELTA, split_label

    via, options = split_label("loss:C-lsq", {"checkpoints_after": 0.1})
    assert via == "loss" and options == {"checkpoints_after": 0.1, "law": "power",
                                         "variable": "C", "huber_delta": LEAST_SQUARES_DELTA}
    chosen = fit_task(ladder(), "acc_demo", chance=0.25, via="loss", bootstrap=0)
    label = chosen.selection["chosen"]
    delta = chosen.loss_fit.settings.huber_delta     # as fitted: the scaled default <= 1e-2
    assert delta == LEAST_SQUARES_DELTA if label.endswith("C-lsq") else delta <= 1e-2
    fixed = fit_task(ladder(), "acc_demo", chance=0.25, via="loss", bootstrap=0,
                     huber_delta=1e-3)
    assert set(fixed.selection["mae_points"]) == {"loss", "loss:C"}
    assert fixed.loss_fit.settings.huber_delta == pytest.approx(1e-3)


def test_auto_scores_every_route_and_link_alone_from_a_loss():
    fit = fit_task(ladder(), "acc_demo", chance=0.25, via="auto", bootstrap=4)
    scores = fit.selection["mae_points"]
    # L(N, D), L(C) and L(C) by least squares as step 1
    assert set(scores) == {"loss", "loss:C", "loss:C-lsq", "compute"}
    assert fit.selection["chosen"] == min(scores, key=scores.get)
    assert fit.via in ("loss", "compute")
    loss_only = ladder().drop(columns=["n_params", "tokens"])
    link_fit = fit_task(loss_only, "acc_demo", chance=0.25, bootstrap=4)
    out = link_fit.predict_interval(loss=3.6)
    assert out["low"] <= float(LINK.predict(3.6)) <= out["high"]
    with pytest.raises(ScalingLabError, match="give the target's loss"):
        link_fit.predict_interval(N=1e8, D=2e9)


def test_near_chance_task_is_refused():
    frame = ladder()
    frame["acc_flat"] = 0.25 + np.random.default_rng(1).normal(0, 0.01, len(frame))
    with pytest.raises(TaskRefusal, match="near chance"):
        fit_task(frame, "acc_flat", chance=0.25, bootstrap=0)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.assign(acc_demo=f.acc_demo * 100), "percent; divide by 100"),
    (lambda f: f.assign(acc_demo=f.acc_demo + 1.5), r"fractions in \[0, 1\]"),
    (lambda f: f.assign(acc_demo=0.3), "constant"),
    (lambda f: f.drop(columns=["acc_demo"]), "not in the run table"),
])
def test_bad_accuracy_columns(change, message):
    with pytest.raises(ScalingLabError, match=message):
        fit_task(change(ladder()), "acc_demo", chance=0.25, bootstrap=0)


def test_bad_chance_levels():
    with pytest.raises(ScalingLabError, match="above every accuracy"):
        fit_task(ladder(), "acc_demo", chance=0.95, bootstrap=0)
    with pytest.raises(ScalingLabError, match="looks like percent"):
        fit_task(ladder(), "acc_demo", chance=25, bootstrap=0)
    with pytest.raises(ScalingLabError, match="not known"):
        fit_task(ladder(), "acc_demo", bootstrap=0)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    frame = ladder()
    frame.to_csv(root / "runs.csv", index=False)
    frame.assign(acc_demo=frame.acc_demo * 100).to_csv(root / "percent.csv", index=False)
    return root


def test_cli_fit_predict_json(table):
    fit_path = table / "task.json"
    res = run_inprocess("fit", str(table / "runs.csv"), "--task", "acc_demo", "--chance", "0.25",
                        "--via", "loss", "--bootstrap", "8", "--out", str(fit_path))
    assert res.code == 0, res.stderr
    assert "two-step chain through the validation loss" in res.stdout
    import json

    res = run_inprocess("predict", "--fit", str(fit_path), "--params", "1e8", "--tokens", "2e9",
                        "--json")
    assert res.code == 0, res.stderr
    out = json.loads(res.stdout)
    assert {"accuracy", "low", "high", "kind", "loss"} <= set(out)
    assert out["low"] < out["accuracy"] < out["high"] and out["kind"] == "run"
    assert out["loss"]["low"] < out["loss"]["loss"] < out["loss"]["high"]


@pytest.mark.parametrize(("args", "message"), [
    (("--task", "acc_demo", "--chance", "0.25"), "percent"),
    (("--task", "acc_nothing", "--chance", "0.25"), "not in the run table"),
    (("--task", "acc_demo", "--chance", "0.97"), "above every accuracy"),
    (("--task", "acc_demo", "--chance", "0.25", "--via", "sideways"), "via must be one of"),
])
def test_cli_bad_task_input(table, args, message):
    name = "percent.csv" if message == "percent" else "runs.csv"
    run = run_script if message == "percent" else run_inprocess   # one case through the script
    res = run("fit", str(table / name), *args, "--bootstrap", "0")
    assert_one_line_error(res, message)


def test_target_where_bootstrap_links_disagree_is_refused(chain_fit, tmp_path):
    import copy

    wild = copy.deepcopy(chain_fit)
    draws = np.tile(wild.link.raw(), (40, 1))
    draws[:, 2] = np.linspace(2.0, 6.0, 40)          # midpoints anywhere: slope unidentified
    wild.link_draws = draws
    with pytest.raises(TaskRefusal, match="cannot tell"):
        wild.predict_interval(N=2.56e8, D=5.12e9)
    wild.save(tmp_path / "wild.json")
    res = run_inprocess("predict", "--fit", str(tmp_path / "wild.json"), "--params", "2.56e8",
                        "--tokens", "5.12e9")
    assert_one_line_error(res, "unidentified region")


def test_a_step1_resample_that_overflows_at_the_target_is_dropped_not_spread(chain_fit):
    """One resample's loss law giving NaN at the target (a Kaplan law overflowing, seen on the
    Pile's final models) once made the whole interval NaN; it is now dropped with its link."""
    import copy

    class Overflowing:
        variables = chain_fit.step1_draws[0].variables

        def predict(self, **_):
            return float("nan")

    broken = copy.deepcopy(chain_fit)
    broken.step1_draws[0] = Overflowing()
    good = chain_fit.predict_interval(N=2.56e8, D=5.12e9)
    out = broken.predict_interval(N=2.56e8, D=5.12e9)
    assert np.isfinite([out["low"], out["high"]]).all()
    assert out["components"]["resamples"] == good["components"]["resamples"] - 1
    assert out["low"] == pytest.approx(good["low"], abs=0.02)
    assert out["high"] == pytest.approx(good["high"], abs=0.02)


def test_task_answers_far_from_the_data_are_guarded_on_every_route(chain_fit, table):
    """Through the loss law the loss fit's distance guards apply; through compute the distance
    of C = 6ND from the fitted compute (warning past 2 decades, refusal past 4)."""
    from scalinglab.fit.guards import GuardRefused

    with pytest.raises(GuardRefused, match="decades above"):
        chain_fit.predict_interval(N=1e12, D=2e13)          # 4.2 decades beyond in N
    far = chain_fit.predict_interval(N=1e12, D=2e13, allow_far=True)
    assert any(g.action == "warn" and "insisted" in g.message for g in far["guards"])
    assert chain_fit.predict_interval(N=1e8, D=2e9)["guards"] == []

    direct = fit_task(ladder(), "acc_demo", chance=0.25, via="compute", bootstrap=4)
    summary = "\n".join(direct.summary_lines())
    assert "bootstrap over runs (4 resamples of the link)" in summary
    assert "note: bootstrap of the link (no step 1): 4 of 4 resamples" in summary
    top = 10 ** direct.x_range[1]                            # largest fitted C, FLOPs
    with pytest.raises(GuardRefused, match=r"C = .* FLOPs lies 5\.00 decades above"):
        direct.predict_interval(C=top * 1e5)
    warned = direct.predict_interval(C=top * 1e3)           # 3 decades: answered, warned
    assert [(g.name, g.quantity, g.action) for g in warned["guards"]] == [
        ("distance", "C", "warn"), ("link_distance", "C", "warn")]
    below = direct.predict_interval(N=1e5, D=1e5)            # 3 decades *below* counts too
    assert below["guards"] and "below the smallest" in below["guards"][0].message

    path = direct.save(table / "direct.json")
    res = run_script("predict", "--fit", str(path), "--params", "1e14", "--tokens", "3e13")
    assert_one_line_error(res, "--allow-far")
    res = run_inprocess("predict", "--fit", str(path), "--params", "1e14", "--tokens", "3e13",
                        "--allow-far")
    assert res.code == 0 and "answered because you insisted" in " ".join(res.stdout.split())


def test_the_link_past_its_backtests_reach_is_flagged(tmp_path):
    """A target whose loss lies further below the fitted runs' lowest than the route's
    backtests ever carried the link is answered with a warning naming both distances."""
    fit = fit_task(ladder().drop(columns=["n_params", "tokens"]), "acc_demo", chance=0.25,
                   bootstrap=4)
    reach = fit.selection["link_reach"]
    assert reach is not None and reach > 0
    low = fit.x_range[0]                             # lowest fitted loss, nats
    near = fit.predict_interval(loss=low - 0.5 * reach)
    assert not any(g.name == "link_distance" for g in near["guards"])
    far = fit.predict_interval(loss=low - reach - 0.1)
    guard = next(g for g in far["guards"] if g.name == "link_distance")
    assert guard.action == "warn" and guard.limit == pytest.approx(reach)
    assert guard.value == pytest.approx(reach + 0.1) and guard.unit == "nats"
    again = TaskFit.load(fit.save(tmp_path / "reach.json"))
    assert again.selection["link_reach"] == pytest.approx(reach)


def test_a_link_fitted_on_one_run_warns_that_other_models_are_not_measured(tmp_path):
    """One run's checkpoints measure its own noise around the link, not how far another model
    lies from it at equal loss: every answer says so (a warning guard), and the fit notes it."""
    one = ladder().query("run_id == 'n6e+07'").drop(columns=["n_params", "tokens"])
    fit = fit_task(one, "acc_demo", chance=0.25, bootstrap=4)
    assert fit.n_runs == 1 and any("fitted on 1 run(s)" in n for n in fit.notes)
    out = fit.predict_interval(loss=3.0)
    assert [(g.name, g.action) for g in out["guards"]] == [("few_runs", "warn"),
                                                            ("link_distance", "warn")]
    many = fit_task(ladder().drop(columns=["n_params", "tokens"]), "acc_demo", chance=0.25,
                    bootstrap=4)
    assert many.predict_interval(loss=3.0)["guards"] == []
    res = run_script("predict", "--fit", str(fit.save(tmp_path / "one.json")), "--loss", "3.0")
    assert res.code == 0 and "warning: acc_demo: the link was fitted on 1 run(s)" in \
        " ".join(res.stdout.split())


def test_task_fit_given_to_the_wrong_command_or_half_a_target_says_what_to_do(chain_fit,
                                                                            tmp_path):
    path = str(chain_fit.save(tmp_path / "task.json"))
    res = run_inprocess("frontier", "--fit", path, "--compute", "1e18")
    assert_one_line_error(res, "it is a scalinglab.taskfit file: a task fit answers `predict`")
    res = run_inprocess("predict", "--fit", path, "--params", "1e8", "--kind", "law")
    assert_one_line_error(res, "a task fit gives run intervals only")
    via_c = fit_task(ladder(), "acc_demo", chance=0.25, via="loss", law="power", variable="C",
                     bootstrap=0)
    res = run_inprocess("predict", "--fit", str(via_c.save(tmp_path / "c.json")), "--params",
                        "1e8")
    assert_one_line_error(res, "missing C (FLOPs: give C, --compute; or N and D")


def test_the_tables_and_step_1s_warnings_reach_the_task_fit(tmp_path):
    """Curves without run ids and N in millions: the loss fit warns about both; a task fit on
    the same table must say so too (it printed neither)."""
    frame = ladder().drop(columns=["run_id"]).assign(n_params=lambda f: f.n_params / 1e6)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    res = run_script("fit", str(tmp_path / "runs.csv"), "--task", "acc_demo", "--chance", "0.25",
                     "--via", "loss", "--bootstrap", "0", "--out", str(tmp_path / "t.json"))
    text = " ".join(res.stdout.split())
    assert res.code == 0 and "warning: the table has no run id column" in text
    assert "warning: step 1:" in text and "tokens per parameter" in text
    assert text.count("no run id column") == 1
    assert TaskFit.load(tmp_path / "t.json").warnings[0].startswith("the table has no run id")


def test_a_task_fit_prints_the_tables_notes(tmp_path):
    """Step-0 checkpoints (0 tokens, accuracy at chance) and runs named by model_id, as a
    Hugging Face evaluation table comes: the task fit drops the former and says so, as the
    loss fit does (it printed no note of the table's reading)."""
    frame = ladder().rename(columns={"run_id": "model_id"})
    step0 = frame.groupby("model_id").head(1).assign(tokens=0.0, acc_demo=0.25, final=0)
    pd.concat([step0, frame]).to_csv(tmp_path / "runs.csv", index=False)
    res = run_script("fit", str(tmp_path / "runs.csv"), "--task", "acc_demo", "--chance", "0.25",
                     "--via", "loss", "--bootstrap", "0")
    text = " ".join(res.stdout.split())
    assert res.code == 0, res.stderr
    assert "note: runs identified by column 'model_id'" in text
    assert "note: dropped 6 row(s) at 0 training tokens" in text and "of 6 runs" in text


def test_losses_on_other_sets_reach_the_chain_and_a_missing_one_is_named(tmp_path):
    """A table of losses named by evaluation set (loss_c4, as llm-line's): the route through
    the validation loss needs one named; the fit says which exist, keeps them through an
    auto-detected run column (they were dropped, so --loss-column loss_c4 was silently
    ignored), and a name that is not there is a one-line error."""
    frame = ladder().rename(columns={"run_id": "model_id", "loss": "loss_c4"})
    frame.to_csv(tmp_path / "runs.csv", index=False)
    args = ("fit", str(tmp_path / "runs.csv"), "--task", "acc_demo", "--chance", "0.25",
            "--bootstrap", "0")
    plain = " ".join(run_inprocess(*args).stdout.split())
    assert "no 'loss' column, but has loss_c4" in plain and "(--loss-column NAME)" in plain
    chosen = run_inprocess(*args, "--loss-column", "loss_c4")
    assert chosen.code == 0 and "(MAE, accuracy points): loss " in " ".join(chosen.stdout.split())
    assert_one_line_error(run_script(*args, "--loss-column", "loss_c5"),
                          "--loss-column 'loss_c5' is not in the table", "loss_c4")
    # a table of no losses at all goes on through the routes it has (as benchmarks name one
    # loss column for every family); asked for the loss route, it is an error
    frame.drop(columns=["loss_c4"]).to_csv(tmp_path / "noloss.csv", index=False)
    args = ("fit", str(tmp_path / "noloss.csv"), "--task", "acc_demo", "--chance", "0.25",
            "--bootstrap", "0", "--loss-column", "loss_c4")
    assert "direct fit of accuracy against log10 compute" in run_inprocess(*args).stdout
    assert_one_line_error(run_inprocess(*args, "--via", "loss"), "'loss_c4' is not in the table")


def test_a_table_without_scale_or_loss_names_its_losses_in_the_error(tmp_path):
    """No N, D or compute and no 'loss' column, but losses on named sets (OLMo's checkpoints):
    the one-line error names them and the flag that picks one."""
    frame = ladder().drop(columns=["n_params", "tokens"]).rename(columns={"loss": "loss_c4"})
    frame.to_csv(tmp_path / "noscale.csv", index=False)
    assert_one_line_error(run_script("fit", str(tmp_path / "noscale.csv"), "--task", "acc_demo",
                                     "--chance", "0.25"),
                          "nothing to predict the accuracy from; it has loss_c4",
                          "(--loss-column NAME)")
