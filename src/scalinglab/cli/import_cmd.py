"""``scalinglab import tensorboard|jsonl|wandb``: runs that already exist -> a run table/store.

The commands parse options and print; the work is in :mod:`scalinglab.importers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from scalinglab.cli.common import JsonOpt, console, err_console, print_json

MapOpt = Annotated[str | None, typer.Option(
    "--map", help="Where each quantity is: loss=TAG_OR_KEY, tokens=..., N=config:KEY or a "
                  "number, C=..., batch_tokens=... (comma-separated).")]
OutOpt = Annotated[Path, typer.Option(
    "--out", help="A .csv/.parquet run table (what fit, report and plan read) or a sweep "
                  "directory (a run store).")]


def register(app: typer.Typer) -> None:
    """Add ``import`` (tensorboard, jsonl, wandb) to the app."""
    group = typer.Typer(help="Import logged runs (TensorBoard, JSON lines, W&B CSV) into a run "
                             "table or store.", no_args_is_help=True)
    group.command("tensorboard")(tensorboard_command)
    group.command("jsonl")(jsonl_command)
    group.command("wandb")(wandb_command)
    app.add_typer(group, name="import")


def tensorboard_command(
    directory: Annotated[Path, typer.Argument(help="Directory of TensorBoard event files.")],
    out: OutOpt, mapping: MapOpt = None, as_json: JsonOpt = False,
) -> None:
    """Each directory of event files (or with scalinglab_run.json) is a run; --map loss=TAG."""
    from scalinglab.importers import parse_mapping, read_tensorboard  # noqa: PLC0415

    frame, warnings = read_tensorboard(directory, parse_mapping(mapping))
    _finish(frame, warnings, out, str(directory), as_json)


def jsonl_command(
    directory: Annotated[Path, typer.Argument(help="Directory of metrics.jsonl files.")],
    out: OutOpt, mapping: MapOpt = None, as_json: JsonOpt = False,
) -> None:
    """Each directory holding metrics.jsonl (the results contract) is a run."""
    from scalinglab.importers import parse_mapping, read_jsonl  # noqa: PLC0415

    frame, warnings = read_jsonl(directory, parse_mapping(mapping))
    _finish(frame, warnings, out, str(directory), as_json)


def wandb_command(
    csv: Annotated[Path, typer.Argument(help="A W&B CSV export (runs table or history).")],
    out: OutOpt, mapping: MapOpt = None, as_json: JsonOpt = False,
) -> None:
    """One run per run name; --map loss=COLUMN,tokens=COLUMN,N=COLUMN[,C=...,run_id=...]."""
    from scalinglab.importers import parse_mapping, read_wandb_csv  # noqa: PLC0415

    frame, warnings = read_wandb_csv(str(csv), parse_mapping(mapping))
    _finish(frame, warnings, out, str(csv), as_json)


def _finish(frame: pd.DataFrame, warnings: list[str], out: Path, source: str,
            as_json: bool) -> None:
    from scalinglab.importers import write_imported  # noqa: PLC0415

    path = write_imported(frame, out, source)
    runs = int(frame["run_id"].nunique())
    finals = int(frame["final"].sum())
    for warning in warnings:
        err_console.print(f"warning: {warning}", markup=False)
    if as_json:
        print_json({"path": str(path), "runs": runs, "rows": len(frame), "final_rows": finals,
                    "warnings": warnings})
    else:
        console.print(f"imported {runs} run(s), {len(frame)} row(s) ({finals} final) from "
                      f"{source} to {path}", markup=False, soft_wrap=True)
