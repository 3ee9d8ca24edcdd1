"""The link's floor: at chance, or fitted below it, chosen by the chain's backtests (issue 24).

Items built against shallow heuristics (ARC-Challenge, OpenBookQA, SciQ's early checkpoints in
the development library) score below chance before a model learns the task.  A sigmoid held
at chance must then bend sharply to pass through those rows and rises far too fast beyond
them; a floor fitted below chance does not.  The backtests choose between the two.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.fit.chain import fit_task
from scalinglab.fit.linkfit import fit_link_params, lowest_floor
from scalinglab.laws.links import TaskLink, link_values

CHANCE = 0.25


def below_chance_runs(floor: float, seed: int = 0, scatter: float = 0.004) -> pd.DataFrame:
    """Checkpoints of 4 runs (no scale: the link alone) whose accuracy rises from ``floor``:
    acc = floor + (0.8 - floor) * sigmoid(-3 (loss - 3.2)), loss 4.2 .. 3.3."""
    rng = np.random.default_rng(seed)
    truth = TaskLink("sigmoid_pm_floor", "loss", CHANCE, 0.8, -3.0, 3.2, floor=floor)
    rows = []
    for run in range(4):
        for loss in np.linspace(4.2, 3.3, 8) + rng.normal(0, 0.01, 8):
            rows.append({"run_id": f"r{run}", "loss": loss,
                         "acc_demo": float(truth.predict(loss)) + rng.normal(0, scatter)})
    return pd.DataFrame(rows), truth


def test_a_fitted_floor_recovers_accuracies_below_chance_and_the_fixed_floor_stays_at_chance():
    table, truth = below_chance_runs(floor=0.17)
    x, acc = table["loss"].to_numpy(), table["acc_demo"].to_numpy()
    fitted = fit_link_params(x, acc, CHANCE, "sigmoid_pm_floor", decreasing=True)
    fixed = fit_link_params(x, acc, CHANCE, "sigmoid_pm", decreasing=True)
    assert fitted[3] == pytest.approx(0.17, abs=0.03)
    assert fixed[3] == CHANCE
    assert lowest_floor(CHANCE) <= fitted[3] <= CHANCE
    # beyond the rows (loss 2.9), the fixed floor's forced bend overshoots; the fitted one not
    target = float(truth.predict(2.9))
    assert abs(link_values(fitted, 2.9, CHANCE) - target) < 0.03
    assert abs(link_values(fitted, 2.9, CHANCE) - target) < abs(
        link_values(fixed, 2.9, CHANCE) - target)


def test_auto_link_picks_the_fitted_floor_only_where_the_backtests_favour_it():
    below, truth = below_chance_runs(floor=0.15, seed=1)
    fit = fit_task(below, "acc_demo", chance=CHANCE, bootstrap=0)
    forms = fit.selection["link_forms"]
    assert set(forms) == {"sigmoid_pm", "sigmoid_pm_floor"}
    assert fit.link.form == "sigmoid_pm_floor"
    assert forms["sigmoid_pm_floor"] < forms["sigmoid_pm"]
    assert fit.link.floor < CHANCE - 0.05
    assert abs(fit.predict(loss=2.9) - float(truth.predict(2.9))) < 0.03
    # the chosen form is the one with the lower backtest score, whichever it is
    at_chance, _ = below_chance_runs(floor=CHANCE, seed=2)
    other = fit_task(at_chance, "acc_demo", chance=CHANCE, bootstrap=0)
    scores = other.selection["link_forms"]
    best = min(scores, key=lambda k: (scores[k], k != "sigmoid_pm"))
    assert other.link.form == best
    assert any("link forms scored" in line for line in other.summary_lines())


def test_a_named_link_form_is_kept_and_a_wrong_one_is_a_clear_error():
    table, _ = below_chance_runs(floor=0.17)
    fit = fit_task(table, "acc_demo", chance=CHANCE, link="sigmoid_pm", bootstrap=0)
    assert fit.link.form == "sigmoid_pm" and fit.link.floor == CHANCE
    assert list(fit.selection["link_forms"]) == ["sigmoid_pm"]
    with pytest.raises(ScalingLabError, match="link must be auto or one of"):
        fit_task(table, "acc_demo", chance=CHANCE, link="logistic", bootstrap=0)


def test_links_saved_before_the_floor_read_back_with_the_floor_at_chance():
    old = {"form": "sigmoid_pm", "variable": "loss", "chance": 0.25, "ceiling": 0.8,
           "slope": -3.0, "midpoint": 3.2}
    link = TaskLink.from_dict(old)
    assert link.floor == 0.25
    x = np.array([3.0, 3.5, 4.0])
    three = link_values(np.array([0.8, -3.0, 3.2]), x, 0.25)
    np.testing.assert_allclose(link.predict(x), three)
    draws = np.array([[0.8, -3.0, 3.2], [0.7, -2.0, 3.3]])
    np.testing.assert_allclose(link_values(np.column_stack([draws, [0.25, 0.25]]), x, 0.25),
                               link_values(draws, x, 0.25))


def test_an_answer_below_chance_is_kept_inside_chance_less_noise():
    table, _ = below_chance_runs(floor=0.15, seed=1)
    fit = fit_task(table, "acc_demo", chance=CHANCE, link="sigmoid_pm_floor", bootstrap=8)
    out = fit.predict_interval(loss=4.3, allow_far=True)     # where the link sits at its floor
    floor = out["components"]["floor"]
    assert floor < CHANCE
    assert floor <= out["low"] <= out["accuracy"] <= out["high"] <= 1.0


def test_the_item_grid_of_a_benchmark_is_found_and_not_invented():
    from scalinglab.fit.tasktable import item_grid

    rng = np.random.default_rng(0)
    assert item_grid(rng.integers(100, 180, 12) / 200) in (200, 100, 50, 40, 25, 20, 10, 8, 5)
    assert item_grid(np.array([0.775, 0.78, 0.75, 0.76, 0.74, 0.745])) == 200
    assert item_grid(np.array([33, 250, 700, 1001, 1171]) / 1172) == 1172
    assert item_grid(rng.random(20)) is None                     # real numbers: no grid
    assert item_grid(np.array([0.775, 0.78, 0.75])) is None       # too few values to tell


def test_an_interval_for_a_whole_number_of_items_is_stated_in_attainable_accuracies():
    """A 200-item task scores k/200: each end of the interval is the nearest such value (the
    continuity correction of a count), so it moves by at most half an item."""
    table, _ = below_chance_runs(floor=CHANCE, seed=3)
    table["acc_demo"] = np.round(table["acc_demo"].clip(0, 1) * 200) / 200
    fit = fit_task(table, "acc_demo", chance=CHANCE, link="sigmoid_pm", bootstrap=8)
    assert fit.items == 200
    out = fit.predict_interval(loss=3.2, allow_far=True)
    for end in (out["low"], out["high"]):
        assert end * 200 == pytest.approx(round(end * 200), abs=1e-6)
    assert out["components"]["items"] == 200
    jitter = np.random.default_rng(4).uniform(0, 1e-4, len(table))     # no grid any more
    continuous = fit_task(table.assign(acc_demo=table["acc_demo"] + jitter), "acc_demo",
                          chance=CHANCE, link="sigmoid_pm", bootstrap=8)
    assert continuous.items is None
    inner = continuous.predict_interval(loss=3.2, allow_far=True)
    assert abs(out["low"] - inner["low"]) <= 0.0025 + 0.002      # half an item, + the jitter
    assert abs(out["high"] - inner["high"]) <= 0.0025 + 0.002
    assert any("whole number of 200 items" in line for line in fit.summary_lines())


def test_count_interval_ends_are_the_nearest_counts_and_keep_the_point_inside():
    from scalinglab.fit.chainpredict import count_interval

    # the demo's seed 0 cloze: 0.8386 is 167.72 of 200 items -> 168; 0.7582 -> 151.64 -> 152
    assert count_interval(0.7582, 0.8386, 0.798, 200) == (0.76, 0.84)
    # a synthetic-demo end: 0.7289 is 145.78 items -> 146, so 145/200 stays outside
    low, _ = count_interval(0.7289, 0.7574, 0.7434, 200)
    assert low == 0.73 and low > 0.725
    # an interval narrower than an item never leaves the point outside
    assert count_interval(0.501, 0.503, 0.502, 100) == (0.5, 0.502)


def test_whether_a_task_rose_above_chance_does_not_hang_on_the_floor_the_backtests_chose():
    """Rows 3-4 points above chance pass on the small scatter around a fitted floor, but not on
    the scatter around the chance floor: the larger of the two decides (the Pile's ARC-Challenge
    at 6e21 FLOPs was scored once only because the floor form won its backtests)."""
    from types import SimpleNamespace

    from scalinglab.fit.chain import TaskRefusal, near_chance_check

    x = np.linspace(3.6, 3.0, 12)
    acc = np.linspace(0.20, 0.285, 12)
    fit = SimpleNamespace(task="acc_demo", chance=CHANCE, scatter=0.006,
                          link=SimpleNamespace(slope=-1.0))
    stats = near_chance_check(fit, x, acc)                    # 3 x 0.006 < lift 0.032
    assert stats["needed"] == pytest.approx(0.02)
    with pytest.raises(TaskRefusal, match="run scatter 0.015"):
        near_chance_check(fit, x, acc, reference_scatter=0.015)   # 3 x 0.015 > lift


def test_a_floor_that_wins_by_less_than_one_item_is_not_worth_its_parameter():
    from scalinglab.fit.chaincalib import clearly_better
    from scalinglab.fit.chainselect import Backtest, floor_margin

    rng = np.random.default_rng(0)
    errors = 0.03 + np.abs(rng.normal(0, 0.02, 12))                # every row over-predicted
    reference = [Backtest(errors=errors, scatter=0.01)]
    gain = 0.0001 + rng.normal(0, 1e-5, 12)                          # 0.01 points, smooth
    tests = [Backtest(errors=errors - gain, scatter=0.01)]
    assert clearly_better(tests, reference)                          # dozens of SEs from zero
    assert floor_margin(2376) == pytest.approx(1 / 2376)             # ARC-Easy: 0.042 points
    assert not clearly_better(tests, reference, margin=floor_margin(2376))
    assert floor_margin(None) == 0.0
    large = [Backtest(errors=errors - 10 * gain, scatter=0.01)]      # 0.1 points: 2.4 items
    assert clearly_better(large, reference, margin=floor_margin(2376))


def test_the_link_choice_uses_the_benchmarks_item_count():
    from scalinglab.fit.chainselect import choose_link

    below, _ = below_chance_runs(floor=0.15, seed=1)
    args = (below, "acc_demo", CHANCE, ["loss"], "auto", "loss", {})
    assert choose_link(*args)[0] == "sigmoid_pm_floor"
    assert choose_link(*args, items=1)[0] == "sigmoid_pm"         # one item: 100 points
    counted = below.assign(acc_demo=np.round(below["acc_demo"] * 200) / 200)
    fit = fit_task(counted, "acc_demo", chance=CHANCE, bootstrap=0)
    assert fit.items == 200 and fit.link.form == "sigmoid_pm_floor"   # gains of points: kept


def test_a_floor_counts_as_a_parameter_only_where_it_can_move():
    from scalinglab.fit.linkfit import free_parameters

    assert free_parameters("sigmoid_pm_floor", CHANCE) == free_parameters("sigmoid_pm", CHANCE) + 1
    assert free_parameters("sigmoid_pm_floor", 0.0) == free_parameters("sigmoid_pm", 0.0) == 3
