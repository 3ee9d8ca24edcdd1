"""Report figures of a task chain (issue 24): the link and accuracy against compute."""

from __future__ import annotations

import pytest

from scalinglab.fit.chain import fit_task
from scalinglab.report import accuracy_vs_compute, accuracy_vs_loss
from scalinglab.report.html import write_report
from scalinglab.report.sources import load_source
from tests.test_task_chain import ladder


@pytest.fixture(scope="module")
def fitted():
    frame = ladder()
    return frame, fit_task(frame, "acc_demo", chance=0.25, via="loss", bootstrap=8)


def test_link_figure_draws_runs_link_band_and_chance(fitted):
    frame, fit = fitted
    fig = accuracy_vs_loss(fit, frame)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("fitted link") for label in labels)
    assert any("bootstrap links" in label for label in labels)
    assert any(label.startswith("chance 0.25") for label in labels)
    assert any(label.startswith(f"runs ({len(frame)} rows)") for label in labels)


def test_compute_figure_shows_the_prediction_with_its_interval(fitted):
    frame, fit = fitted
    out = fit.predict_interval(N=2.56e8, D=5.12e9)
    fig = accuracy_vs_compute(fit, frame, {"N": 2.56e8, "D": 5.12e9})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"prediction {out['accuracy']:.3f}" in label for label in labels)


def test_report_of_a_task_fit_file(fitted, tmp_path):
    frame, fit = fitted
    frame.to_csv(tmp_path / "runs.csv", index=False)
    fit.save(tmp_path / "task.json")
    inputs = load_source(tmp_path / "task.json", runs=tmp_path / "runs.csv")
    written = write_report(tmp_path / "report.html", inputs)
    assert {"accuracy_vs_loss", "accuracy_vs_compute"} <= set(written.figures), written.omitted
    assert "Accuracy against loss" in (tmp_path / "report.html").read_text()


def test_report_of_a_task_loss_chain_draws_that_loss_beside_its_law(fitted, tmp_path):
    """Step 1 of a chain through the task loss is fitted to ``task_loss_<task>``: the loss
    figures must show that column beside the law, not the validation loss."""
    frame, _ = fitted
    frame = frame.assign(task_loss_demo=0.9 * frame["loss"] - 0.3)
    fit = fit_task(frame, "acc_demo", chance=0.25, via="task_loss", bootstrap=0)
    assert fit.intermediate == "task_loss_demo"
    frame.to_csv(tmp_path / "runs.csv", index=False)
    fit.save(tmp_path / "task.json")
    inputs = load_source(tmp_path / "task.json", runs=tmp_path / "runs.csv")
    assert inputs.runs["loss"].tolist() == pytest.approx(frame["task_loss_demo"].tolist())
    assert any("task_loss_demo" in note for note in inputs.notes)
    plain = load_source(tmp_path / "task.json")         # no rows: nothing to replace
    assert plain.runs is None


def test_report_shows_the_joint_bootstrap_as_step_1s_uncertainty(fitted, tmp_path):
    """Step 1 of a chain has no bootstrap of its own; the report's parameter intervals are the
    chain's joint resamples, and a note says so."""
    _, fit = fitted
    assert fit.loss_fit.bootstrap_params is None and len(fit.step1_draws) == 8
    fit.save(tmp_path / "task.json")
    inputs = load_source(tmp_path / "task.json")
    boot = inputs.fit.bootstrap_params
    assert len(boot) == 8 and list(boot.columns) == list(fit.loss_fit.law.params)
    assert boot["E"].tolist() == [law.params["E"] for law in fit.step1_draws]
    assert any("joint bootstrap (8 resamples" in note for note in inputs.notes)
    low, high = inputs.fit.intervals(0.9)["E"]
    assert boot["E"].min() <= low < high <= boot["E"].max()
    # the task fit itself is untouched: the report's accuracy prediction is predict's
    assert inputs.task_fit.loss_fit.bootstrap_params is None
    assert (inputs.task_fit.predict_interval(N=2.56e8, D=5.12e9)
            == fit.predict_interval(N=2.56e8, D=5.12e9))


def test_report_shows_the_routes_backtest_table_and_the_route_used(fitted, tmp_path):
    frame, _ = fitted
    fit = fit_task(frame, "acc_demo", chance=0.25, via="auto", bootstrap=0)
    fit.save(tmp_path / "task.json")
    write_report(tmp_path / "report.html", load_source(tmp_path / "task.json"))
    html = (tmp_path / "report.html").read_text()
    assert "Task accuracy: the chain for acc_demo" in html
    scores = fit.selection["mae_points"]
    for label, mae in scores.items():       # every route scored, with its error, once
        assert html.count(f'data-route="{label}"') == 1
        assert f"{mae:.2f}" in html
    chosen = fit.selection["chosen"]
    row = html.split(f'data-route="{chosen}"')[1].split("</tr>")[0]
    assert f"<b>{chosen}</b>" in row and "used" in row
    assert "power law in C (least squares)" in html


def test_report_of_a_direct_fit_on_a_table_without_a_loss_column(tmp_path):
    """Pythia's table has task scores and compute but no validation loss: the chain goes
    through compute, and the report must draw its task figures from that table (the console
    script, as a user runs it)."""
    from tests.clihelp import run_script

    frame = ladder().drop(columns=["loss"])
    frame.to_csv(tmp_path / "runs.csv", index=False)
    fit_task(frame, "acc_demo", chance=0.25, bootstrap=4).save(tmp_path / "task.json")
    res = run_script("report", str(tmp_path / "task.json"), "--runs", str(tmp_path / "runs.csv"),
                     "--out", str(tmp_path / "r.html"), "--json")
    assert res.code == 0, res.stderr
    html = (tmp_path / "r.html").read_text()
    assert "Accuracy against log10 compute" in html and "no loss column" in html
    assert "no step 1" in html and "step 1's" not in html and "no fitted law" not in html
    assert '"accuracy_vs_loss"' in res.stdout and '"accuracy_vs_compute"' in res.stdout
