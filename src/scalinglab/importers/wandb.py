"""Weights & Biases CSV exports -> records.

Two shapes are read: a runs-table ("summary") export, one row per run, and a history export
(``run.history()`` rows with a run-name column), many rows per run.  The mapping names the
columns: ``loss`` (nats/token), ``tokens`` (D), ``n_params`` (N), optional ``flops`` (C),
``final`` and ``run_id`` (default: the first of Name, name, run, run_id present).  Rows of a
run are sorted by tokens; a summary row is its run's final point.
"""

from __future__ import annotations

import math

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.importers.rows import MetricsError, RunInfo, rows_to_records
from scalinglab.records import read_table, records_to_frame

RUN_COLUMNS = ("Name", "name", "run", "run_id")


def read_wandb_csv(path: str, mapping: dict[str, str] | None = None
                   ) -> tuple[pd.DataFrame, list[str]]:
    """Records (one run per distinct run name) and warnings from a W&B CSV export."""
    mapping = dict(mapping or {})
    frame = read_table(path)
    run_column = mapping.pop("run_id", None) or next((c for c in RUN_COLUMNS
                                                       if c in frame.columns), None)
    if run_column is None or run_column not in frame.columns:
        raise ScalingLabError(f"W&B CSV {path!r} has no run-name column (looked for "
                              f"{', '.join(RUN_COLUMNS)}; map one with run_id=COLUMN)")
    for name in ("loss", "tokens", "n_params"):
        mapping.setdefault(name, name)
    missing = {k: v for k, v in mapping.items() if v not in frame.columns and not _is_number(v)}
    if missing:
        listed = ", ".join(f"{k}={v!r}" for k, v in missing.items())
        raise ScalingLabError(f"W&B CSV {path!r} has no column(s) for {listed}; its columns: "
                              f"{', '.join(map(str, frame.columns[:20]))}")
    records, warnings = [], []
    for run_id, group in frame.groupby(run_column, sort=False):
        rows = [_row(values, mapping) for values in group.to_dict("records")]
        rows = [r for r in rows if not math.isnan(r["loss"]) or r.get("tokens") is not None]
        rows.sort(key=lambda r: r["tokens"])
        try:
            got, notes = rows_to_records(rows, RunInfo(run_id=str(run_id)), f"W&B run {run_id}")
        except MetricsError as exc:
            raise ScalingLabError(str(exc)) from None
        records.extend(got)
        warnings.extend(notes)
    return records_to_frame(records), warnings


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _row(values: dict, mapping: dict[str, str]) -> dict:
    row: dict = {}
    for name, source in mapping.items():
        value = float(source) if _is_number(source) else values[source]
        if name == "final":
            row[name] = bool(value)
        elif value is not None and not (isinstance(value, float) and math.isnan(value)) \
                or name == "loss":
            row[name] = float(value)
    return row
