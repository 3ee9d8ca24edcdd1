"""``scalinglab report`` renders a report for every law form the CLI offers.

A compute-only law L(C) once lost its residuals figure ("'Axes' object is not iterable": one
panel came back from matplotlib as a bare Axes), and a data-constrained fit lost it for want of
the unique-token column.  Each form is fitted on a small IsoFLOP table without bootstrap; every
figure left out must be a stated refusal (a ScalingLabError), never a crash, and the residuals,
which any law has, must be drawn.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalinglab.laws.registry import LAW_FORMS
from scalinglab.report.html import build_figures
from scalinglab.report.sources import inputs_from_table
from tests.clihelp import run_script
from tests.isoflop_tables import hoffmann_isoflop_runs


def _law_options() -> list[dict[str, str]]:
    """Every ``--law`` (and ``--variable`` for the power law) the CLI accepts."""
    options: list[dict[str, str]] = [{"law": "auto"}]
    for name in LAW_FORMS:
        if name == "power":
            options += [{"law": "power", "variable": v} for v in ("N", "D", "C")]
        else:
            options.append({"law": name})
    return options


def _table() -> pd.DataFrame:
    """Four IsoFLOP lines of the Hoffmann 2022 law, 4 sizes each, 1% noise, with a unique-token
    column (1 to 3 epochs) for the data-constrained law."""
    return hoffmann_isoflop_runs(budgets=4, sizes=4, spread=0.5,
                                 extra=lambda k, d: {"unique_tokens": d / (1 + k % 3)})


def test_the_cli_offers_every_registered_law_form():
    from scalinglab.cli.common import LawOpt

    help_text = LawOpt.__metadata__[0].help
    assert all(name in help_text for name in LAW_FORMS), help_text


@pytest.mark.parametrize("options", _law_options(), ids=lambda o: "-".join(o.values()))
def test_every_law_form_renders_a_report_with_its_residuals(options):
    inputs = inputs_from_table(_table(), "runs.csv", bootstrap=0, fit_options=dict(options))
    figures = {f.key: f for f in build_figures(inputs)}
    crashed = {k: f.reason for k, f in figures.items() if f.failed}
    assert not crashed, crashed
    assert figures["residuals"].svg is not None, figures["residuals"].reason


def _report_law_in_c(tmp_path, table: pd.DataFrame, bootstrap: str) -> tuple[dict, str]:
    """``scalinglab report TABLE --law power --variable C`` through the console script."""
    path, out = tmp_path / "runs.csv", tmp_path / "r.html"
    table.to_csv(path, index=False)
    done = run_script("report", str(path), "--law", "power", "--variable", "C",
                      "--bootstrap", bootstrap, "-o", str(out), "--json")
    assert done.code == 0, done.stderr
    return json.loads(done.stdout), out.read_text()


def test_compute_only_law_report_through_the_console_script(tmp_path):
    payload, html = _report_law_in_c(tmp_path, _table(), "0")
    assert "residuals" in payload["figures"], payload["omitted"]
    assert "not iterable" not in json.dumps(payload["omitted"])
    assert html.count("<svg") == len(payload["figures"])
    # the residuals are drawn against C for a law in C, and the caption says so
    assert "residuals of the fitted rows against C (FLOPs);" in html
    assert "with the fitted L(C) and its band" in html


def test_a_table_of_compute_and_loss_alone_gets_its_loss_against_compute_figure(tmp_path):
    """No N to colour by: the runs are drawn in one colour (it was left out, 'needs n_params')."""
    compute = np.logspace(18, 21, 12)
    table = pd.DataFrame({"flops": compute, "loss": 1.7 + 900 * compute**-0.12})
    payload, html = _report_law_in_c(tmp_path, table, "20")
    assert "loss_vs_compute" in payload["figures"], payload["omitted"]
    assert "with the fitted L(C) and its band" in html
