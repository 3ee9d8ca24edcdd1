"""FitSettings: one validated settings object, the API and CLI accepting the same things, and the
result carrying its settings and its rows (saved, reloaded, and read from version-1 files)."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import scalinglab
from scalinglab.errors import ScalingLabError, SettingError
from scalinglab.fit import FitProcedure, FitResult, FitSettings, fit_parametric, row_compute
from scalinglab.laws import get_preset
from tests.clihelp import assert_one_line_error, run_inprocess, run_script

TRUTH = get_preset("hoffmann2022-unrounded").law


def sweep(seed: int = 0) -> pd.DataFrame:
    """Three IsoFLOP budgets of 8 sizes, 2% noise, plus one run 40% above the frontier."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in np.logspace(18, 20, 3):
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.logspace(-0.8, 0.8, 8):
            rows.append((n_opt * f, C / (6 * n_opt * f), C))
    a = np.array(rows)
    loss = TRUTH.predict(N=a[:, 0], D=a[:, 1]) * np.exp(rng.normal(0, 0.02, len(a)))
    frame = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                          "tokens": a[:, 1], "flops": a[:, 2], "loss": loss})
    frame.loc[5, "loss"] *= 1.4
    return frame


@pytest.mark.parametrize(("field", "value", "words"), [
    ("checkpoints_after", 1.5, 'checkpoints_after must be a fraction in [0, 1), "auto" or "final"'),
    ("checkpoints_after", "sometimes", "checkpoints_after must be a fraction"),
    ("frontier_filter", -1, "frontier_filter must be a number > 0"),
    ("huber_delta", 0, "huber_delta must be a number > 0"),
    ("level", 1.0, "level must be a confidence level in (0, 1)"),
    ("bootstrap", -3, "bootstrap must be a whole number >= 0 resamples"),
    ("seed", 1.5, "seed must be a whole number >= 0"),
    ("law", "quadratic", "law must be one of power, chinchilla"),
    ("method", "bfgs", "method must be varpro or hoffmann"),
    ("E_bounds", (2.0, 1.0), "E_bounds must satisfy 0 <= low < high"),
    ("E_prior", (1.7, 0.0), "E_prior must be (mean, sd) with both > 0"),
    ("E_fixed", -1.0, "E_fixed must be a loss > 0"),
    ("calibration_cuts", [1e20, -1], "calibration_cuts must be FLOP counts > 0"),
    ("variable", "X", "variable must be N, D or C"),
])
def test_each_setting_is_checked_once_with_its_name(field, value, words):
    with pytest.raises(SettingError) as info:
        FitSettings(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(words)
    assert info.value.spelled("--flag").startswith("--flag must")


def test_settings_normalise_what_they_accept():
    s = FitSettings(checkpoints_after="final", calibration_cuts=[3e20, 1e20, 3e20],
                    E_bounds=[0.5, 2], level=0.8)
    assert s.checkpoints_after is None and s.calibration_cuts == (1e20, 3e20)
    assert s.E_bounds == (0.5, 2.0)
    assert FitSettings(checkpoints_after="AUTO").checkpoints_after == "auto"
    assert FitSettings.from_dict(s.to_dict()) == s


def test_unknown_keyword_names_the_closest_setting():
    with pytest.raises(SettingError, match="checkpoint_after is not a fit setting; did you mean "
                                           "checkpoints_after"):
        scalinglab.fit(sweep(), checkpoint_after=0.1)


def test_api_accepts_what_the_cli_accepts():
    runs = sweep()
    final = scalinglab.fit(runs, checkpoints_after="final", calibrate=False)
    none = scalinglab.fit(runs, checkpoints_after=None, calibrate=False)
    assert final.params == none.params
    assert final.settings.checkpoints_after is None


def test_settings_object_and_overrides_give_the_same_fit():
    runs = sweep()
    by_keywords = fit_parametric(runs, law="chinchilla", frontier_filter=0.2, calibrate=False)
    settings = FitSettings(frontier_filter=0.2, calibrate=False)
    by_object = scalinglab.fit(runs, settings)
    assert by_object.params == by_keywords.params
    assert by_object.settings == by_keywords.settings
    # the result records the Huber delta the fit used, the settings ask for "auto"
    assert settings.huber_delta == "auto" and by_object.settings.huber_delta >= 1e-3
    assert replace(by_object.settings, huber_delta="auto") == settings
    assert isinstance(by_object.procedure, FitProcedure)


def test_help_shows_a_real_signature_and_the_settings():
    signature = inspect.signature(scalinglab.fit)
    assert list(signature.parameters)[:2] == ["runs", "settings"]
    text = scalinglab.fit.__doc__
    for name in ("checkpoints_after", "frontier_filter", "huber_delta", "nats/token", "FLOPs"):
        assert name in text


def test_result_carries_its_rows_with_the_reason_and_saves_them(tmp_path):
    result = fit_parametric(sweep(), calibrate=False)
    rows = result.rows
    assert list(rows.columns) == ["run_id", "N", "D", "C", "loss", "used", "reason"]
    assert len(rows) == 24 and int(rows["used"].sum()) == result.n_points
    dropped = rows[~rows["used"]]
    assert "r5" in set(dropped["run_id"]) and set(dropped["reason"]) == {"frontier filter"}
    np.testing.assert_allclose(rows["C"], row_compute(sweep()), rtol=1e-12)
    path = tmp_path / "fit.json"
    result.save(path)
    back = FitResult.load(path)
    pd.testing.assert_frame_equal(back.rows, rows)
    assert back.settings == result.settings and back.procedure == result.procedure


def test_checkpoint_rows_left_out_are_listed():
    runs = sweep()
    early = runs.assign(tokens=runs["tokens"] / 10, flops=runs["flops"] / 10, final=False,
                        loss=runs["loss"] * 1.3)
    curves = pd.concat([early, runs.assign(final=True)], ignore_index=True)
    result = fit_parametric(curves, checkpoints_after="final", calibrate=False)
    left = result.rows[result.rows["reason"].str.startswith("not selected")]
    assert len(left) == 24 and not left["used"].any()
    assert len(result.rows) == 48


def test_version_1_fit_files_are_converted(tmp_path):
    result = fit_parametric(sweep(), bootstrap=5, seed=3, calibrate=False)
    old = result.to_dict()
    old["version"] = 1
    old["settings"] = {**old["settings"], "objective": "sum of Huber on log-loss residuals",
                       "rows": "final rows of each run", "bootstrap_unit": "runs"}
    del old["settings"]["level"], old["procedure"], old["rows"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    back = FitResult.load(path)
    assert back.settings == result.settings and back.settings.seed == 3
    assert back.procedure.rows == "final rows of each run" and back.rows is None
    old["settings"]["huber_delta"] = -1
    path.write_text(json.dumps(old))
    with pytest.raises(ScalingLabError, match="fit file settings are unusable: huber_delta"):
        FitResult.load(path)


def test_row_compute_prefers_the_flops_column_then_6nd():
    frame = pd.DataFrame({"n_params": [1e6, 2e6, 3e6], "tokens": [1e9, 1e9, 1e9],
                          "flops": [7e15, np.nan, 0.0]})
    np.testing.assert_allclose(row_compute(frame), [7e15, 1.2e16, 1.8e16])
    assert row_compute(frame.drop(columns=["tokens", "flops"])) is None


def test_cli_names_the_flag(tmp_path):
    table = tmp_path / "runs.csv"
    sweep().to_csv(table, index=False)
    assert_one_line_error(run_script("fit", str(table), "--checkpoints-after", "1.5",
                                     "--bootstrap", "0"),
                          "--checkpoints-after must be a fraction in [0, 1)")
    assert_one_line_error(run_inprocess("fit", str(table), "--E-prior", "1.7,-1"), "--E-prior")
    assert_one_line_error(run_inprocess("fit", str(table), "--law", "quadratic"),
                          "--law must be one of power, chinchilla")


def test_the_start_screen_runs_once_per_fit(monkeypatch):
    """The point fit, the bootstrap and the calibration refits all start from one screen."""
    import scalinglab.fit.optimise as optimise
    import scalinglab.fit.parametric as parametric

    calls = []
    original = optimise.screen_starts

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(optimise, "screen_starts", counted)
    monkeypatch.setattr(parametric, "screen_starts", counted)
    result = fit_parametric(sweep(), bootstrap=20, seed=0)
    assert result.run_interval is not None and len(result.bootstrap_params) == 20
    assert len(calls) == 1
