"""Importers: runs that already exist (TensorBoard, JSON lines, W&B CSV) -> run records.

Each reader returns a records DataFrame (the :mod:`scalinglab.records` columns, which ``fit``,
``report`` and ``plan`` read) and a list of warnings; :func:`write_imported` writes it as a
CSV/Parquet table or into a run store.  The results contract they share with the external
trainer is in :mod:`scalinglab.importers.rows`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalinglab.importers.logs import parse_mapping, read_jsonl, read_tensorboard
from scalinglab.importers.rows import MetricsError, RunInfo, rows_to_records
from scalinglab.importers.wandb import read_wandb_csv
from scalinglab.records import RunRecord, write_runs

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def write_imported(frame: pd.DataFrame, out: str | Path, source: str) -> Path:
    """Write imported records to a table (by suffix) or a run store directory (done runs)."""
    out = Path(out)
    if out.suffix.lower() in TABLE_SUFFIXES:
        return write_runs(frame, out)
    from scalinglab.sweep.store import SQLiteRunStore, StoredRun, config_hash  # noqa: PLC0415

    with SQLiteRunStore(out) as store:
        for run_id, group in frame.groupby("run_id", sort=False):
            key = config_hash({"imported": str(run_id)}, source)
            store.add_runs([StoredRun(key=key, name=str(run_id), role="sweep",
                                      config={"imported_from": source})])
            records = [RunRecord(**row) for row in group.to_dict("records")]
            store.mark_done(key, records, float("nan"), float(group["flops"].max()),
                            {"imported_from": source})
        return store.path


__all__ = ["MetricsError", "RunInfo", "parse_mapping", "read_jsonl", "read_tensorboard",
           "read_wandb_csv", "rows_to_records", "write_imported"]
