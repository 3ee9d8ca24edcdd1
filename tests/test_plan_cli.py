"""``scalinglab plan``, ``price`` and ``hardware`` through typer: JSON, tables, exit status 2."""

from __future__ import annotations

import json
import sys

import pytest
import typer
from typer.testing import CliRunner

from scalinglab.cli import plan_cmd
from scalinglab.cli.common import run_app
from scalinglab.errors import ScalingLabError
from tests.test_plan_planner import make_fit

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    plan_cmd.register(app)
    return app


@pytest.fixture
def fit_path(tmp_path):
    return make_fit().save(tmp_path / "fit.json")


def invoke(app, *args: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_plan_budget_json_with_fit_intervals(app, fit_path):
    result = invoke(app, "plan", "--budget-usd", "5e6", "--gpu", "h100", "--gpus", "1024",
                    "--fit", str(fit_path), "--inference-tokens", "1e13", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["direction"] == "budget" and plan["n_draws"] == 200
    assert plan["budget_usd"]["value"] == pytest.approx(5e6)
    assert plan["loss"]["low"] < plan["loss"]["value"] < plan["loss"]["high"]
    assert plan["inference"]["inference_aware"]["n_params"]["value"] < \
        plan["inference"]["chinchilla"]["n_params"]["value"]
    assert len(plan["ladder"]) == 5


def test_plan_target_loss_json(app, fit_path):
    result = invoke(app, "plan", "--target-loss", "2.0", "--fit", str(fit_path), "--json")
    plan = json.loads(result.stdout)
    assert plan["direction"] == "target-loss"
    cost = plan["budget_usd"]
    assert cost["low"] < cost["value"] < cost["high"]


def test_plan_table_for_preset_says_no_interval(app):
    result = invoke(app, "plan", "--budget-usd", "5e6", "--preset", "besiroglu2024")
    assert result.exit_code == 0
    assert "What 5e+06 USD buys" in result.stdout
    assert "no interval: preset besiroglu2024" in result.stdout
    assert "What each 10x more money buys" in result.stdout


def test_plan_table_shows_intervals_and_currency(app, fit_path):
    result = invoke(app, "plan", "--budget", "7e9", "--currency", "KRW", "--rate", "1400",
                    "--fit", str(fit_path), "--inference-tokens", "2e12")
    out = result.stdout
    assert "90% parameter interval" in out and "cost (KRW)" in out and "cost (USD)" in out
    assert "Sardana et al. 2024" in out and "inference-aware" in out
    assert "[" in out  # intervals printed as value [low, high], not eaten as markup


def test_price_reproduces_llama2_implied_mfu(app):
    result = invoke(app, "price", "--params", "70e9", "--tokens", "2e12", "--gpu-hours",
                    "1720320", "--gpu", "a100", "--json")
    out = json.loads(result.stdout)
    assert out["mfu_implied"] is True and round(100 * out["mfu"], 1) == 43.5
    assert out["cost_usd"] == pytest.approx(1_720_320 * 1.2)


def test_price_money_to_flops(app):
    out = json.loads(invoke(app, "price", "--money", "1.4e9", "--currency", "KRW", "--rate",
                            "1400", "--json").stdout)
    assert out["cost_usd"] == pytest.approx(1e6) and out["cost"] == pytest.approx(1.4e9)
    assert out["gpu_hours"] == pytest.approx(1e6 / 2.5)


def test_hardware_lists_presets_with_sources(app):
    out = json.loads(invoke(app, "hardware", "--json").stdout)
    keys = [g["key"] for g in out["gpus"]]
    assert {"a100", "h100", "h200", "b200"} <= set(keys)
    assert all(g["spec_source"] for g in out["gpus"])
    assert "H100 SXM" in invoke(app, "hardware").stdout


@pytest.mark.parametrize("args, message", [
    (["plan", "--budget-usd", "-5e6"], "budget must be a finite number > 0 USD"),
    (["plan", "--budget-usd", "5e6", "--mfu", "1.5"], "MFU must be in (0, 1]"),
    (["plan", "--target-loss", "1.5"], "not above the law's irreducible loss E = 1.8172"),
    (["plan", "--budget-usd", "5e6", "--gpu", "tpu"], "unknown GPU 'tpu'"),
    (["plan", "--budget-usd", "5e6", "--target-loss", "2"], "give exactly one of"),
    (["plan", "--budget", "5e6", "--currency", "EUR"], "give the exchange rate for EUR"),
    (["plan", "--budget-usd", "5e6", "--fit", "x.json", "--preset", "hoffmann2022"],
     "not both"),
    (["price", "--params", "7e10"], "go together"),
])
def test_bad_input_raises_one_line_library_error(app, args, message):
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ScalingLabError)
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_run_app_turns_bad_input_into_exit_2_and_one_line(app, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["scalinglab", "plan", "--budget-usd", "-1"])
    with pytest.raises(SystemExit) as exit_info:
        run_app(app)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: budget must be") and "\n" not in err


def test_target_loss_above_the_fitted_runs_is_refused_in_the_questions_terms(app, tmp_path):
    """A target the smallest fitted run already beats: no run to plan, said as such (not as
    "N lies 20 decades below the data"), one line, exit 2 from the console script."""
    import scalinglab
    from tests.clihelp import run_script
    from tests.test_run_intervals import sweep

    fit_path = scalinglab.fit(sweep(), bootstrap=0).save(tmp_path / "fit.json")

    result = runner.invoke(app, ["plan", "--target-loss", "50", "--fit", str(fit_path)])
    assert isinstance(result.exception, ScalingLabError)
    message = str(result.exception)
    assert "target loss 50 nats/token is above what the fitted runs reach" in message
    assert "\n" not in message
    proc = run_script("plan", "--target-loss", "50", "--fit", str(fit_path))
    assert proc.code == 2 and proc.err_lines == [f"error: {message}"], proc.stderr
    # a reachable target inside the data is still planned
    assert invoke(app, "plan", "--target-loss", "2.5", "--fit", str(fit_path)).exit_code == 0
