"""The task chain's interval as its nested backtests widen it (scalinglab.fit.chaincalib):
the conformal multiplier of the chosen route's backtest errors, the routes the backtests cannot
tell apart (their spread, and the optional mean point), on the synthetic ladder of
tests/test_task_chain.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.fit.chain import TaskFit, fit_task
from scalinglab.fit.chaincalib import (
    alternative_accuracies,
    backtest_multiplier,
    backtest_record,
)
from scalinglab.fit.chainselect import Backtest
from scalinglab.fit.intervals import weighted_conformal_quantile
from scalinglab.laws.links import TaskLink
from tests.test_task_chain import ladder


def _bt(errors, scatter=0.01):
    return Backtest(errors=np.asarray(errors, dtype=float), scatter=scatter)


def test_backtest_record_scores_and_indistinguishable_routes():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.02, 30)
    runs = {"loss": [_bt(base[:15]), _bt(base[15:])],
            "compute": [_bt(base[:15] + rng.normal(0, 0.002, 15)),
                        _bt(base[15:] + rng.normal(0, 0.002, 15))],
            "task_loss": [_bt(base[:15] + 0.2), _bt(base[15:] + 0.2)],
            "loss:C": [None, _bt(base[15:])]}
    rec = backtest_record(runs, "loss", any_viable=True)
    assert rec["calibration"]["scores"] == pytest.approx(list(np.abs(base) / 0.01))
    assert rec["alternative_routes"] == ["compute"]          # far worse or failed: not kept
    # no route could be backtested: the data tell none apart from the preferred one
    failed = backtest_record({"loss": [None], "compute": [None]}, "loss", any_viable=False)
    assert failed["alternative_routes"] == ["compute"]
    assert failed["calibration"]["n_rows"] == 0
    scores = np.array(rec["calibration"]["scores"])
    assert backtest_multiplier(rec, 0.9) == pytest.approx(
        weighted_conformal_quantile(scores, np.ones(len(scores)), 0.9))
    assert backtest_multiplier(failed, 0.9) is None


def test_link_alone_is_backtested_along_the_loss_and_widened():
    table = ladder(scatter=0.01).drop(columns=["n_params", "tokens"])
    fit = fit_task(table, "acc_demo", chance=0.25, bootstrap=4, seed=0)
    sel = fit.selection
    assert sel["backtest_axis"] == "-loss"
    assert sel["calibration"]["n_rows"] > 0
    wide = fit.predict_interval(loss=2.9)
    q = wide["components"]["backtest_multiplier"]
    assert q == pytest.approx(backtest_multiplier(sel, 0.9))
    half = q * fit.scatter
    assert wide["low"] <= wide["accuracy"] - half + 1e-12
    assert wide["high"] >= min(wide["accuracy"] + half, 1.0) - 1e-12
    fit.widening = ()
    plain = fit.predict_interval(loss=2.9)
    assert plain["accuracy"] == wide["accuracy"]
    assert plain["high"] - plain["low"] <= wide["high"] - wide["low"] + 1e-12


def test_route_spread_widens_and_mean_point_averages(tmp_path):
    fit = fit_task(ladder(), "acc_demo", chance=0.25, via="loss", bootstrap=4, seed=0)
    fit.widening = ("routes",)
    n, d = 1.28e8, 2.56e9
    before = fit.predict_interval(N=n, D=d)
    other = TaskLink(fit.link.form, "log10_flops", 0.25, fit.link.ceiling, 3.0, 17.0)
    fit.alternatives = [{"route": "compute", "via": "compute", "link": other.to_dict(),
                         "law": None}]
    alt = float(other.predict(np.log10(6 * n * d)))
    assert alternative_accuracies(fit, {"N": n, "D": d}, 0.0) == pytest.approx([alt])
    wide = fit.predict_interval(N=n, D=d)
    gap = abs(alt - before["accuracy"])
    assert wide["accuracy"] == before["accuracy"]
    assert wide["components"]["route_spread"] == pytest.approx(gap)
    assert wide["low"] <= max(before["accuracy"] - gap, wide["chance"] - 0.2) + 1e-12
    assert wide["high"] >= min(before["accuracy"] + gap, 1.0) - 1e-12
    fit.point = "mean"
    mean = fit.predict_interval(N=n, D=d)
    assert mean["accuracy"] == pytest.approx((before["accuracy"] + alt) / 2)
    assert fit.predict(N=n, D=d) == pytest.approx(mean["accuracy"])
    again = TaskFit.load(fit.save(tmp_path / "t.json"))
    assert again.alternatives == fit.alternatives and again.point == "mean"
    assert again.predict_interval(N=n, D=d)["high"] == pytest.approx(mean["high"])
    # a given loss: a route through compute cannot answer, so it neither moves nor widens
    assert len(alternative_accuracies(fit, {"loss": 3.0}, 3.0)) == 0
