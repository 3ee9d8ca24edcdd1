"""Hyperparameter sweeps are fitted on their envelope; the frontier filter judges whole runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import SettingError
from scalinglab.fit import FitResult, fit_parametric
from scalinglab.fit.rows import _on_frontier

E, A, B, ALPHA, BETA = 1.8, 400.0, 2000.0, 0.34, 0.36


def law(n, d):
    return E + A / n**ALPHA + B / d**BETA


def lr_sweep(penalties=(0.0, 0.04, 0.12), seed=0) -> pd.DataFrame:
    """Three learning rates per (N, D): the best (penalty 0) follows the law exactly."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in np.geomspace(2e7, 6e8, 6):
        for tpp in (5, 20, 80):
            d = tpp * n
            for k, (lr, pen) in enumerate(zip((1e-3, 3e-3, 1e-2), penalties, strict=True)):
                loss = law(n, d) * (1 + pen) * np.exp(rng.normal(0, 0.002))
                rows.append({"run_id": f"n{n:.3g}_t{tpp}_lr{k}", "n_params": int(n),
                             "tokens": int(d), "loss": loss, "lr": lr, "final": 1})
    return pd.DataFrame(rows)


def test_envelope_keeps_the_best_run_of_each_size_and_names_the_rest():
    table = lr_sweep()
    result = fit_parametric(table, calibrate=False)
    env = result.diagnostics["hparam_envelope"]
    assert env["columns"] == ["lr"] or env["columns"] == ("lr",)
    assert env["detected"] is True
    assert env["n_groups"] == 18
    assert len(env["dropped"]) == 36
    assert all(d["run_id"].endswith(("lr1", "lr2")) for d in env["dropped"])
    assert result.n_runs == 18
    reasons = result.rows.set_index("run_id")["reason"]
    assert (reasons[reasons.index.str.endswith("lr2")] == "hyperparameter envelope").all()
    assert "hyperparameter sweep" in result.warnings[0]
    # the envelope is the true law: alpha and beta come back
    assert result.law.params["alpha"] == pytest.approx(ALPHA, rel=0.1)
    assert result.law.params["beta"] == pytest.approx(BETA, rel=0.1)


def test_without_the_envelope_the_mistuned_runs_bias_the_fit():
    table = lr_sweep()
    enveloped = fit_parametric(table, calibrate=False)
    every_run = fit_parametric(table, calibrate=False, hparams=None, frontier_filter=None)
    n, d = 1e10, 2e11
    truth = law(n, d)
    err_env = abs(enveloped.predict(N=n, D=d) / truth - 1)
    err_all = abs(every_run.predict(N=n, D=d) / truth - 1)
    assert err_env < 0.01 < err_all


def test_replicates_without_differing_hyperparameters_are_all_kept():
    table = lr_sweep(penalties=(0.0, 0.0, 0.0))
    table["lr"] = 3e-3        # three seeds of one recipe
    result = fit_parametric(table, calibrate=False)
    assert "hparam_envelope" not in result.diagnostics
    assert result.n_runs == 54


def test_given_hparam_columns_and_missing_ones():
    table = lr_sweep().rename(columns={"lr": "peak_rate"})
    auto = fit_parametric(table, calibrate=False, frontier_filter=None)
    assert "hparam_envelope" not in auto.diagnostics      # unknown name: not detected
    given = fit_parametric(table, calibrate=False, hparams="peak_rate")
    assert given.diagnostics["hparam_envelope"]["detected"] is False
    assert given.n_runs == 18
    with pytest.raises(SettingError, match="hparams names column.*'batch'"):
        fit_parametric(table, calibrate=False, hparams=("peak_rate", "batch"))
    with pytest.raises(SettingError, match="hparams"):
        fit_parametric(table, calibrate=False, hparams=("lr", "lr"))


def test_envelope_survives_save_and_load(tmp_path):
    result = fit_parametric(lr_sweep(), calibrate=False)
    path = tmp_path / "fit.json"
    result.save(path)
    back = FitResult.load(path)
    assert back.settings.hparams == "auto"
    assert len(back.diagnostics["hparam_envelope"]["dropped"]) == 36


def test_frontier_filter_drops_whole_runs_not_single_branches():
    """A WSD run with four cooldown branches: one good branch no longer keeps the run in
    pieces; the run is judged by the median of its branches."""
    good = [("g1", c, 3.0 - 0.1 * k) for k, c in enumerate((4e16, 6e16, 8e16, 1e17))]
    bad = [("b1", c, 3.0 - 0.1 * k + (0.0 if c == 8e16 else 0.6))
           for k, c in enumerate((4e16, 6e16, 8e16, 1e17))]
    frame = pd.DataFrame([{"run_id": r, "loss": loss, "final": 1, "tokens": c / 6e6}
                          for r, c, loss in good + bad])
    keep = _on_frontier(frame, frame["tokens"].to_numpy() * 6e6, 0.1)
    assert keep[:4].all()
    assert not keep[4:].any()       # before: the 8e16 branch alone was kept
