"""``scalinglab report SOURCE -o report.html``: the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalinglab.cli.common import (
    DEFAULT_CHECKPOINTS,
    DEFAULT_FRONTIER,
    CheckpointsOpt,
    ColumnsOpt,
    CutsOpt,
    DeriveFlopsOpt,
    DeriveTokensOpt,
    DropOpt,
    FrontierFilterOpt,
    JsonOpt,
    LawOpt,
    LevelOpt,
    LevelsOpt,
    NColumnOpt,
    VariableOpt,
    calibration_options,
    console,
    parse_float,
    print_json,
    print_warnings,
    row_options,
)
from scalinglab.cli.terms import cli_terms
from scalinglab.errors import ScalingLabError


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(
    source: Annotated[Path, typer.Argument(
        help="A run table (CSV/Parquet), a fit JSON (`fit --out`), or a demo/sweep results "
             "directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")]
    = Path("report.html"),
    law: LawOpt = "auto",
    variable: VariableOpt = None,
    checkpoints_after: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    frontier_filter: FrontierFilterOpt = DEFAULT_FRONTIER,
    n_column: NColumnOpt = "n_params",
    columns: ColumnsOpt = None,
    derive_tokens: DeriveTokensOpt = False,
    derive_flops: DeriveFlopsOpt = False,
    drop_highest: DropOpt = 0,
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
    cuts: CutsOpt = None,
    levels: LevelsOpt = None,
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report (figures inline, nothing fetched) of a fit or study.

    The fitting options (--law, --checkpoints-after, --frontier-filter, --n-column, ...) apply
    when SOURCE is a run table; the reading options (--columns, the derive flags,
    --drop-highest) to a run table given as SOURCE or as --runs."""
    from scalinglab.report.html import command_line, write_report  # noqa: PLC0415
    from scalinglab.report.sources import load_source  # noqa: PLC0415

    calibration = calibration_options(cuts, levels)
    if calibration and (source.suffix.lower() == ".json"
                        or (source / "fit_approach3.json").is_file()):
        raise ScalingLabError(f"--cuts and --levels calibrate a fit the report makes from a run "
                              f"table; {str(source)!r} holds a finished fit")
    inputs = load_source(
        source, columns=columns, derive_tokens=derive_tokens, derive_flops=derive_flops,
        drop_highest=drop_highest, runs=runs, bootstrap=bootstrap, level=level,
        fit_options={"law": law, **row_options(checkpoints_after, frontier_filter, n_column,
                                               variable), **calibration},
        seed=seed, budgets=None if budgets is None else
        [parse_float(b, "--budgets") for b in budgets.split(",")],
        target_compute=None if compute is None else parse_float(compute, "--compute"))
    notes = [] if inputs.runs is None else list(inputs.runs.attrs.get("notes", []))
    written = write_report(out, inputs, command=command_line(), title=title, spell=cli_terms)
    if as_json:
        print_json({"path": str(written.path), "figures": written.figures,
                    "omitted": written.omitted})
        return
    print_warnings(notes, label="note:")
    print_warnings([f"{key}: {reason}" for key, reason in written.omitted.items()],
                   label="left out")
    console.print(f"wrote {written.path} ({len(written.figures)} figures)", highlight=False)
