"""``scalinglab report SOURCE -o report.html``: the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalinglab.cli.common import console, parse_float, print_json
from scalinglab.cli.fit_cmds import ColumnsOpt, DeriveOpt, DropOpt, JsonOpt, LevelOpt


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(
    source: Annotated[Path, typer.Argument(
        help="A run table (CSV/Parquet), a fit JSON (`fit --out`), or a demo/sweep results "
             "directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")]
    = Path("report.html"),
    columns: ColumnsOpt = None,
    derive_tokens: DeriveOpt = False,
    drop_highest: DropOpt = 0,
    n_column: Annotated[str, typer.Option(
        help="Parameter count to use as N when fitting a table: n_params or n_params_total.")]
    = "n_params",
    runs: Annotated[Path | None, typer.Option(
        help="With a fit JSON: the run table it was fitted on (for the figures of runs).")]
    = None,
    bootstrap: Annotated[int, typer.Option(
        help="Bootstrap resamples when fitting a table.", min=0)] = 1000,
    level: LevelOpt = 0.9,
    seed: Annotated[int, typer.Option(help="Bootstrap seed when fitting a table.")] = 0,
    compute: Annotated[str | None, typer.Option(
        help="Target compute (FLOPs) for the frontier and allocation figure; default: the "
             "validation run's, or 10x the costliest run.")] = None,
    budgets: Annotated[str | None, typer.Option(
        help="Approach 2 compute budgets in FLOPs (comma-separated); default: clustered.")]
    = None,
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report (figures inline, nothing fetched) of a fit or study."""
    from scalinglab.report.html import command_line, write_report  # noqa: PLC0415
    from scalinglab.report.sources import load_source  # noqa: PLC0415

    inputs = load_source(
        source, columns=columns, derive_tokens=derive_tokens, drop_highest=drop_highest,
        runs=runs, fit_options={"n_column": n_column}, bootstrap=bootstrap, level=level,
        seed=seed, budgets=None if budgets is None else
        [parse_float(b, "--budgets") for b in budgets.split(",")],
        target_compute=None if compute is None else parse_float(compute, "--compute"))
    written = write_report(out, inputs, command=command_line(), title=title)
    if as_json:
        print_json({"path": str(written.path), "figures": written.figures,
                    "omitted": written.omitted})
        return
    for key, reason in written.omitted.items():
        console.print(f"[dim]left out {key}: {reason}[/dim]", highlight=False)
    console.print(f"wrote {written.path} ({len(written.figures)} figures)", highlight=False)
