"""Guards on every answer (issue 25): distance from the data in every direction, the irreducible
floor, reduced laws off their line, implausible units, nonsense fits, labelled intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.compute import CostModel
from scalinglab.compute.planner import plan_for_budget, plan_for_loss
from scalinglab.compute.uncertain_law import UncertainLaw
from scalinglab.errors import FitError
from scalinglab.fit import FitResult, fit_parametric
from scalinglab.fit.guards import (
    FAR_REFUSE_DECADES,
    FAR_WARN_DECADES,
    Guard,
    GuardRefused,
    decades_outside,
    two_sided,
)
from scalinglab.laws import get_preset

TRUTH = get_preset("hoffmann2022-unrounded").law
BUDGETS = np.logspace(17, 19, 5)


def sweep(seed: int = 0, sigma: float = 0.01, budgets=BUDGETS, per: int = 5) -> pd.DataFrame:
    """An IsoFLOP sweep of the true law: ``per`` sizes spread +-0.6 decades per budget."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in budgets:
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.logspace(-0.6, 0.6, per):
            rows.append((n_opt * f, C / (6 * n_opt * f)))
    a = np.array(rows)
    loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, sigma, len(a)))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                         "tokens": a[:, 1], "loss": loss})


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return sweep()


@pytest.fixture(scope="module")
def fitted(table) -> FitResult:
    return fit_parametric(table, bootstrap=40, seed=0)


def _range(table: pd.DataFrame, key: str) -> tuple[float, float]:
    values = {"N": table["n_params"], "D": table["tokens"],
              "C": 6 * table["n_params"] * table["tokens"],
              "D/N": table["tokens"] / table["n_params"]}[key].to_numpy()
    return float(values.min()), float(values.max())


def _by(guards: list[Guard], name: str, quantity: str) -> Guard:
    found = [g for g in guards if g.name == name and g.quantity == quantity]
    assert len(found) == 1, [(g.name, g.quantity) for g in guards]
    return found[0]


# -- distance from the data in every direction ---------------------------------------------------
def test_the_fit_records_the_range_of_every_quantity(fitted, table):
    ranges = fitted.data_ranges()
    for key in ("N", "D", "C", "D/N"):
        assert ranges[key] == pytest.approx(_range(table, key), rel=1e-9)


def test_inside_the_data_no_distance_guard(fitted, table):
    N, D = table["n_params"].median(), table["tokens"].median()
    band = fitted.predict_interval(N=N, D=D)
    assert [g for g in band["guards"] if g.name == "distance"] == []


def test_below_the_data_counts_and_is_refused(fitted, table):
    n_min, _ = _range(table, "N")
    d_min, _ = _range(table, "D")
    N, D = n_min / 10**2.5, d_min / 10**2.5       # 2.5 decades below in N and D, 5 in C
    with pytest.raises(GuardRefused, match="below the smallest.*allow.far") as info:
        fitted.predict_interval(N=N, D=D)
    assert {g.quantity for g in info.value.guards if g.action == "refuse"} >= {"N", "D", "C"}
    band = fitted.predict_interval(N=N, D=D, allow_far=True)
    guard = _by(band["guards"], "distance", "N")
    assert guard.action == "warn" and guard.value == pytest.approx(2.5, abs=1e-6)
    assert "insisted" in guard.message
    # the run interval widens for a target below the data as for one above it
    c_below = float(decades_outside(np.array([6 * N * D]), *_range(table, "C"))[0][0])
    assert band["components"]["distance_decades"] == pytest.approx(c_below, rel=1e-9)


def test_warning_zone_names_quantity_limit_and_distance(fitted, table):
    _, n_max = _range(table, "N")
    _, d_max = _range(table, "D")
    band = fitted.predict_interval(N=n_max * 10**1.5, D=d_max * 10**1.2)
    n_guard = _by(band["guards"], "distance", "N")
    assert n_guard.action == "warn" and n_guard.limit == FAR_WARN_DECADES["N"]
    assert n_guard.value == pytest.approx(1.5, abs=1e-6)
    assert "1.50 decades above" in n_guard.message and "refused past 2" in n_guard.message
    c_guard = _by(band["guards"], "distance", "C")
    expected = np.log10(6 * n_max * 10**1.5 * d_max * 10**1.2 / _range(table, "C")[1])
    assert c_guard.value == pytest.approx(expected, abs=1e-4)
    assert c_guard.action == ("warn" if expected <= FAR_REFUSE_DECADES["C"] else "refuse")
    d = n_guard.to_dict()
    assert d["decades"] == d["value"] and d["name"] == "distance" and d["quantity"] == "N"


def test_frontier_far_in_compute_refuses_unless_allowed(fitted, table):
    _, c_max = _range(table, "C")
    far = c_max * 10 ** (FAR_REFUSE_DECADES["C"] + 0.5)
    with pytest.raises(GuardRefused, match="decades above"):
        fitted.frontier(far)
    front = fitted.frontier(far, allow_far=True)
    assert {g.quantity for g in front["guards"]} >= {"C", "N", "D"}


def test_the_wording_says_inside_below_or_beyond_with_the_guards_distances(fitted, table):
    from scalinglab.fit.interval_text import describe_sources

    inside = fitted.predict_interval(N=table["n_params"].median(), D=table["tokens"].median())
    assert describe_sources(inside["components"]).startswith(
        "the target lies inside the fitted data;")
    # 1.5 decades below the smallest N and D: 3 decades below in C, the farthest quantity
    (n_min, _), (d_min, _) = _range(table, "N"), _range(table, "D")
    low = fitted.predict_interval(N=n_min / 10**1.5, D=d_min / 10**1.5, allow_far=True)
    c_guard = _by(low["guards"], "distance", "C")
    text = describe_sources(low["components"])
    assert text.startswith(f"the target lies {c_guard.value:.2f} decades below the fitted "
                           f"data in C;"), text
    assert "beyond" not in text.split(";")[0]
    # above: the interval's distance, the same as the C guard's
    (_, n_max), (_, d_max) = _range(table, "N"), _range(table, "D")
    high = fitted.predict_interval(N=n_max * 10, D=d_max * 10, allow_far=True)
    c_guard = _by(high["guards"], "distance", "C")
    assert float(high["components"]["distance_decades"]) == pytest.approx(c_guard.value)
    assert describe_sources(high["components"]).startswith(
        f"the target lies {c_guard.value:.2f} decades beyond the fitted data;")
    # beyond in N, below in D (more tokens per parameter than any fitted run would be D/N)
    mixed = fitted.predict_interval(N=n_max * 10**1.2, D=d_min / 10**1.5, allow_far=True)
    d_guard = _by(mixed["guards"], "distance", "D")
    n_guard = _by(mixed["guards"], "distance", "N")
    assert describe_sources(mixed["components"]).startswith(
        f"the target lies {n_guard.value:.2f} decades beyond the fitted data and "
        f"{max(d_guard.value, _by(mixed['guards'], 'distance', 'D/N').value):.2f} decades "
        f"below it in ")


def test_two_sided_mirrors_values_below_the_range():
    scaled = {"N": np.array([1e5, 1e7, 1e10])}
    mirrored = two_sided(scaled, {"N": [1e6, 1e8]})["N"]
    assert mirrored == pytest.approx([1e9, 1e7, 1e10])


# -- the irreducible floor -------------------------------------------------------------------------
def test_run_interval_never_crosses_e_lower_bound(fitted, table):
    floor = fitted.loss_floor(0.9)
    assert floor == pytest.approx(np.quantile(fitted.bootstrap_params["E"], 0.05))
    assert floor <= fitted.params["E"]
    _, n_max = _range(table, "N")
    _, d_max = _range(table, "D")
    # far enough that the interval (its extrapolation term growing as sqrt(u u_c) past the
    # backtests' reach) would cross the floor
    far = fitted.predict_interval(N=n_max * 1e8, D=d_max * 1e8, allow_far=True)
    assert far["low"] >= floor - 1e-12
    assert any(g.name == "floor" for g in far["guards"])
    near = fitted.predict_interval(N=table["n_params"].median(), D=table["tokens"].median())
    assert near["low"] > floor and not any(g.name == "floor" for g in near["guards"])


# -- one kind of answer for one kind of question --------------------------------------------------
def test_frontier_loss_is_a_run_interval_at_the_predicted_optimum(fitted, table):
    C = _range(table, "C")[1] * 10
    front = fitted.frontier(C)
    assert front["loss"]["kind"] == "run" and front["loss"]["label"] == "90% run interval"
    for key in ("N_opt", "D_opt", "tokens_per_param"):
        assert front[key]["kind"] == "parameter"
        assert front[key]["label"] == "90% parameter interval"
    at = fitted.predict_interval(N=front["N_opt"]["value"], D=front["D_opt"]["value"])
    assert front["loss"]["value"] == pytest.approx(at["loss"], rel=1e-12)
    assert front["loss"]["high"] == pytest.approx(at["high"], rel=1e-12)
    gap = front["loss"]["components"]["optimum_gap_log"]
    assert gap > 0                                   # the draws disagree on where N_opt is
    assert front["loss"]["low"] < at["low"]          # ... so the optimum may lie lower
    law_only = fitted.predict_interval(kind="law", N=front["N_opt"]["value"],
                                       D=front["D_opt"]["value"])
    assert front["loss"]["low"] < law_only["low"] and law_only["high"] < front["loss"]["high"]


def test_frontier_vectorises_and_caps_the_high_end_past_the_data(fitted, table):
    c_max = _range(table, "C")[1]
    grid = c_max * np.array([0.1, 1.0, 10.0, 1e3])
    front = fitted.frontier(grid, allow_far=True)
    assert np.shape(front["loss"]["low"]) == (4,)
    high = np.asarray(front["loss"]["high"])
    at_max = fitted.frontier(c_max)["loss"]["high"]
    assert np.all(high[2:] <= at_max + 1e-12)
    assert np.all(np.asarray(front["loss"]["low"]) >= fitted.loss_floor(0.9) - 1e-12)


def test_predict_labels_its_kind(fitted, table):
    point = {"N": table["n_params"].median(), "D": table["tokens"].median()}
    assert fitted.predict_interval(**point)["label"] == "90% run interval"
    assert fitted.predict_interval(kind="law", **point)["label"] == "90% parameter interval"


# -- reduced laws off their line -------------------------------------------------------------------
def test_reduced_law_refuses_off_its_tokens_per_parameter_line():
    N = np.logspace(6, 8.5, 6)
    D = 21.8 * N
    loss = TRUTH.predict(N=N, D=D) * np.exp(np.random.default_rng(1).normal(0, 0.01, 6))
    ladder = pd.DataFrame({"run_id": [f"l{i}" for i in range(6)], "n_params": N,
                           "tokens": D, "loss": loss})
    result = fit_parametric(ladder, bootstrap=0)
    assert result.law.name == "power" and any("D/N = 21.8" in w for w in result.warnings)
    with pytest.raises(GuardRefused, match=r"D/N = 0.025 .*does not model"):
        result.predict_interval(N=1e8, D=2.5e6)
    on_line = result.predict_interval(N=1e8, D=2.18e9)
    assert [g.name for g in on_line["guards"]] == ["unused_input"]
    assert "does not use D" in on_line["guards"][0].message


def test_a_law_fitted_at_one_token_count_is_off_its_line_only_in_tokens():
    """At a fixed D (Pythia's design), a larger N moves D/N and C along the line: the guard is
    the distance in N; only another D is off the line."""
    N = np.logspace(7.5, 10, 8)
    D = np.full(8, 3e11)
    loss = TRUTH.predict(N=N, D=D) * np.exp(np.random.default_rng(2).normal(0, 0.005, 8))
    ladder = pd.DataFrame({"run_id": [f"p{i}" for i in range(8)], "n_params": N,
                           "tokens": D, "loss": loss})
    result = fit_parametric(ladder, bootstrap=0)
    assert result.law.name == "power"
    bigger = result.predict_interval(N=2e11, D=3e11)   # 1.3 decades beyond N
    assert {g.name for g in bigger["guards"]} - {"floor"} == {"distance", "unused_input"}
    assert {g.quantity for g in bigger["guards"] if g.name == "distance"} == {"N"}
    off = result.predict_interval(N=1e9, D=1.2e12)
    assert [g.quantity for g in off["guards"] if g.name == "off_line"] == ["D"]


def test_power_law_in_n_says_it_ignores_tokens(fitted, table):
    result = fit_parametric(table, "power", variable="N", bootstrap=0)
    band = result.predict_interval(N=table["n_params"].median(), D=table["tokens"].median())
    guard = _by(band["guards"], "unused_input", "D")
    assert guard.action == "warn" and "power law in N does not use D" in guard.message


# -- nonsense fits and implausible units -----------------------------------------------------------
def test_flat_table_is_refused(table):
    flat = table.assign(loss=3.0)
    with pytest.raises(FitError, match="losses are flat"):
        fit_parametric(flat, bootstrap=0)


def test_fixed_E_above_the_data_is_refused(table):
    with pytest.raises(FitError, match=r"fixed E = 5 .* above the lowest loss"):
        fit_parametric(table, E_fixed=5.0, bootstrap=0)


@pytest.mark.parametrize("change, quantity", [
    (lambda t: t.assign(n_params=t["n_params"] / 1e9), "N"),              # N in billions
    (lambda t: t.assign(n_params=t["n_params"] / 1e6), "D/N"),            # N in millions
    (lambda t: t.assign(flops=3 * 6 * t["n_params"] * t["tokens"]), "C"),  # C = 3x 6ND
    (lambda t: t.assign(loss=t["loss"] * 100, vocab_size=50257), "loss"),  # percent
])
def test_implausible_units_warn(table, change, quantity):
    result = fit_parametric(change(table), bootstrap=0, calibrate=False)
    guard = _by(result.guards, "units", quantity)
    assert guard.action == "warn" and guard.message in result.warnings
    again = FitResult.from_dict(result.to_dict())
    assert again.guards == result.guards
    assert again.data_ranges() == result.data_ranges()


def test_mixed_tokenizers_warn_and_unknown_names_do_not_count(table):
    names = np.where(np.arange(len(table)) % 3 == 0, "gpt2", "gpt-neox")
    result = fit_parametric(table.assign(tokenizer=names), bootstrap=0, calibrate=False)
    guard = _by(result.guards, "units", "loss")
    assert guard.value == 2 and "gpt-neox" in guard.message and "gpt2" in guard.message
    assert guard.message in result.warnings
    one = table.assign(tokenizer=np.where(names == "gpt2", "unknown", "gpt-neox"))
    quiet = fit_parametric(one, bootstrap=0, calibrate=False)
    assert [g for g in quiet.guards if g.name == "units"] == []
    vocab = fit_parametric(table.assign(vocab_size=np.where(names == "gpt2", 50257, 50304)),
                           bootstrap=0, calibrate=False)
    assert "2 vocab_sizes" in _by(vocab.guards, "units", "loss").message


@pytest.mark.parametrize("column, labels, name", [
    ("eval_set", ("c4", "oscar"), "eval_sets"),
    ("corpus", ("kjv", "tinystories"), "eval_sets"),
    ("arch", ("GPT", "Mamba"), "architectures"),
])
def test_rows_of_several_eval_sets_or_architectures_warn(table, column, labels, name):
    values = np.where(np.arange(len(table)) % 3 == 0, *labels)
    result = fit_parametric(table.assign(**{column: values}), bootstrap=0, calibrate=False)
    guard = _by(result.guards, name, "loss")
    assert guard.value == 2 and all(v in guard.message for v in labels)
    assert guard.message in result.warnings
    one = fit_parametric(table.assign(**{column: labels[0]}), bootstrap=0, calibrate=False)
    assert [g for g in one.guards if g.name == name] == []


def test_repeated_data_warns_unless_the_law_models_it(table):
    epochs = np.where(np.arange(len(table)) < 5, 10.0, 1.0)  # five runs at 10 epochs
    repeated = table.assign(unique_tokens=table["tokens"] / epochs)
    result = fit_parametric(repeated, bootstrap=0, calibrate=False)
    guard = _by(result.guards, "repetition", "D")
    assert guard.value == pytest.approx(10.0) and guard.limit == 4.0
    assert "5 fitted run(s)" in guard.message and guard.message in result.warnings
    few = table.assign(unique_tokens=table["tokens"] / 3.0)  # 3 epochs: within the limit
    assert [g for g in fit_parametric(few, bootstrap=0, calibrate=False).guards
            if g.name == "repetition"] == []
    modelled = fit_parametric(repeated, law="data_constrained", bootstrap=0, calibrate=False)
    assert [g for g in modelled.guards if g.name == "repetition"] == []


def test_plausible_table_has_no_unit_guards(fitted):
    assert [g for g in fitted.guards if g.name == "units"] == []


def test_e_at_its_floor_makes_every_answer_say_degenerate():
    base = get_preset("besiroglu2024").law
    law = base.with_params({**base.params, "E": 1e-6})
    fit = FitResult(law=law, columns={"N": "n_params", "D": "tokens"}, n_points=10, n_runs=10,
                    objective=0.0, settings={}, residuals={"rmse_log": 0.01})
    guard = _by(fit.question_guards({"N": 1e9, "D": 2e10}), "degenerate", "E")
    assert guard.action == "warn" and "degenerate" in guard.message
    front = fit.frontier(1e21)
    assert any(g.name == "degenerate" for g in front["guards"])


# -- the planner -----------------------------------------------------------------------------------
def test_plan_refuses_far_budgets_and_floors_its_interval(fitted):
    costs = CostModel.create("h100", mfu=0.4, n_gpus=1024)
    law = UncertainLaw.from_fit(fitted, source="test fit")
    with pytest.raises(GuardRefused, match="allow.far"):
        plan_for_budget(law, costs, budget_flops=1e300)
    plan = plan_for_budget(law, costs, budget_flops=1e300, allow_far=True)
    assert plan.loss.kind == "run" and plan.n_params.kind == "parameter"
    assert plan.loss.low >= fitted.loss_floor(0.9) - 1e-12
    assert plan.loss.high < 10                       # not 1e16: capped at the data's optimum
    assert any(g.name == "distance" for g in plan.guards)
    assert plan.to_dict()["guards"][0]["name"] == "distance"
    near = plan_for_budget(law, costs, budget_flops=float(BUDGETS[-1]))
    assert [g for g in near.guards if g.name == "distance"] == []
    assert near.loss.low < near.loss.value < near.loss.high


def test_plan_for_loss_warns_when_the_target_needs_a_far_run(fitted):
    costs = CostModel.create("h100", mfu=0.4, n_gpus=1024)
    law = UncertainLaw.from_fit(fitted, source="test fit")
    target = float(fitted.frontier(BUDGETS[-1] * 300, allow_far=True)["loss"]["value"])
    plan = plan_for_loss(law, costs, target)
    assert _by(plan.guards, "distance", "C").action == "warn"


def test_preset_plans_are_measured_against_the_papers_data():
    costs = CostModel.create("h100", mfu=0.4, n_gpus=1024)
    with pytest.raises(GuardRefused, match="decades above the largest fitted"):
        plan_for_budget(UncertainLaw.from_preset("besiroglu2024"), costs, budget_flops=1e300)


def test_E_at_its_floor_is_called_undetermined_not_a_share_of_nothing():
    from types import SimpleNamespace

    from scalinglab.fit.diagnostics import _bootstrap_spread
    from scalinglab.laws.forms import Chinchilla

    law = Chinchilla(E=1e-6, A=400.0, alpha=0.3, B=400.0, beta=0.3)
    rng = np.random.default_rng(0)
    draws = pd.DataFrame({"E": np.r_[np.full(20, 1e-6), rng.uniform(0, 1.0, 20)],
                          "A": rng.normal(400, 1, 40), "alpha": rng.normal(0.3, 0.001, 40),
                          "B": rng.normal(400, 1, 40), "beta": rng.normal(0.3, 0.001, 40)})
    messages = _bootstrap_spread(SimpleNamespace(bootstrap_params=draws, law=law), law)["messages"]
    about_E = [m for m in messages if m.startswith("E ")]
    assert about_E == [m for m in about_E if "not determined" in m and "nats/token" in m]
    assert len(about_E) == 1 and "of the estimate" not in about_E[0]
