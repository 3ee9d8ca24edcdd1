"""Figure functions of scalinglab.report: the artists drawn, their data, labels and scales."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import LogNorm
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

import scalinglab
from scalinglab import report
from scalinglab.compute.cost import CostModel
from scalinglab.compute.planner import plan_for_budget
from scalinglab.compute.uncertain_law import UncertainLaw
from scalinglab.errors import ScalingLabError
from scalinglab.fit import backtest as run_backtest
from scalinglab.fit import fit_envelope, fit_isoflop
from scalinglab.laws.forms import KaplanND

REPO = Path(__file__).resolve().parents[1]
EPOCH = REPO.parent / "shared" / "data" / "chinchilla" / "epoch_svg_extracted_data.csv"
BUDGETS = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def epoch_runs() -> pd.DataFrame:
    if not EPOCH.is_file():
        pytest.skip(f"fixture data {EPOCH} is absent (../shared/data/chinchilla)")
    runs = scalinglab.load_runs(EPOCH, columns={"N": "Model Size", "C": "Training FLOP",
                                                "loss": "loss"}, derive_tokens=True)
    return runs[runs.loss < sorted(runs.loss)[-5]].reset_index(drop=True)


@pytest.fixture(scope="module")
def epoch_fit(epoch_runs):
    return scalinglab.fit(epoch_runs, law="chinchilla", bootstrap=50)


@pytest.fixture(scope="module")
def epoch_isoflop(epoch_runs):
    return fit_isoflop(epoch_runs, budgets=BUDGETS, bootstrap=50)


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    """A small IsoFLOP sweep drawn from Hoffmann's law with 0.5% log-normal noise."""
    rng = np.random.default_rng(1)
    law = scalinglab.get_preset("hoffmann2022").law
    rows = []
    for c in (1e17, 3e17, 1e18, 3e18):
        n_opt = float(law.frontier(c)["N_opt"])
        for k, n in enumerate(n_opt * np.geomspace(0.25, 4.0, 7)):
            d = c / (6 * n)
            loss = float(law.predict(N=n, D=d)) * np.exp(rng.normal(0, 0.005))
            rows.append({"run_id": f"c{c:.0e}-{k}", "n_params": n, "tokens": d, "flops": c,
                         "loss": loss, "final": True})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def curves() -> pd.DataFrame:
    """Nine loss curves (30 checkpoints each) from Hoffmann's law with 0.3% noise."""
    rng = np.random.default_rng(0)
    law = scalinglab.get_preset("hoffmann2022").law
    rows = []
    for i, n in enumerate(np.geomspace(2e7, 2e9, 9)):
        d_end = 60 * n
        for d in np.geomspace(d_end / 100, d_end, 30):
            rows.append({"run_id": f"r{i}", "n_params": n, "tokens": d, "flops": 6 * n * d,
                         "loss": float(law.predict(N=n, D=d)) * np.exp(rng.normal(0, 0.003)),
                         "final": bool(d == d_end)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sweep_fit(sweep):
    return scalinglab.fit(sweep, law="chinchilla", bootstrap=50)


def _legend_texts(ax_or_fig) -> list[str]:
    legends = ax_or_fig.legends if isinstance(ax_or_fig, Figure) else [ax_or_fig.get_legend()]
    return [t.get_text() for legend in legends if legend is not None for t in legend.get_texts()]


def _scatters(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _colorbar_labels(fig) -> list[str]:
    return [a.get_ylabel() for a in fig.axes]


# ------------------------------------------------------------------------------------------------
# loss against compute
# ------------------------------------------------------------------------------------------------
def test_loss_vs_compute_points_frontier_and_band(epoch_runs, epoch_fit):
    fig = report.loss_vs_compute(epoch_runs, fit=epoch_fit)
    ax = fig.axes[0]
    points, crosses = sorted(_scatters(ax), key=lambda s: s.get_label().startswith("dropped"))
    # the rows the fit's frontier filter dropped are crosses, counted apart from the others
    n_dropped = len(epoch_fit.diagnostics["dropped"])
    assert n_dropped > 0 and len(crosses.get_offsets()) == n_dropped
    assert len(points.get_offsets()) == len(epoch_runs) - n_dropped == epoch_fit.n_points
    assert f"runs ({epoch_fit.n_points} final losses)" in points.get_label()
    assert f"dropped by the fit ({n_dropped} rows): frontier filter" in crosses.get_label()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOPs" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    assert "parameters N" in _colorbar_labels(fig)
    texts = _legend_texts(fig)  # our own figure: the legend sits below the axes
    assert any("frontier" in t for t in texts) and any("90% interval" in t for t in texts)
    # the frontier is the lower envelope: (almost) no run lies below it
    (frontier,) = [line for line in ax.get_lines() if "frontier" in line.get_label()]
    c, loss = np.asarray(frontier.get_xdata()), np.asarray(frontier.get_ydata())
    at_runs = np.interp(np.log(epoch_runs.flops), np.log(c), loss)
    assert np.mean(epoch_runs.loss.to_numpy() >= at_runs * 0.99) > 0.97
    # points are coloured by N on a log scale: larger models get a different colour
    assert isinstance(points.norm, LogNorm)
    dropped = epoch_runs.run_id.isin([d["run_id"] for d in epoch_fit.diagnostics["dropped"]])
    assert np.allclose(np.sort(points.get_array()),
                       np.sort(epoch_runs.n_params[~dropped].to_numpy()))


def test_loss_vs_compute_curves_and_envelope(curves):
    env = fit_envelope(curves, bootstrap=0)
    fig = report.loss_vs_compute(curves, envelope=env)
    ax = fig.axes[0]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == 9
    assert sum(len(s) for s in lines.get_segments()) == len(curves)
    (envelope_line,) = [ln for ln in ax.get_lines() if "envelope" in ln.get_label()]
    assert np.allclose(envelope_line.get_ydata(), env.envelope["loss"], equal_nan=True)
    assert np.isfinite(envelope_line.get_ydata()).sum() > 100
    assert any("9 loss curves" in t for t in _legend_texts(fig))


def test_loss_vs_compute_places_runs_at_the_laws_own_compute(sweep, sweep_fit):
    """A flops column that counts more than 6ND (embeddings, attention: 3.6x for the demo's
    smallest models) must not move the runs off the frontier L*(C), a function of C = 6ND."""
    counted = sweep.assign(flops=3.6 * sweep["flops"])
    fig = report.loss_vs_compute(counted, fit=sweep_fit)
    ax = fig.axes[0]
    (points,) = _scatters(ax)
    six_nd = 6 * counted["n_params"] * counted["tokens"]
    assert np.allclose(np.sort(points.get_offsets()[:, 0]), np.sort(six_nd), rtol=1e-9)
    assert "6ND" in ax.get_xlabel()
    # without a Chinchilla fit the runs stay at the fits' compute (the flops column)
    bare = report.loss_vs_compute(counted).axes[0]
    assert np.allclose(np.sort(_scatters(bare)[0].get_offsets()[:, 0]),
                       np.sort(counted["flops"]), rtol=1e-9)


def test_loss_vs_compute_draws_on_given_axes_and_refuses_nothing(sweep, sweep_fit):
    fig = report.loss_vs_compute(sweep, fit=sweep_fit)
    ax = fig.axes[0]
    again = report.loss_vs_compute(sweep, ax=ax)
    assert again is fig
    with pytest.raises(ScalingLabError, match="needs runs"):
        report.loss_vs_compute()
    with pytest.raises(ScalingLabError, match="c_range"):
        report.loss_vs_compute(fit=sweep_fit)


# ------------------------------------------------------------------------------------------------
# IsoFLOP profiles
# ------------------------------------------------------------------------------------------------
def test_isoflop_profiles_refit_the_fitted_minima(epoch_runs, epoch_isoflop):
    fig = report.isoflop_profiles(epoch_isoflop, epoch_runs)
    ax = fig.axes[0]
    budgets = epoch_isoflop.budgets
    profiles = [ln for ln in ax.get_lines()]
    assert len(profiles) == len(budgets)
    # each drawn profile's lowest point sits at the minimum the fit found (within the grid step)
    for line, row in zip(profiles, budgets.itertuples(), strict=True):
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        if row.n_min <= row.n_opt <= row.n_max:
            assert abs(np.log10(x[np.argmin(y)]) - np.log10(row.n_opt)) < 0.03
            assert abs(y.min() - row.loss_opt) < 1e-3
    # nine budgets: a colour bar of C, not nine legend entries (the legend stays small)
    assert "compute budget C (FLOPs)" in _colorbar_labels(fig)
    texts = _legend_texts(fig)
    assert len(texts) == 2 and "one budget" in texts[0] and "minimum" in texts[-1]
    assert ax.get_xscale() == "log" and "parameters" in ax.get_xlabel()
    assert "nats/token" in ax.get_ylabel()
    n_points = sum(len(s.get_offsets()) for s in _scatters(ax) if (s.get_gid() or "").startswith("isoflop-runs"))
    assert n_points == epoch_isoflop.n_runs


def test_isoflop_profiles_name_a_few_budgets_in_the_legend(sweep):
    iso = fit_isoflop(sweep, bootstrap=0)
    ax = report.isoflop_profiles(iso, sweep).axes[0]
    texts = _legend_texts(ax)
    assert len(texts) == len(iso.budgets) + 1 and texts[0] == "C = 1e17 FLOPs"


def test_isoflop_profiles_without_runs_draws_only_minima(sweep):
    iso = fit_isoflop(sweep, bootstrap=0)
    ax = report.isoflop_profiles(iso).axes[0]
    assert ax.get_lines() == []
    minima = [s for s in _scatters(ax) if len(s.get_offsets())]
    assert len(minima) == len(iso.budgets)
    with pytest.raises(ScalingLabError, match="IsoFlopResult"):
        report.isoflop_profiles(scalinglab.fit(sweep, bootstrap=0))


# ------------------------------------------------------------------------------------------------
# optimal allocation
# ------------------------------------------------------------------------------------------------
def test_optimal_allocation_three_panels_presets_and_target(epoch_runs, epoch_fit):
    target = 5.76e23
    fig = report.optimal_allocation(epoch_fit, target_compute=target, runs=epoch_runs)
    panels = fig.axes
    assert len(panels) == 3
    for ax in panels:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "FLOPs" in ax.get_xlabel()
        labels = [ln.get_label() for ln in ax.get_lines()]
        assert sum("published" in lab for lab in labels) == 3
        assert "this fit, extrapolated" in labels
    assert "parameters" in panels[0].get_ylabel() and "tokens" in panels[1].get_ylabel()
    assert "tokens/parameter" in panels[2].get_ylabel()
    at = epoch_fit.frontier(target)
    assert f"{at['N_opt']['value']:.2g}".split("e")[0] in panels[0].get_title()
    texts = _legend_texts(fig)
    for name in ("hoffmann2022", "besiroglu2024", "kaplan2020"):
        assert any(t.startswith(name) for t in texts)
    # the drawn point estimate is the fit's frontier
    solid = [ln for ln in panels[0].get_lines() if ln.get_label() == "this fit (within the data)"]
    x, y = solid[0].get_xdata(), solid[0].get_ydata()
    assert np.allclose(y, epoch_fit.frontier(np.asarray(x))["N_opt"]["value"])


def test_optimal_allocation_isoflop_points_and_needs_a_range(epoch_isoflop, epoch_fit):
    fig = report.optimal_allocation(epoch_isoflop, presets=())
    minima = _scatters(fig.axes[0])
    assert len(minima) == 1 and len(minima[0].get_offsets()) == int(
        epoch_isoflop.budgets["used"].sum())
    with pytest.raises(ScalingLabError, match="c_range"):
        report.optimal_allocation(epoch_fit)


def test_law_frontier_numeric_matches_kaplan_closed_form():
    law = KaplanND(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103)
    C = np.array([1e18, 1e21, 1e24])
    numeric = report.law_frontier(law, C)
    r = 0.076 / 0.103  # dL/dN = 0 at N^(r+1) = r N_c^r C / (6 D_c)
    exact = (r * 6.4e13**r * C / (6 * 1.8e13)) ** (1 / (r + 1))
    assert np.allclose(numeric["N_opt"], exact, rtol=5e-3)
    assert np.allclose(numeric["N_opt"] * numeric["D_opt"] * 6, C)


# ------------------------------------------------------------------------------------------------
# contours
# ------------------------------------------------------------------------------------------------
def test_loss_contours_runs_frontier_and_colourbar(epoch_runs, epoch_fit):
    fig = report.loss_contours(epoch_fit, epoch_runs)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "parameters" in ax.get_xlabel() and "tokens" in ax.get_ylabel()
    assert any("nats/token" in label for label in _colorbar_labels(fig))
    (runs,) = _scatters(ax)
    assert len(runs.get_offsets()) == epoch_fit.n_points
    # filled with the loss colour map on the contours' scale, not hollow rings
    assert np.allclose(runs.get_array(), report.fitted_rows(epoch_fit, epoch_runs)["loss"])
    assert runs.norm.vmin == pytest.approx(fig.axes[1].get_ylim()[0])
    (front,) = [ln for ln in ax.get_lines() if "frontier" in ln.get_label()]
    n, d = np.asarray(front.get_xdata()), np.asarray(front.get_ydata())
    assert np.allclose(n, epoch_fit.frontier(6 * n * d)["N_opt"]["value"], rtol=1e-6)
    assert any("iso-FLOP" in t for t in _legend_texts(fig))  # below the axes, off the data
    assert ax.get_legend() is None
    nc = report.loss_contours(epoch_fit, epoch_runs, plane="NC").axes[0]
    assert "FLOPs" in nc.get_xlabel() and "parameters" in nc.get_ylabel()
    with pytest.raises(ScalingLabError, match="plane"):
        report.loss_contours(epoch_fit, plane="DC")


# ------------------------------------------------------------------------------------------------
# prediction against measurement
# ------------------------------------------------------------------------------------------------
def test_prediction_vs_measurement(sweep, sweep_fit):
    n_val, d_val = 3e8, 6e9
    band = sweep_fit.predict_interval(N=n_val, D=d_val)
    prediction = {"loss": band["loss"], "low": band["low"], "high": band["high"],
                  "level": 0.9, "n_params": n_val, "tokens": d_val, "flops": 6 * n_val * d_val}
    measured = band["loss"] * 1.01
    fig = report.prediction_vs_measurement(sweep_fit, sweep, prediction, measured=measured)
    ax = fig.axes[0]
    (bar,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    x, y = bar.lines[0].get_data()
    assert np.allclose(x, 6 * n_val * d_val) and np.allclose(y, band["loss"])
    segment = bar.lines[2][0].get_segments()[0]
    assert np.allclose(sorted(segment[:, 1]), [band["low"], band["high"]])
    # the law's curve passes through the validation run's prediction
    (law,) = [ln for ln in ax.get_lines() if "fitted law" in ln.get_label()]
    at = np.interp(np.log(6 * n_val * d_val), np.log(law.get_xdata()), law.get_ydata())
    assert at == pytest.approx(band["loss"], rel=1e-3)
    texts = _legend_texts(fig)
    assert any(t.startswith("measured") and "error -0.99%" in t for t in texts)
    assert any(f"sweep runs ({len(sweep)})" in t for t in texts)
    assert ax.get_xscale() == "log" and "FLOPs" in ax.get_xlabel()
    with pytest.raises(ScalingLabError, match="lacks"):
        report.prediction_vs_measurement(sweep_fit, sweep, {"loss": 2.0})


# ------------------------------------------------------------------------------------------------
# residuals, backtest, budget
# ------------------------------------------------------------------------------------------------
def test_residuals_use_the_fitted_rows(epoch_runs, epoch_fit):
    fig = report.residuals(epoch_fit, epoch_runs)
    assert len(fig.axes) == 2
    for ax, var in zip(fig.axes, ("parameters", "tokens"), strict=True):
        assert ax.get_xscale() == "log" and var in ax.get_xlabel()
        (dots,) = _scatters(ax)
        assert len(dots.get_offsets()) == epoch_fit.n_points
    rmse = epoch_fit.residuals["rmse_log"]
    assert any(f"RMSE = {rmse:.3g}" in t for t in _legend_texts(fig.axes[0]))


def test_backtest_figure(epoch_runs):
    result = run_backtest(epoch_runs, cut_flops=1e21)
    ax = report.backtest(result).axes[0]
    law, naive = sorted(_scatters(ax), key=lambda s: s.get_label().startswith("naive"))
    assert len(law.get_offsets()) == len(naive.get_offsets()) == len(result.per_run)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "%" in ax.get_ylabel() and "extrapolation" in ax.get_xlabel()
    assert f"{100 * result.summary['median_are']:.2f}%" in law.get_label()
    assert f"{result.summary['law_beats_naive']} of {len(result.per_run)}" in ax.get_title()


def test_budget_curve_from_plan_and_from_fit(sweep_fit):
    costs = CostModel.create("h100")
    plan = plan_for_budget(UncertainLaw.from_fit(sweep_fit), costs, budget_usd=1e5,
                           allow_far=True)  # 4.3 decades of compute beyond this sweep
    ax = report.budget_curve(plan).axes[0]
    (line,) = [ln for ln in ax.get_lines() if "predicted" in ln.get_label()]
    assert np.allclose(line.get_xdata(), [r.budget for r in plan.ladder])
    assert np.allclose(line.get_ydata(), [r.loss.value for r in plan.ladder])
    assert len(ax.texts) == len(plan.ladder) - 1
    assert "USD" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    assert ax.get_xscale() == "log"
    assert any("90% interval" in t for t in _legend_texts(ax))
    fig = report.budget_curve(sweep_fit, costs=costs, budget=1e4, decades=(0, 1, 2))
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 3
    with pytest.raises(ScalingLabError, match="budget"):
        report.budget_curve(sweep_fit)


def test_figures_render_to_png_and_svg(tmp_path, sweep, sweep_fit):
    fig = report.loss_contours(sweep_fit, sweep)
    fig.savefig(tmp_path / "c.png", dpi=60)
    fig.savefig(tmp_path / "c.svg")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "c.svg").read_text()[:500]


# ------------------------------------------------------------------------------------------------
# layering
# ------------------------------------------------------------------------------------------------
def test_lower_layers_do_not_import_report_or_matplotlib():
    code = ("import sys, scalinglab, scalinglab.fit, scalinglab.compute, scalinglab.display; "
            "assert 'scalinglab.report' not in sys.modules, 'report imported'; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ------------------------------------------------------------------------------------------------
# notebooks: _repr_html_ and .plot() on the results
# ------------------------------------------------------------------------------------------------
def test_plan_displays_itself(sweep_fit):
    plan = plan_for_budget(UncertainLaw.from_fit(sweep_fit), CostModel.create("h100"),
                           budget_usd=1e4)  # 3.3 decades of compute beyond the sweep: warned
    html_plan = plan._repr_html_()
    assert html_plan.count("<table") == 2
    assert "what each 10x more money buys" in html_plan and "parameters N" in html_plan
    assert f">{plan.loss.value:.4g}<" in html_plan
    assert "USD" in plan.plot().axes[0].get_xlabel()
    with pytest.raises(ScalingLabError, match="budget_curve"):
        plan.plot("loss_contours")


def test_fit_result_html_table_and_plot(sweep, sweep_fit):
    fit = dataclasses.replace(sweep_fit, warnings=["E <b>at</b> its floor & more"])
    text = fit._repr_html_()
    assert text.count("<table") == 1 and "90% intervals" in text
    low, high = fit.intervals()["alpha"]
    for value in (fit.params["alpha"], low, high):
        assert f">{value:.4g}<" in text
    assert "nats/token" in text and "&lt;b&gt;at&lt;/b&gt; its floor &amp; more" in text
    assert "<b>" not in text
    fig = fit.plot()  # default: loss contours
    assert any("nats/token" in a.get_ylabel() for a in fig.axes)
    assert len(fit.plot("residuals", runs=sweep).axes) == 2
    with pytest.raises(ScalingLabError, match="loss_contours, optimal_allocation"):
        fit.plot("histogram")


def test_frontier_and_backtest_results_display_themselves(epoch_runs, curves):
    iso = fit_isoflop(epoch_runs, budgets=BUDGETS, bootstrap=20)
    assert len(iso.plot(runs=epoch_runs).axes[0].get_lines()) == len(iso.budgets)
    assert len(iso.plot("optimal_allocation", presets=()).axes) == 3
    assert "<table" in iso._repr_html_() and ">a<" in iso._repr_html_()
    env = fit_envelope(curves, bootstrap=0)
    lines = env.plot().axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["Approach-1 envelope (lowest loss at each C)"]
    bt = run_backtest(epoch_runs, cut_flops=1e21)
    assert len(_scatters(bt.plot().axes[0])) == 2
    html_bt = bt._repr_html_()
    assert "naive (best fitted loss)" in html_bt and html_bt.count("<table") == 2
