"""Import runs that already exist: directories of JSON-lines or TensorBoard logs.

A *run* is the nearest directory (under the imported one) holding ``scalinglab_run.json``
(written by a sweep's external trainer: the import then gives exactly the sweep's rows), else
the directory holding the log files -- TensorBoard's own notion of a run.

The mapping (``--map``) names where each quantity is: ``loss=eval/loss`` (a JSON key or a
TensorBoard tag), ``N=config:n_params`` (a key of the run's JSON config file: the
``scalinglab_run.json`` values, else ``config.json``), or a number (``N=1.2e6``).  Keys:
``loss``, ``tokens`` (D), ``n_params`` (N), ``flops`` (C) and, for TensorBoard, ``batch_tokens``
(tokens per step when no tokens tag is logged).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.importers.jsonl import METRICS_FILE, read_jsonl_rows
from scalinglab.importers.rows import (
    RUN_INFO_FILE,
    MetricsError,
    RunInfo,
    read_run_info,
    rows_to_records,
)
from scalinglab.records import RunRecord, records_to_frame

MAPPING_KEYS = {"N": "n_params", "D": "tokens", "C": "flops", "L": "loss", "loss": "loss",
                "tokens": "tokens", "n_params": "n_params", "flops": "flops",
                "batch_tokens": "batch_tokens", "run_id": "run_id", "final": "final"}
CONFIG_FILES = ("config.json",)


def parse_mapping(text: str | None) -> dict[str, str]:
    """``loss=eval/loss,N=config:n_params`` -> {record field: source}; one-line errors."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "=" not in part:
            raise ScalingLabError(f"--map item {part!r} is not of the form NAME=SOURCE")
        name, source = (s.strip() for s in part.split("=", 1))
        if name not in MAPPING_KEYS:
            raise ScalingLabError(f"--map names unknown quantity {name!r}; use "
                                  f"{', '.join(sorted(MAPPING_KEYS))}")
        if not source:
            raise ScalingLabError(f"--map {name}= has no source")
        mapping[MAPPING_KEYS[name]] = source.strip("\"'")
    return mapping


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def run_roots(directory: Path, log_files: list[Path]) -> dict[Path, list[Path]]:
    """{run directory: its log files}: the nearest ancestor with scalinglab_run.json, else
    the log file's own directory."""
    roots: dict[Path, list[Path]] = {}
    for path in log_files:
        root = path.parent
        for candidate in [path.parent, *path.parent.parents]:
            if (candidate / RUN_INFO_FILE).is_file():
                root = candidate
                break
            if candidate == directory:
                break
        roots.setdefault(root, []).append(path)
    return dict(sorted(roots.items()))


def _run_config(run_dir: Path) -> dict[str, Any]:
    data = read_run_info(run_dir)
    if data is not None:
        return {**data.get("values", {}), **data.get("info", {})}
    for name in CONFIG_FILES:
        path = run_dir / name
        if path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except (ValueError, OSError) as exc:
                raise ScalingLabError(f"cannot read {str(path)!r}: {exc}") from None
            return loaded if isinstance(loaded, dict) else {}
    return {}


def _resolve_constant(source: str, config: dict, run: str, name: str) -> float | None:
    """A number or ``config:KEY``; None when ``source`` names a per-row key or tag."""
    value = _number(source)
    if value is not None:
        return value
    if source.startswith("config:"):
        key = source[len("config:"):]
        if key not in config:
            raise ScalingLabError(f"run {run}: {name} is mapped to {source!r}, but its config "
                                  f"has no key {key!r} (keys: "
                                  f"{', '.join(sorted(map(str, config))[:12]) or 'none'})")
        try:
            return float(config[key])
        except (TypeError, ValueError):
            raise ScalingLabError(f"run {run}: config key {key!r} is {config[key]!r}, not a "
                                  f"number") from None
    return None


def run_info_for(run_dir: Path, directory: Path, mapping: dict[str, str]) -> RunInfo:
    """The run's :class:`RunInfo`: its scalinglab_run.json, else built from the mapping."""
    data = read_run_info(run_dir)
    name = str(run_dir.relative_to(directory)) if run_dir != directory else run_dir.name
    info = RunInfo.from_dict(data["info"]) if data and "info" in data else RunInfo(run_id=name)
    config = _run_config(run_dir)
    for field in ("n_params", "batch_tokens"):
        source = mapping.get(field)
        value = None if source is None else _resolve_constant(source, config, name, field)
        if value is not None:
            setattr(info, field, value)
    return info


def import_runs(directory: str | Path, pattern: str, what: str,
                read: Callable[[Path, list[Path]], tuple[list, list]]
                ) -> tuple[pd.DataFrame, list[str]]:
    """Records of every run under ``directory`` whose logs match ``pattern``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ScalingLabError(f"{str(directory)!r} is not a directory of {what} logs")
    files = sorted(directory.rglob(pattern))
    if not files:
        raise ScalingLabError(f"no {what} logs ({pattern}) under {str(directory)!r}")
    records: list[RunRecord] = []
    warnings: list[str] = []
    for run_dir, paths in run_roots(directory, files).items():
        got, notes = read(run_dir, paths)
        records.extend(got)
        warnings.extend(notes)
    return records_to_frame(records), warnings


def read_jsonl(directory: str | Path, mapping: dict[str, str] | None = None
               ) -> tuple[pd.DataFrame, list[str]]:
    """Runs of ``metrics.jsonl`` files under ``directory`` -> records frame and warnings."""
    mapping = mapping or {}
    root = Path(directory)

    def read(run_dir: Path, paths: list[Path]) -> tuple[list, list]:
        info = run_info_for(run_dir, root, mapping)
        rows = []
        for path in paths:
            rows.extend(read_jsonl_rows(path))
        rows = [_renamed(row, mapping) for row in rows]
        return _records(rows, info, f"run {info.run_id}")

    return import_runs(root, METRICS_FILE, "JSON-lines", read)


def _renamed(row: dict, mapping: dict[str, str]) -> dict:
    out = dict(row)
    for name, source in mapping.items():
        if name in ("run_id", "batch_tokens") or _number(source) is not None \
                or source.startswith("config:"):
            continue
        if source not in row:
            raise MetricsError(f"has no key {source!r} (mapped to {name}); its keys: "
                               f"{', '.join(sorted(row))}")
        out[name] = row[source]
    return out


def _records(rows: list[dict], info: RunInfo, source: str) -> tuple[list, list]:
    try:
        return rows_to_records(rows, info, source)
    except MetricsError as exc:
        text = str(exc)
        raise ScalingLabError(text if text.startswith(source) else f"{source}: {text}") from None


def read_tensorboard(directory: str | Path, mapping: dict[str, str] | None = None
                     ) -> tuple[pd.DataFrame, list[str]]:
    """Runs of TensorBoard event files under ``directory`` (``mapping['loss']`` is the tag)."""
    from scalinglab.importers.tensorboard import EVENT_GLOB, read_tensorboard_rows  # noqa: PLC0415

    mapping = mapping or {}
    if "loss" not in mapping:
        raise ScalingLabError("importing TensorBoard logs needs the loss tag: --map "
                              "loss=TAG (e.g. loss=eval/loss)")
    root = Path(directory)

    def tag(name: str) -> str | None:
        source = mapping.get(name)
        return None if source is None or _number(source) is not None \
            or source.startswith("config:") else source

    def read(run_dir: Path, paths: list[Path]) -> tuple[list, list]:
        info = run_info_for(run_dir, root, mapping)
        try:
            rows = read_tensorboard_rows(run_dir, mapping["loss"], tag("tokens"),
                                         info.batch_tokens, tag("n_params"), tag("flops"))
        except MetricsError as exc:
            raise ScalingLabError(f"run {info.run_id}: {exc}") from None
        return _records(rows, info, f"run {info.run_id}")

    return import_runs(root, EVENT_GLOB, "TensorBoard", read)
