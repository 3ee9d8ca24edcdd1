"""law="auto": candidates scored by nested backtests along N, D and C (fit/selection.py, fit/auto.py).

Small synthetic tables whose true form is known; each fit takes well under a second.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scalinglab
from scalinglab.fit.optimise import make_law
from scalinglab.fit.rows import prepare_runs
from scalinglab.fit.selection import candidates, make_cuts, select_law
from scalinglab.fit.settings import FitSettings
from scalinglab.laws.base import Law
from scalinglab.laws.forms import Chinchilla, KaplanND
from scalinglab.laws.overtrain import OverTrain
from scalinglab.laws.registry import LAW_FORMS
from tests.clihelp import run_script

KAPLAN = KaplanND(N_c=8.8e13, alpha_N=0.076, D_c=5.4e13, alpha_D=0.095)  # Kaplan 2020, Eq. 1.5
ASYMMETRIC = Chinchilla(E=1.7, A=400.0, alpha=0.25, B=4000.0, beta=0.45)
TARGET = {"N": 1e10, "D": 2e11}  # 10x the largest N, 5-10x its tokens


def sweep(law: Law, seed: int, noise: float = 0.005) -> pd.DataFrame:
    """6 sizes (2e7-1e9 parameters) x 6 tokens-per-parameter ratios (5-200), log-normal noise."""
    rng = np.random.default_rng(seed)
    N, ratio = np.meshgrid(np.geomspace(2e7, 1e9, 6), np.geomspace(5, 200, 6))
    N, D = N.ravel(), (N * ratio).ravel()
    loss = law.predict(N=N, D=D) * np.exp(noise * rng.standard_normal(N.size))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(N.size)], "n_params": N,
                         "tokens": D, "loss": loss, "final": 1})


def test_overtrain_law_is_chinchilla_with_tied_exponents():
    law = OverTrain(E=1.7, a=400.0, b=900.0, eta=0.17)
    X = {"N": np.array([1e8, 3e9]), "D": np.array([2e9, 6e10])}
    same = Chinchilla(**law.chinchilla_params())
    np.testing.assert_allclose(law.predict(**X), same.predict(**X), rtol=1e-12)
    theta = law.to_raw(law.params)
    numeric = Law.log_jacobian_raw(law, theta, X)  # base class: central differences
    np.testing.assert_allclose(law.log_jacobian_raw(theta, X), numeric, rtol=1e-6, atol=1e-8)
    T = law.lse_design(X)  # the batched bootstrap's linear terms
    lse = np.log(np.exp(T @ theta).sum(axis=0))
    np.testing.assert_allclose(lse, law.log_predict_raw(theta, X), rtol=1e-12)
    assert LAW_FORMS["overtrain"] is OverTrain
    assert law.frontier(1e21)["a"] == pytest.approx(0.5)  # alpha = beta: N_opt ~ C^0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_selection_picks_kaplan_on_data_generated_from_it(seed):
    result = scalinglab.fit(sweep(KAPLAN, seed))
    record = result.diagnostics["selection"]
    assert record["chosen"] == "kaplan", record["reason"]
    assert result.law.name == "kaplan"
    assert "beats the reference chinchilla" in record["reason"]
    directions = set(record["direction_weights"])
    assert directions == {"N", "D", "C"}  # cut along every direction, not compute alone
    kaplan_row = next(r for r in record["table"] if r["name"] == "kaplan")
    assert all(kaplan_row["score"] < r["score"] for r in record["table"] if r is not kaplan_row)


@pytest.mark.parametrize("seed", [0, 1])
def test_selection_keeps_chinchilla_on_data_generated_from_it(seed):
    result = scalinglab.fit(sweep(ASYMMETRIC, seed))
    record = result.diagnostics["selection"]
    assert record["chosen"] == "chinchilla", record["reason"]
    assert result.law.params["alpha"] != pytest.approx(result.law.params["beta"], abs=0.02)


@pytest.mark.parametrize("seed", [0, 3])
def test_widened_interval_contains_the_plain_one_and_covers(seed):
    """Where candidates cannot be told apart, their spread widens the run interval; it covers
    the true law at 10x the largest fitted N."""
    result = scalinglab.fit(sweep(ASYMMETRIC, seed))
    record = result.diagnostics["selection"]
    assert record["indistinguishable"], "this seed was chosen for a close call"
    assert len(record["alternatives"]) == len(record["indistinguishable"])
    wide = result.predict_interval(**TARGET)
    saved = result.diagnostics.pop("selection")
    narrow = result.predict_interval(**TARGET)
    result.diagnostics["selection"] = saved
    assert wide["low"] < narrow["low"] and wide["high"] > narrow["high"]
    assert wide["components"]["model_spread_log"] > 0
    assert wide["low"] <= ASYMMETRIC.predict(**TARGET) <= wide["high"]


def test_reduced_design_keeps_the_law_with_e_when_it_cannot_be_backtested():
    """Six sizes at one token count: the power law with E is the reference; with four points
    below the first cut it cannot be backtested, so a law without E does not replace it."""
    N = np.geomspace(2e7, 3e9, 6)
    law = Chinchilla(E=1.6, A=300.0, alpha=0.3, B=1.0, beta=0.5)
    rows = pd.DataFrame({"run_id": [f"p{i}" for i in range(6)], "n_params": N,
                         "tokens": 3e11, "loss": law.predict(N=N, D=3e11), "final": 1})
    settings = FitSettings()
    frame, _ = prepare_runs(rows, make_law(settings), settings)
    assert [c.name for c in candidates(frame, settings)] == ["power_N", "power_N_noE"]
    assert {c.direction for c in make_cuts(frame, settings)} == {"N", "C"}
    choice = select_law(frame, settings)
    assert choice.chosen.name == "power_N", choice.selection.reason
    assert "no evidence against it" in choice.selection.reason


def test_pinned_law_and_fixed_E_skip_selection():
    table = sweep(ASYMMETRIC, 0)
    assert "selection" not in scalinglab.fit(table, law="chinchilla").diagnostics
    fixed = scalinglab.fit(table, E_fixed=1.7)
    assert fixed.diagnostics["selection"]["table"] == []
    assert "fixed" in fixed.diagnostics["selection"]["reason"]


def test_selection_is_deterministic_and_round_trips(tmp_path):
    table = sweep(KAPLAN, 3)
    first, second = scalinglab.fit(table), scalinglab.fit(table)
    assert first.diagnostics["selection"] == second.diagnostics["selection"]
    path = tmp_path / "fit.json"
    path.write_text(first.to_json())
    again = scalinglab.FitResult.load(path)
    a, b = first.predict_interval(**TARGET), again.predict_interval(**TARGET)
    assert (a["low"], a["high"]) == pytest.approx((b["low"], b["high"]), rel=1e-9)


def test_cli_prints_the_backtest_table_and_pins_a_law(tmp_path):
    csv = tmp_path / "runs.csv"
    sweep(KAPLAN, 0).to_csv(csv, index=False)
    auto = run_script("fit", str(csv), "--bootstrap", "0")
    assert auto.code == 0, auto.stderr
    assert "law selection: nested backtests" in auto.stdout
    assert "kaplan *" in auto.stdout and "beats the reference" in auto.stdout
    pinned = run_script("fit", str(csv), "--bootstrap", "0", "--law", "chinchilla", "--json")
    assert pinned.code == 0, pinned.stderr
    payload = json.loads(pinned.stdout)
    assert payload["law"]["law"] == "chinchilla"
    assert "selection" not in payload["diagnostics"]


def test_dominance_cap_keeps_predictions_at_or_below_a_measured_smaller_run():
    from scalinglab.fit.spread import apply_dominance_cap, dominance_cap, dominance_points

    N = np.array([1e8, 1e8, 4e8, 4e8])
    D = np.array([1e9, 4e9, 1e9, 4e9])
    loss = np.array([3.0, 2.6, 2.7, 2.4])
    points = dominance_points(N, D, loss)
    assert [p[2] for p in points] == [2.4, 2.6, 2.7, 3.0]  # none dominates another here
    cap = dominance_cap(points, np.array([1e9, 5e7, 2e8]), np.array([1e10, 1e10, 2e9]))
    assert cap[0] == 2.4          # beyond every run: the best measured loss
    assert np.isinf(cap[1])       # fewer parameters than any run: nothing to compare with
    assert cap[2] == 3.0          # dominates only the (1e8, 1e9) run
    out = {"loss": 2.5, "low": 2.25, "high": 2.75}
    capped = apply_dominance_cap(dict(out), {"dominance": points}, {"N": 1e9, "D": 1e10})
    assert capped["loss"] == pytest.approx(2.4)
    assert capped["high"] / capped["low"] == pytest.approx(out["high"] / out["low"])
    free = apply_dominance_cap(dict(out), {"dominance": points}, {"N": 5e7, "D": 1e10})
    assert free == out


def test_frontier_loss_is_a_run_interval_that_covers_the_true_optimum():
    result = scalinglab.fit(sweep(ASYMMETRIC, 0))
    record = result.diagnostics["selection"]["frontier"]
    assert record["chosen"] in ("law_frontier", "envelope")
    assert set(record["scores"]) == {"law_frontier", "envelope"}
    C = 6 * 1e9 * 1e10 * 10  # 10x the largest fitted compute
    # the asymmetric law's optimum lies at D/N ~ 0.01, far below the fitted designs
    answer = result.frontier(C, allow_far=True)["loss"]
    true = ASYMMETRIC.frontier(C)["loss"]
    assert answer["kind"] == "run" and answer["source"] == record["chosen"]
    assert answer["low"] <= true <= answer["high"]
    assert answer["low"] < answer["value"] < answer["high"]


def test_an_over_training_law_answers_frontier_and_plan_questions():
    """law='auto' may choose Gadre et al.'s form: the frontier and the planner read it as the
    Chinchilla form with tied exponents (alpha = beta = 2 eta)."""
    from scalinglab.compute.cost import CostModel
    from scalinglab.compute.planner import plan_for_budget
    from scalinglab.compute.uncertain_law import UncertainLaw

    result = scalinglab.fit(sweep(ASYMMETRIC, 0), law="overtrain", bootstrap=20)
    eta = result.law.params["eta"]
    C = 6 * 1e9 * 1e10
    answer = result.frontier(C, allow_far=True)
    tied = result.law.frontier(C)
    assert answer["N_opt"]["value"] == pytest.approx(tied["N_opt"])
    assert answer["loss"]["low"] < answer["loss"]["value"] < answer["loss"]["high"]
    law = UncertainLaw.from_fit(result)
    assert law.law.params["alpha"] == pytest.approx(2 * eta)
    assert law.draws is not None and set(law.draws.columns) >= {"A", "alpha", "B", "beta"}
    plan = plan_for_budget(law, CostModel.create(), budget_flops=C, allow_far=True)
    assert plan.loss.value == pytest.approx(tied["loss"], rel=1e-6)


def test_candidates_that_score_alike_are_neither_switched_to_nor_called_clearly_worse():
    """Two laws that predict alike (E at its floor makes chinchilla equal chinchilla_noE) differ
    by a hair on a tiny standard error: no switch, and the other is named indistinguishable."""
    from scalinglab.fit.selection import Candidate, Cut, choose

    rng = np.random.default_rng(0)
    held = np.ones(8, dtype=bool)
    cuts = [Cut("D", v, ~held, held, "runs") for v in (1.0, 2.0)]
    base = [np.abs(rng.normal(0.0, 0.01, 8)) for _ in cuts]
    errors = {"chinchilla": base, "chinchilla_noE": [e - 1e-7 for e in base],
              "kaplan": [3 * e for e in base]}
    cands = [Candidate(name, FitSettings(), name) for name in errors]
    sel = choose(errors, cuts, cands)
    assert sel.chosen == "chinchilla" and "scores the same" in sel.reason
    assert sel.indistinguishable == ["chinchilla_noE"]
    assert "clearly worse" not in sel.reason
    # a real gain still switches: 20% lower errors on every unit
    errors["chinchilla_noE"] = [0.8 * e for e in base]
    assert choose(errors, cuts, cands).chosen == "chinchilla_noE"


def test_bootstrap_warnings_name_the_parameters_of_the_summary_table():
    """An over-training fit written in Chinchilla's parameters (what law='auto' returns when it
    chooses Gadre et al.'s form) warns about E, A, alpha, B, beta with the table's units, not
    about the a, b, eta it was fitted in; a pinned over-training fit names a, b, eta."""
    import re

    from scalinglab.fit.auto import as_chinchilla, law_label

    fitted = scalinglab.fit(sweep(OverTrain(E=1.7, a=400.0, b=900.0, eta=0.17), 0),
                            law="overtrain", bootstrap=30, seed=0)
    pattern = re.compile(r"^(\w+)(?: \(([^)]*)\))? and (\w+)(?: \(([^)]*)\))? trade off in "
                         r"the bootstrap")
    for result in (fitted, as_chinchilla(fitted)):
        table = result.summary().set_index("parameter")["unit"]
        named = [m.groups() for m in map(pattern.match, result.warnings) if m]
        assert named, result.warnings  # E trades off with the exponent on this sweep
        for a, unit_a, b, unit_b in named:
            for name, unit in ((a, unit_a), (b, unit_b)):
                assert name in table.index, (name, list(table.index))
                assert unit == (None if table[name] == "dimensionless" else table[name])
    converted = as_chinchilla(fitted)
    assert law_label(converted) == "overtrain" and converted.law.name == "chinchilla"
    assert not any(re.search(r"\b(a|b|eta)\b", w) for w in converted.warnings
                   if "trade off" in w or "poorly determined" in w), converted.warnings
    assert converted.diagnostics["identifiable"] is False and converted.warnings[-1].startswith(
        "remedies")
