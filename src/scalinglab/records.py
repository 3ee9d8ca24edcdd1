"""The run record: one row per evaluation of one training run.

This is the table that ties scalinglab together (see DESIGN.md): the trainer writes it, the sweep
store keeps it, the fitters read it.  Units are part of the contract:

==================  =============================================================
column              meaning and unit
==================  =============================================================
``run_id``          identifier of the training run (rows of one run share it)
``sweep``           name of the sweep the run belongs to
``n_params``        N, non-embedding parameters (Kaplan's convention)
``n_params_total``  all parameters, embeddings included (Chinchilla's convention)
``tokens``          D, training tokens seen so far
``unique_tokens``   U, distinct tokens in the training data (D / U = epochs; optional)
``flops``           C, training FLOPs spent so far (exact count where known)
``loss``            held-out cross-entropy, nats/token
``bits_per_byte``   held-out cross-entropy in bits per byte of text
``final``           True for the end of a schedule or of a cooldown branch
``lr``              peak learning rate
``batch_tokens``    tokens per optimiser step
``seq_len``         context length, tokens
``vocab_size``      tokenizer vocabulary size
``corpus``          corpus name
``tokenizer``       tokenizer name
``seed``            random seed
``schedule``        learning-rate schedule name
``wall_seconds``    wall-clock seconds spent so far
``exact_loss``      exact expected held-out loss, nats/token (synthetic language only;
                    E_T + mean KL(true || model), free of sampling noise)
==================  =============================================================

Foreign tables (a CSV of N, D or C and loss) are read through an explicit column mapping; a
missing D is derived as ``C / (6 N)`` only when the caller asks for it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import RunsError
from scalinglab.tablefile import read_table, write_runs  # noqa: F401  (the record's files)

#: Columns of the record and their units / meaning, in order.
RECORD_COLUMNS: dict[str, str] = {
    "run_id": "run identifier",
    "sweep": "sweep name",
    "n_params": "non-embedding parameters",
    "n_params_total": "all parameters",
    "tokens": "training tokens seen",
    "unique_tokens": "unique training tokens",
    "flops": "training FLOPs spent",
    "loss": "held-out cross-entropy, nats/token",
    "bits_per_byte": "held-out cross-entropy, bits/byte",
    "final": "end of a schedule or cooldown",
    "lr": "peak learning rate",
    "batch_tokens": "tokens per optimiser step",
    "seq_len": "context length, tokens",
    "vocab_size": "vocabulary size",
    "corpus": "corpus name",
    "tokenizer": "tokenizer name",
    "seed": "random seed",
    "schedule": "learning-rate schedule",
    "wall_seconds": "wall-clock seconds",
    "exact_loss": "exact expected held-out loss (synthetic language), nats/token",
}

#: Task columns (issue 24): ``acc_<task>`` (fraction in [0, 1]) and ``task_loss_<task>`` (nats
#: per token of the correct continuation) travel with the record columns.
TASK_PREFIXES = ("acc_", "task_loss_")
#: Validation losses on other evaluation sets (``loss_c4``, ``loss_pile``) travel too: a task
#: fit may take one as its intermediate (``loss_column``).
OTHER_LOSS_PREFIX = "loss_"

#: Labels of foreign tables kept through a column mapping (the fit's plausibility guards read them).
LABEL_COLUMNS = ("arch", "eval_set")

#: Short aliases accepted in column mappings (``N="Model Size"``).
ALIASES: dict[str, str] = {"N": "n_params", "D": "tokens", "C": "flops", "L": "loss"}

NUMERIC_COLUMNS = ("n_params", "n_params_total", "tokens", "unique_tokens", "flops", "loss",
                   "bits_per_byte", "lr", "batch_tokens", "seq_len", "vocab_size", "seed", "wall_seconds",
                   "exact_loss")
POSITIVE_COLUMNS = ("n_params", "n_params_total", "tokens", "unique_tokens", "flops", "loss")


@dataclass
class RunRecord:
    """One evaluation of one training run (see the module docstring for units)."""

    run_id: str
    n_params: float
    tokens: float
    flops: float
    loss: float
    sweep: str = ""
    n_params_total: float = float("nan")
    unique_tokens: float = float("nan")
    bits_per_byte: float = float("nan")
    final: bool = True
    lr: float = float("nan")
    batch_tokens: float = float("nan")
    seq_len: float = float("nan")
    vocab_size: float = float("nan")
    corpus: str = ""
    tokenizer: str = ""
    seed: int = 0
    schedule: str = ""
    wall_seconds: float = float("nan")
    exact_loss: float = float("nan")
    #: task scores of the evaluation (scalinglab.train.tasks): ``acc_<task>`` (fraction) and
    #: ``task_loss_<task>`` (nats/token); columns of their own in a run table
    tasks: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def records_to_frame(records: list[RunRecord]) -> pd.DataFrame:
    """A DataFrame with the record's columns, in the documented order."""
    order = [f.name for f in fields(RunRecord) if f.name != "tasks"]
    rows = []
    for record in records:
        row = record.to_dict()
        row.update(row.pop("tasks", None) or {})
        rows.append(row)
    scores = sorted({k for row in rows for k in row if k.startswith(TASK_PREFIXES)})
    frame = pd.DataFrame(rows, columns=order + scores)
    return frame[[c for c in RECORD_COLUMNS if c in frame.columns] + scores]


def parse_column_mapping(spec: str | None) -> dict[str, str]:
    """Parse ``N="Model Size",C="Training FLOP",loss=loss`` into {record column: source column}."""
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for part in _split_top_level(spec):
        if "=" not in part:
            raise RunsError(f"column mapping item {part!r} is not of the form NAME=SOURCE")
        key, source = (s.strip() for s in part.split("=", 1))
        source = source.strip("\"'")
        key = ALIASES.get(key, key)
        if key not in RECORD_COLUMNS:
            raise RunsError(f"column mapping names unknown column {key!r}; "
                            f"use one of N, D, C, loss or a record column")
        mapping[key] = source
    return mapping


def _split_top_level(spec: str) -> list[str]:
    """Split on commas that are not inside quotes."""
    parts, current, quote = [], [], None
    for ch in spec:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


#: Rows per model size from which a table without run ids reads as loss curves (IsoFLOP grids: 3-9).
CURVE_ROWS_PER_SIZE = 10

#: Columns taken as the run identifier, in order, when ``run_id`` is neither present nor
#: mapped: the names trainers and trackers use (a W&B export's runs table has ``Name``).
RUN_ID_CANDIDATES = ("run_id", "run_name", "run", "name", "Name", "model_id", "model_name")

#: What each record column means to a user who maps it (for messages about missing columns).
_MEANING = {"n_params": "N, parameters", "n_params_total": "N, all parameters",
            "tokens": "D, training tokens", "flops": "C, training FLOPs",
            "loss": "held-out loss, nats/token"}


def load_runs(
    source: str | Path | pd.DataFrame,
    columns: Mapping[str, str] | str | None = None,
    derive_tokens: bool = False,
    derive_flops: bool = False,
    require: tuple[str, ...] = ("n_params", "tokens", "loss"),
    n_column: str | None = None,
) -> pd.DataFrame:
    """Load and validate a run table.

    ``source`` is a CSV/Parquet path or a DataFrame.  ``columns`` maps record columns (or the
    aliases N, D, C) to the source's column names.  With ``derive_tokens`` a missing ``tokens``
    column is computed as ``flops / (6 N)`` (Kaplan's C = 6ND); with ``derive_flops`` a
    missing ``flops`` as ``6 N tokens``.  N there is ``n_column`` when given, else
    ``n_params`` when the table has it, else ``n_params_total``.  Without a ``run_id`` column
    (present or mapped) the first of :data:`RUN_ID_CANDIDATES` that the table has identifies
    the runs (rows of one loss curve share it), and ``frame.attrs["notes"]`` says so; without
    any, every row is its own run (``frame.attrs["warnings"]`` says so when some rows are
    marked not final, and loading the returned frame again keeps that warning, for the fit's
    result).  Returns a copy with canonical column names and float
    dtypes, validated by :func:`validate_runs`; messages name the table's own columns.
    """
    frame = read_table(source) if not isinstance(source, pd.DataFrame) else source.copy()
    mapping = parse_column_mapping(columns) if isinstance(columns, str) else dict(columns or {})
    mapping = {ALIASES.get(k, k): v for k, v in mapping.items()}
    _check_sources(frame, mapping)
    implicit = _alias_columns(frame, mapping)
    view = _user_view(frame, {**mapping, **implicit})
    frame = frame.rename(columns={alias: canonical for canonical, alias in implicit.items()})
    notes = [f"column {alias!r} read as {canonical} ({RECORD_COLUMNS[canonical]})"
             for canonical, alias in implicit.items()]
    run_column = _detect_run_column(frame, mapping)
    if run_column is not None:
        mapping["run_id"] = run_column
        notes.append(f"runs identified by column {run_column!r}")
    # a mapped column replaces a column already bearing the canonical name (loss=exact_loss
    # must fit exact_loss, not the table's own loss), unless that column is itself mapped
    replaced = [k for k, v in mapping.items()
                if k != v and k in frame.columns and k not in mapping.values()]
    renamed = frame.drop(columns=replaced).rename(columns={v: k for k, v in mapping.items()})
    if mapping:  # keep only what was mapped plus columns already named canonically
        keep = [c for c in renamed.columns if c in RECORD_COLUMNS or c in LABEL_COLUMNS
                or str(c).startswith((*TASK_PREFIXES, OTHER_LOSS_PREFIX))]   # own names
        renamed = renamed[keep]
    renamed = renamed.loc[:, ~renamed.columns.duplicated()].copy()
    for col in NUMERIC_COLUMNS:
        if col in renamed.columns:
            renamed[col] = _to_numeric(renamed[col], view.mapping.get(col, col))
    renamed, untrained = _drop_untrained(renamed, view)
    notes += untrained
    _derive(renamed, view, derive_tokens, derive_flops, n_column)
    _check_required(renamed, view, require)
    validate_runs(renamed, require=require)
    # a frame loaded before keeps its warnings: its run ids may be the ones made below
    warnings: list[str] = list(frame.attrs.get("warnings", []))
    if "run_id" not in renamed.columns:
        warnings += _rows_as_runs_warning(renamed, view)
        renamed.insert(0, "run_id", [f"run{i}" for i in range(len(renamed))])
    else:
        renamed["run_id"] = renamed["run_id"].astype(str)
    if "final" not in renamed.columns:
        renamed["final"] = True
    out = renamed.reset_index(drop=True)
    out.attrs["notes"] = notes
    out.attrs["warnings"] = warnings
    out.attrs["user_view"] = {"columns": view.columns, "mapping": view.mapping}
    return out


def _drop_untrained(frame: pd.DataFrame, view: _UserView) -> tuple[pd.DataFrame, list[str]]:
    """Rows at exactly 0 training tokens or FLOPs (a step-0 checkpoint: the model before any
    training) have no place on a scale of compute; they are dropped and counted in a note."""
    zero = np.zeros(len(frame), dtype=bool)
    named = []
    for col in ("tokens", "flops"):
        if col in frame.columns:
            hit = frame[col].to_numpy(dtype=float) == 0
            if hit.any():
                named.append(view.mapping.get(col, col))
            zero |= hit
    if not zero.any() or zero.all():   # a table of nothing but zeros is reported as such
        return frame, []
    note = (f"dropped {int(zero.sum())} row(s) at 0 training {' or '.join(named)} (checkpoints "
            f"before any training: no compute to place them at)")
    return frame[~zero].reset_index(drop=True), [note]


def _alias_columns(frame: pd.DataFrame, mapping: Mapping[str, str]) -> dict[str, str]:
    """{record column: table column} for columns named by an alias (N, D, C, L) where the
    record column itself is neither in the table nor mapped: a table of N, D and loss."""
    taken = set(mapping) | set(mapping.values()) | set(map(str, frame.columns))
    return {canonical: alias for alias, canonical in ALIASES.items()
            if alias in frame.columns and canonical not in taken
            and alias not in set(mapping.values())}


def _rows_as_runs_warning(frame: pd.DataFrame, view: _UserView) -> list[str]:
    """Without run ids every row is fitted and resampled as its own finished run: says so when
    rows are marked not final or many rows share a model size (loss curves), else []."""
    unfinished = int((~frame["final"].astype(bool)).sum()) if "final" in frame.columns else 0
    sizes = frame["n_params"].nunique() if "n_params" in frame.columns else 0
    if unfinished:
        what = (f"including the {unfinished} row(s) with {view.mapping.get('final', 'final')} "
                f"= false (checkpoints before the end of a schedule, whose losses are higher)")
    elif sizes and len(frame) >= CURVE_ROWS_PER_SIZE * sizes:
        what = (f"though its {len(frame)} rows hold {sizes} model size(s), as loss curves do "
                f"(their checkpoints are not independent runs)")
    else:
        return []
    return [f"the table has no run id column, so every row is taken as its own finished run, {what}"
            "; name the runs (a run_id column, or map one: run_id=COLUMN) to fit their curves, "
            "or keep only the final rows"]


@dataclass
class _UserView:
    """The table as its user knows it: its own column names, and which record column each
    mapped one became (so that messages about a loaded table still speak the user's names)."""

    columns: list[str]
    mapping: dict[str, str]


def _user_view(frame: pd.DataFrame, mapping: Mapping[str, str]) -> _UserView:
    """The user's names; a frame that :func:`load_runs` returned keeps those of its source."""
    earlier = frame.attrs.get("user_view")
    if earlier:
        inner = dict(earlier["mapping"])
        composed = {k: inner.get(v, v) for k, v in mapping.items()}
        return _UserView(list(earlier["columns"]), {**inner, **composed})
    return _UserView([str(c) for c in frame.columns], {k: str(v) for k, v in mapping.items()})


def _check_sources(frame: pd.DataFrame, mapping: Mapping[str, str]) -> None:
    """Every mapped source column exists; else name it, the closest match and what there is."""
    for source in mapping.values():
        if source not in frame.columns:
            close = difflib.get_close_matches(str(source), [str(c) for c in frame.columns], n=1)
            hint = f" (closest: {close[0]!r})" if close else ""
            raise RunsError(f"column {source!r} named in the column mapping is not in the "
                            f"table{hint}; the table has {_listing(frame.columns)}")


def _detect_run_column(frame: pd.DataFrame, mapping: Mapping[str, str]) -> str | None:
    """The table's run-identifier column when ``run_id`` is neither mapped nor present."""
    if "run_id" in mapping or "run_id" in frame.columns:
        return None
    taken = set(mapping.values())
    for name in RUN_ID_CANDIDATES:
        if name in frame.columns and name not in taken:
            return name
    return None


def _listing(names) -> str:
    return ", ".join(repr(str(n)) for n in names) or "no columns"


def _n_for_flops(frame: pd.DataFrame, n_column: str | None) -> str:
    """The parameter column that C = 6ND uses (``n_column``, else n_params, else total)."""
    if n_column is not None:
        return n_column
    return "n_params" if "n_params" in frame.columns or "n_params_total" not in frame.columns \
        else "n_params_total"


def _derive(renamed: pd.DataFrame, view: _UserView, derive_tokens: bool, derive_flops: bool,
            n_column: str | None) -> None:
    """D = C/(6N) or C = 6ND in place, when asked and the column is absent."""
    n_col = _n_for_flops(renamed, n_column)
    if derive_tokens and "tokens" not in renamed.columns:
        _need(renamed, view, ("flops", n_col), "derive tokens as D = C/(6N)")
        renamed["tokens"] = renamed["flops"] / (6.0 * renamed[n_col])
    if derive_flops and "flops" not in renamed.columns:
        _need(renamed, view, ("tokens", n_col), "derive flops as C = 6ND")
        renamed["flops"] = 6.0 * renamed[n_col] * renamed["tokens"]


def _need(renamed: pd.DataFrame, view: _UserView, cols: tuple[str, ...], why: str) -> None:
    absent = [c for c in cols if c not in renamed.columns]
    if absent:
        raise RunsError(f"cannot {why}: {_missing_message(absent, view)}")


def _check_required(renamed: pd.DataFrame, view: _UserView, require: tuple[str, ...]) -> None:
    absent = [c for c in require if c not in renamed.columns]
    if not absent:
        return
    hint = ""
    if absent == ["tokens"] and "flops" in renamed.columns:
        hint = "; or pass derive_tokens=True to compute D = C/(6N)"
    elif absent == ["flops"] and "tokens" in renamed.columns:
        hint = "; or pass derive_flops=True to compute C = 6ND"
    scores = [c for c in renamed.columns if str(c).startswith("acc_")]
    if "loss" in absent and scores:      # a table of task scores (Pythia's): the chain fits it
        hint += f"; to predict a task score instead, fit it with task={str(scores[0])!r}"
    raise RunsError(_missing_message(absent, view) + hint)


def _missing_message(absent: list[str], view: _UserView) -> str:
    """``missing column(s) ...; the table has ...; map one with columns={...}`` in the user's
    names, suggesting the closest unmapped column of the table for the first missing one."""
    what = ", ".join(f"{c} ({_MEANING[c]})" if c in _MEANING else c for c in absent)
    free = [c for c in view.columns if c not in view.mapping.values() and
            (c not in _MEANING or c in _STAND_INS.get(absent[0], ())) and
            not str(c).startswith(TASK_PREFIXES)]
    key = {"n_params": "N", "tokens": "D", "flops": "C"}.get(absent[0], absent[0])
    close = _closest(absent[0], free)
    example = close if close is not None else "COLUMN"
    return (f"missing column(s) {what}; the table has {_listing(view.columns)}; map one with "
            f"columns={{{key!r}: {example!r}}}" + (" (the closest name)" if close else ""))


def _closest(column: str, candidates: list[str]) -> str | None:
    """The candidate most like ``column`` (difflib, case-insensitive), or None."""
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(column.lower(), list(lowered), n=1, cutoff=0.5)
    if match:
        return lowered[match[0]]
    words = [w for w in column.lower().split("_") if len(w) >= 4] + \
        list(_NAME_WORDS.get(column, ()))
    return next((c for c in candidates if any(w in c.lower() for w in words)), None)


#: record columns that may stand in for a missing one; no other record column, and no task
#: column, is suggested for it (a table's ``flops`` is compute, never the missing loss)
_STAND_INS = {"n_params": ("n_params_total",)}
#: words that name a record column in tables from other tools ("Model Size", "Training FLOP")
_NAME_WORDS = {"n_params": ("param", "size"), "tokens": ("token",),
               "flops": ("flop", "compute")}


def _plain(value: object) -> object:
    """A numpy scalar as the plain Python value (so messages never show ``np.float64(...)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _to_numeric(series: pd.Series, name: str) -> pd.Series:
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise RunsError(f"column {name!r} has a non-numeric value {_plain(series.iloc[row])!r} "
                        f"(row {row + 1})")
    return converted.astype(float)


def validate_runs(frame: pd.DataFrame, require: tuple[str, ...] = ("n_params", "tokens", "loss"),
                  min_points: int = 1) -> None:
    """Raise :class:`RunsError` naming the first problem found, or return None.

    Required columns must be finite; optional size columns may be NaN (unknown) but never
    infinite or non-positive.
    """
    absent = [c for c in require if c not in frame.columns]
    if absent:
        hint = " (pass derive_tokens=True to compute D = C/(6N))" \
            if absent == ["tokens"] and "flops" in frame.columns else ""
        raise RunsError(f"missing column(s) {', '.join(absent)}; the table has "
                        f"{', '.join(map(str, frame.columns)) or 'no columns'}{hint}")
    if len(frame) < min_points:
        raise RunsError(f"the table has {len(frame)} row(s); at least {min_points} needed")
    for col in POSITIVE_COLUMNS:
        if col not in frame.columns:
            continue
        values = frame[col].to_numpy(dtype=float)
        if col in require:
            _check_finite(values, col)
        else:  # an optional column may be unknown (NaN) but not infinite
            _check_finite(np.where(np.isnan(values), 1.0, values), col)
        nonpos = np.flatnonzero(values <= 0)
        if nonpos.size:
            what = "losses must be > 0" if col == "loss" else f"{col} must be > 0"
            raise RunsError(f"column {col!r} has value {float(values[nonpos[0]])!r} at row "
                            f"{nonpos[0] + 1}: {what}")
    key = [c for c in ("run_id", "n_params", "tokens", "flops", "loss") if c in frame.columns
           and frame[c].notna().any()]       # an empty column (no sizes given) tells nothing
    # a loss or a run id alone cannot tell two rows apart: a table whose sizes are unmapped is
    # reported by the size check, a run's checkpoints without sizes are not duplicates
    dup = frame.duplicated(subset=key, keep="first") if set(key) - {"loss", "run_id"} else None
    if dup is not None and dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise RunsError(f"row {row + 1} duplicates an earlier row ({', '.join(key)}); "
                        f"remove duplicates or give each run a distinct run_id")


def _check_finite(values: np.ndarray, col: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise RunsError(f"column {col!r} has {float(values[bad[0]])!r} at row {bad[0] + 1} "
                        f"(NaN and inf are not allowed)")


def drop_highest_losses(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """The rows without the ``k`` highest losses (Epoch's protocol drops 5 of Hoffmann's runs)."""
    if not k:
        return frame
    if k >= len(frame):
        raise RunsError(f"--drop-highest {k} would drop all {len(frame)} rows")
    keep = frame["loss"].rank(method="first", ascending=False) > k
    return frame[keep].reset_index(drop=True)
