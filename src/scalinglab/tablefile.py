"""Run tables on disk: CSV (comma or semicolon, BOM tolerated) or Parquet, read and written
with one-line errors.  :mod:`scalinglab.records` gives the rows their meaning."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from scalinglab.errors import RunsError


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with one-line errors."""
    path = Path(path)
    if not path.exists():
        raise RunsError(f"run table {str(path)!r} does not exist")
    if path.is_dir():
        raise RunsError(f"run table {str(path)!r} is a directory, not a CSV or Parquet file")
    suffix = path.suffix.lower()
    sep = ","
    if suffix not in (".parquet", ".pq"):
        sep = _csv_separator(path)
        _check_header(path, sep)
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=sep, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError,
            ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunsError(f"cannot read run table {str(path)!r}: {first_line}") from None


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        return handle.readline()


def _csv_separator(path: Path) -> str:
    """``,`` unless the header has no comma but semicolons (spreadsheet exports in many
    locales); a BOM is stripped by the ``utf-8-sig`` encoding."""
    header = _first_line(path)
    return ";" if "," not in header and ";" in header else ","


def _check_header(path: Path, sep: str) -> None:
    """Refuse duplicated column names (pandas would silently rename the second ``x.1``)."""
    names = [n.strip() for n in next(csv.reader([_first_line(path)], delimiter=sep), [])]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise RunsError(f"run table {str(path)!r} has the column {name!r} more than once")
        seen.add(name)


def write_runs(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a run table to CSV or Parquet (chosen by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
