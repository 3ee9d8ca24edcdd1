"""Report page helpers: the reproduce command wraps between arguments, dropped rows in natural
order with their reason, and run ids sorted as a person would."""

from __future__ import annotations

import shlex
from types import SimpleNamespace

from scalinglab.report import dropped_rows
from scalinglab.report.html import format_command
from scalinglab.text import natural_sorted

EPOCH_COMMAND = ("scalinglab report ../shared/data/chinchilla/epoch_svg_extracted_data.csv "
                 "--columns 'N=\"Model Size\",C=\"Training FLOP\",loss=loss' --derive-tokens "
                 "-o r.html")


def test_the_reproduce_command_wraps_between_arguments_and_still_parses():
    wrapped = format_command(EPOCH_COMMAND, width=60)
    lines = wrapped.split("\n")
    assert len(lines) > 1 and all(line.endswith(" \\") for line in lines[:-1])
    # no word is cut: the shell reads the same words back
    assert shlex.split(wrapped.replace("\\\n", " ")) == shlex.split(EPOCH_COMMAND)
    assert any(line.strip().startswith("--columns 'N=") for line in lines)  # flag with value
    assert format_command("scalinglab fit a.csv") == "scalinglab fit a.csv"
    assert format_command("unbalanced 'quote") == "unbalanced 'quote"


def test_dropped_rows_are_in_natural_order_with_their_reason():
    fit = SimpleNamespace(settings={"frontier_filter": 0.1}, diagnostics={"dropped": [
        {"run_id": f"run{i}", "loss": 3.0 + i, "compute": 1e19} for i in (10, 2, 1, 11, 0)]})
    rows = dropped_rows(fit)
    assert rows["run_id"].tolist() == ["run0", "run1", "run2", "run10", "run11"]
    assert rows["reason"].iloc[0].startswith("frontier filter: final loss more than 10% above")
    assert dropped_rows(SimpleNamespace(settings={}, diagnostics={})).empty


def test_natural_sort_orders_numbers_by_value():
    assert natural_sorted(["run10", "run2", "run1", "c1e+19-10", "c1e+19-2"]) == [
        "c1e+19-2", "c1e+19-10", "run1", "run2", "run10"]
