"""The fitting core on the command line: outputs, JSON, and one-line errors with exit 2."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from tests.clihelp import run_script
from tests.conftest import EPOCH_COLUMNS, EPOCH_CSV, shared_file

runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scalinglab", *args], capture_output=True,
                          text=True, timeout=120)


def test_fit_epoch_json_and_reload(tmp_path):
    out = tmp_path / "fit.json"
    result = runner.invoke(app, ["fit", str(shared_file(EPOCH_CSV)), "--columns", EPOCH_COLUMNS,
                                 "--derive-tokens", "--drop-highest", "5", "--bootstrap", "50",
                                 "--frontier-filter", "none", "--law", "chinchilla",
                                 "--huber-delta", "1e-3",   # Epoch's protocol
                                 "--compute", "5.76e23", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["n_points"] == 240
    assert payload["law"]["params"]["E"] == pytest.approx(1.817, rel=0.01)
    assert payload["frontier"][0]["tokens_per_param"]["value"] == pytest.approx(18.4, rel=0.05)
    predicted = runner.invoke(app, ["predict", "--fit", str(out), "--params", "70e9",
                                    "--tokens", "1.4e12", "--json"])
    assert predicted.exit_code == 0, predicted.output
    pred = json.loads(predicted.stdout)
    assert pred["low"] < pred["loss"] < pred["high"]


def test_fit_table_output_mentions_parameters():
    result = runner.invoke(app, ["fit", str(shared_file(EPOCH_CSV)), "--columns", EPOCH_COLUMNS,
                                 "--derive-tokens", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    for word in ("alpha", "beta", "RMSE of log loss"):
        assert word in result.stdout


def test_predict_and_frontier_with_presets():
    pred = runner.invoke(app, ["predict", "--preset", "hoffmann2022", "--params", "70e9",
                               "--tokens", "1.4e12", "--json"])
    assert pred.exit_code == 0, pred.output
    expected = 1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28
    assert json.loads(pred.stdout)["loss"] == pytest.approx(expected, rel=1e-12)
    front = runner.invoke(app, ["frontier", "--preset", "besiroglu2024", "--compute", "5.76e23",
                                "--json"])
    assert front.exit_code == 0, front.output
    f = json.loads(front.stdout)["frontier"][0]
    assert f["N_opt"]["value"] == pytest.approx(7.22e10, rel=0.005)
    assert f["loss"]["value"] == pytest.approx(1.974, abs=5e-4)
    laws = runner.invoke(app, ["laws", "--json"])
    names = {row["name"] for row in json.loads(laws.stdout)}
    assert {"kaplan2020", "hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024"} <= names


def test_backtest_command():
    result = runner.invoke(app, ["backtest", str(shared_file(EPOCH_CSV)), "--columns",
                                 EPOCH_COLUMNS, "--derive-tokens", "--drop-highest", "5",
                                 "--cut-flops", "1e21", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["median_are"] < summary["median_naive_are"]


def test_backtest_prints_each_warning_once():
    """The fit's warnings reach the user once, prefixed "fit: " (they were printed twice)."""
    table = shared_file(EPOCH_CSV.parents[1] / "scaling-dev" / "cerebras_gpt.csv")
    proc = run_script("backtest", str(table), "--cut-flops", "1e21")
    assert proc.code == 0, proc.stderr
    messages: list[str] = []                  # each warning, its wrapped lines joined
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith(("warning: ", "note: ", "error: ", "│", "┃", "┏", "└")) or not messages:
            messages.append(line)
        else:
            messages[-1] += " " + line
    warnings = [" ".join(m.removeprefix("warning: ").removeprefix("fit: ").split())
                for m in messages if m.startswith("warning: ")]
    assert any("E fell to its floor" in w for w in warnings)      # the fit's own warning
    assert any("direction mixing log E" in w for w in warnings)   # E, not the raw name "e"
    assert "mean signed rel error" in proc.stdout                  # beside the unsigned "are"
    assert len(warnings) == len(set(warnings)), proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["fit", "missing.csv"], "does not exist"),
    (["predict", "--preset", "nope", "--params", "1e9", "--tokens", "1e10"], "unknown preset"),
    (["predict", "--preset", "hoffmann2022", "--params", "-5", "--tokens", "1e10"], "> 0"),
    (["frontier", "--preset", "hoffmann2022"], "--compute"),
    (["predict", "--params", "1e9", "--tokens", "1e9"], "exactly one of --fit"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_malformed_tables_exit_2(tmp_path):
    nan = tmp_path / "nan.csv"
    nan.write_text("n_params,tokens,loss\n1e6,1e8,3.0\n2e6,2e8,nan\n4e6,4e8,2.8\n")
    few = tmp_path / "few.csv"
    few.write_text("n_params,tokens,loss\n1e6,1e8,3.0\n2e6,2e8,2.9\n")
    text = tmp_path / "text.csv"
    text.write_text("n_params,tokens,loss\n1e6,1e8,abc\n")
    for path, message in [(nan, "NaN"), (few, "cannot determine"), (text, "non-numeric")]:
        proc = cli("fit", str(path), "--bootstrap", "0")
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and proc.stderr.count("\n") == 1


def test_a_table_of_N_D_and_loss_fits_through_the_console_script(tmp_path):
    rows = [(n, 20 * n * f) for n in (1e7, 3e7, 1e8, 3e8) for f in (0.5, 1.0, 2.0)]
    lines = [f"{n},{d},{1.8 + 400 * n**-0.34 + 1800 * d**-0.28}\n" for n, d in rows]
    table = tmp_path / "nd.csv"
    table.write_text("N,D,loss\n" + "".join(lines))
    done = run_script("fit", str(table), "--bootstrap", "0")
    assert done.code == 0, done.stderr
    assert "column 'N' read as n_params" in done.stdout + done.stderr
