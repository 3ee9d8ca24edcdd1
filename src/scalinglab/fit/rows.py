"""Which rows a fit uses: checkpoints of loss curves, the frontier filter, and a row's compute.

Everything that decides a row's fate lives here: :func:`select_rows` (final rows, or rows past
a fraction of each run), :func:`frontier_mask` / :func:`prepare_runs` (drop runs far above the
compute frontier) and :func:`row_compute`, the one rule for a row's training compute used by
every part of :mod:`scalinglab.fit` (the frontier filter, calibration cuts, Approaches 1 and 2,
backtests).  :func:`prepare_runs` also returns the table of rows used and dropped, with the
reason, that a :class:`~scalinglab.fit.FitResult` carries as ``result.rows``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.hparams import ENVELOPE_REASON, envelope_runs
from scalinglab.fit.settings import FINAL_ROWS, FitSettings
from scalinglab.laws.base import VARIABLE_COLUMNS, Law
from scalinglab.records import load_runs
from scalinglab.text import natural_sorted

FRONTIER_WINDOW_DEX = 0.05
#: With ``checkpoints_after="auto"``: when the table holds loss curves, use every row past this
#: fraction of its run (Choshen et al. 2024, the Hitchhiker's Guide, drop the first ~10%).
#: Chosen by bench/extrapolation.py (bench/README.md, tenth session) as the cut with the lowest
#: mean ARE over families among those that leave no family worse than the plain final-row fit
#: by more than 0.1 point: 10% (3.42%, t5_pile +0.05); 25% had 3.22% but t5_pile +0.24, and
#: 15%, 20% and 50% also lose t5_pile; every row (0%) keeps every family but averages 3.57%.
AUTO_CHECKPOINT_FRACTION = 0.1
#: A run with at least this many rows counts as a loss curve.
MIN_CURVE_ROWS = 3
#: ``reason`` of a row in ``result.rows`` that the fit used.
USED = "used"


# -- a row's compute -----------------------------------------------------------------------------
def row_compute(frame: pd.DataFrame, n_column: str = "n_params") -> np.ndarray | None:
    """Training compute of each row in FLOPs, by one order of preference.

    The ``flops`` column where it is present and finite > 0 (an exact count, or the user's own
    compute column, on the same scale as a sweep's budgets); else Kaplan's C = 6 N D from
    ``n_column`` and ``tokens``.  A row with neither gets NaN; None when the table has no
    ``flops`` column and cannot give 6 N D either.
    """
    six_nd = None
    if n_column in frame.columns and "tokens" in frame.columns:
        six_nd = 6.0 * pd.to_numeric(frame[n_column], errors="coerce").to_numpy(dtype=float) * \
            pd.to_numeric(frame["tokens"], errors="coerce").to_numpy(dtype=float)
    if "flops" not in frame.columns:
        return six_nd
    flops = pd.to_numeric(frame["flops"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(flops) & (flops > 0)
    if six_nd is None:
        return np.where(known, flops, np.nan)
    return np.where(known, flops, six_nd)


def with_compute(frame: pd.DataFrame, n_column: str = "n_params") -> tuple[pd.DataFrame, str]:
    """The table with a complete ``flops`` column (from :func:`row_compute`) and a note.

    The note is empty when every row had its own finite ``flops``; otherwise it says how many
    rows took C = 6 N D (Approaches 1 and 2 then fit a table that has no compute column).
    """
    compute = row_compute(frame, n_column)
    if compute is None:
        return frame, ""
    given = (pd.to_numeric(frame["flops"], errors="coerce").to_numpy(dtype=float)
             if "flops" in frame.columns else np.full(len(frame), np.nan))
    derived = int(np.sum(~(np.isfinite(given) & (given > 0)) & np.isfinite(compute)))
    if derived == 0:
        return frame, ""
    where = "the table has no flops column" if "flops" not in frame.columns else \
        f"{derived} of {len(frame)} rows lack flops"
    return (frame.assign(flops=compute),
            f"{where}: compute taken as C = 6 N D from {n_column} and tokens")


# -- checkpoints ---------------------------------------------------------------------------------
def has_curves(runs: pd.DataFrame) -> bool:
    """True when some run has at least :data:`MIN_CURVE_ROWS` rows (a loss curve)."""
    if "run_id" not in runs.columns or runs.empty:
        return False
    return bool(runs.groupby("run_id").size().max() >= MIN_CURVE_ROWS)


def resolve_checkpoints(runs: pd.DataFrame, checkpoints_after: float | str | None
                        ) -> tuple[float | None, str]:
    """The fraction actually used for ``checkpoints_after`` and a sentence saying why.

    ``"auto"``: final rows when no run has a curve; every row past
    :data:`AUTO_CHECKPOINT_FRACTION` of its run when curves are present -- except runs with a
    ``wsd`` schedule, whose stable-phase rows are at peak learning rate and are replaced by
    their cooled-down (final) rows (handled in :func:`select_rows`).
    """
    if checkpoints_after != "auto":
        if checkpoints_after is None:
            return None, FINAL_ROWS
        return float(checkpoints_after), f"rows past {checkpoints_after:g} of each run"
    if has_curves(runs) and "tokens" in runs.columns:
        return AUTO_CHECKPOINT_FRACTION, (f"loss curves present: rows past "
                                          f"{AUTO_CHECKPOINT_FRACTION:g} of each run's tokens "
                                          f"(cooled-down rows only for WSD runs)")
    return None, FINAL_ROWS


def select_rows(runs: pd.DataFrame, checkpoints_after: float | str | None = None) -> pd.DataFrame:
    """The rows a fit uses: each run's final rows, or every row past a fraction of its run.

    A run with several ``final`` rows (cooldown branches of a WSD run) contributes all of them.
    With ``checkpoints_after=f`` every row whose ``tokens`` is at least ``f`` times the run's
    largest token count is used (the Hitchhiker's Guide to scaling-law estimation recommends
    dropping the first ~10% of training); runs whose ``schedule`` is ``wsd`` still contribute
    only their final (cooled-down) rows.  ``"auto"`` chooses, see :func:`resolve_checkpoints`.
    """
    fraction, _ = resolve_checkpoints(runs, checkpoints_after)
    if fraction is not None:
        if not 0 <= fraction < 1:
            raise ScalingLabError(f"checkpoints_after must be in [0, 1), got {fraction}")
        if "tokens" not in runs.columns:
            raise ScalingLabError("checkpoints_after needs a tokens column")
        longest = runs.groupby("run_id")["tokens"].transform("max")
        keep = runs["tokens"] >= fraction * longest
        if "schedule" in runs.columns and "final" in runs.columns:
            wsd = runs["schedule"].astype(str).str.lower().eq("wsd")
            keep &= ~wsd | runs["final"].astype(bool)
        return runs[keep].reset_index(drop=True)
    return final_rows(runs)


def final_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's final rows (all cooldown branches), or its last row when none is marked."""
    if "final" in runs.columns and runs["final"].astype(bool).any():
        flags = runs["final"].astype(bool)
        has_final = flags.groupby(runs["run_id"]).transform("any").astype(bool)  # vectorised
        chosen = runs[runs["final"].astype(bool) | ~has_final]
        # runs without any final row: their last row
        chosen = pd.concat([chosen[chosen["final"].astype(bool)],
                            _last_rows(chosen[~chosen["final"].astype(bool)])])
        return chosen.sort_index().reset_index(drop=True)
    return _last_rows(runs).reset_index(drop=True)


def _last_rows(runs: pd.DataFrame) -> pd.DataFrame:
    if runs.empty:
        return runs
    order = "tokens" if "tokens" in runs.columns else ("flops" if "flops" in runs.columns else None)
    if order is None or runs["run_id"].is_unique:
        return runs.groupby("run_id", sort=False).tail(1)
    return runs.sort_values(order).groupby("run_id", sort=False).tail(1).sort_index()


# -- the frontier filter -------------------------------------------------------------------------
def frontier_excess(loss: np.ndarray, compute: np.ndarray,
                    window_dex: float = FRONTIER_WINDOW_DEX) -> np.ndarray:
    """log(loss / frontier) of each row: how far above the compute frontier it lies.

    The frontier at compute C is the lowest loss of any row with compute up to C x 10^window
    (FLOPs): compute spent well never buys a worse loss than less compute, so a row far above
    every row of the same or less compute is undertrained, mis-tuned or failed -- off the
    compute-optimal frontier the law describes.  The window (0.05 dex, the IsoFLOP grouping
    tolerance) makes rows of one IsoFLOP budget compete with each other.  O(n log n).
    """
    order = np.argsort(compute, kind="stable")
    c_sorted = np.log10(compute[order])
    running_best = np.minimum.accumulate(loss[order])
    reach = np.searchsorted(c_sorted, c_sorted + window_dex, side="right") - 1
    best = np.empty_like(running_best)
    best[order] = running_best[reach]
    return np.log(loss) - np.log(best)


def frontier_mask(loss: np.ndarray, compute: np.ndarray, excess: float,
                  window_dex: float = FRONTIER_WINDOW_DEX) -> np.ndarray:
    """True for rows within ``excess`` (relative) of the compute frontier at their compute."""
    return frontier_excess(loss, compute, window_dex) <= np.log1p(excess) + 1e-12


def _on_frontier(frame: pd.DataFrame, compute: np.ndarray, excess: float) -> np.ndarray:
    """Row mask of the frontier filter: whole runs, judged on their final rows.

    A run's distance from the frontier is the median, over its final rows (its end, or each
    cooldown branch of a WSD run), of how far each lies above the frontier; a run further than
    ``excess`` is dropped with all its rows, any other run is kept whole.  Checkpoints are never
    judged alone: mid-run losses sit above the frontier by construction.  (Until 2026-12 the
    filter dropped single cooldown branches, keeping a run's 8e16-FLOP branch while dropping
    its 4e16, 6e16 and 1e17 ones; with one final row per run the two rules agree.)
    """
    is_final = _final_mask(frame)
    run = frame["run_id"].astype(str).to_numpy()
    above = frontier_excess(frame["loss"].to_numpy(dtype=float)[is_final], compute[is_final])
    run_excess = pd.Series(above).groupby(run[is_final]).median()
    good_runs = run_excess.index[run_excess.to_numpy() <= np.log1p(excess) + 1e-12]
    return np.isin(run, good_runs.to_numpy())


def _final_mask(frame: pd.DataFrame) -> np.ndarray:
    """True on each run's final rows (``final`` flags, else its last row by tokens)."""
    run = frame["run_id"].astype(str)
    flagged = (frame["final"].astype(bool) if "final" in frame.columns
               else pd.Series(False, index=frame.index))
    has_flag = flagged.groupby(run).transform("any")
    order = frame["tokens"] if "tokens" in frame.columns else pd.Series(
        np.arange(len(frame)), index=frame.index)
    is_last = order.eq(order.groupby(run).transform("max"))
    return np.where(has_flag, flagged, is_last).astype(bool)


# -- the rows of one fit -------------------------------------------------------------------------
def prepare_runs(runs: pd.DataFrame | str, law: Law,
                 settings: FitSettings) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validated rows with the columns the law needs, after row selection and filtering.

    Returns the rows and notes: ``rows`` (which rows were used and why), ``dropped`` (every
    row the frontier filter dropped), ``dropped_message`` and ``table`` (every row of the
    table: run_id, N, D, C (:func:`row_compute`), loss, used and the reason, see
    :func:`row_table`).
    """
    needed = tuple(column_for(v, settings) for v in law.variables) + ("loss",)
    loaded = load_runs(runs, require=needed)
    fraction, rows_note = resolve_checkpoints(loaded, settings.checkpoints_after)
    # resolved once: "auto" is already a fraction or None; _row_position tracks each row
    frame = select_rows(loaded.assign(_row_position=np.arange(len(loaded))), fraction)
    picked = frame.pop("_row_position").to_numpy()
    notes: dict[str, Any] = {"rows": rows_note, "dropped": [], "dropped_message": "",
                             "envelope": None, "table_warnings": list(loaded.attrs.get(
                                 "warnings", []))}
    tuned, envelope = envelope_runs(frame, settings.n_column, _final_mask(frame),
                                    settings.hparams)
    if envelope is not None and tuned.sum() <= len(law.raw_names) + 1:
        tuned, envelope = np.ones(len(frame), dtype=bool), None
    notes["envelope"] = envelope
    keep = tuned.copy()
    compute = row_compute(frame, settings.n_column)
    if settings.frontier_filter is not None and compute is not None:
        on = np.ones(len(frame), dtype=bool)
        on[tuned] = _on_frontier(frame[tuned].reset_index(drop=True), compute[tuned],
                                 settings.frontier_filter)
        if not on.all() and (tuned & on).sum() > len(law.raw_names) + 1:
            keep = tuned & on
    if not (keep == tuned).all():
        _note_dropped(notes, frame, compute, keep | ~tuned, settings.frontier_filter)
    reasons = np.where(keep, USED, np.where(tuned, "frontier filter", ENVELOPE_REASON))
    unselected = np.setdiff1d(np.arange(len(loaded)), picked)
    notes["table"] = row_table(frame, keep, reasons, loaded.iloc[unselected], settings,
                               rows_note)
    return (frame if keep.all() else frame[keep].reset_index(drop=True)), notes


def _note_dropped(notes: dict[str, Any], frame: pd.DataFrame, compute: np.ndarray,
                  keep: np.ndarray, excess: float) -> None:
    dropped = frame[~keep]
    notes["dropped"] = [{"run_id": str(r.run_id), "loss": float(r.loss),
                         "compute": float(c)} for r, c in zip(dropped.itertuples(),
                                                               compute[~keep], strict=True)]
    runs_dropped = natural_sorted({d["run_id"] for d in notes["dropped"]})
    notes["dropped_message"] = (
        f"dropped {int((~keep).sum())} of {len(frame)} rows ({len(runs_dropped)} run(s)) whose "
        f"final loss is more than {excess:.0%} above the best final loss at "
        f"the same or less compute (window {FRONTIER_WINDOW_DEX} dex): far from the "
        f"compute-optimal frontier (undertrained, mis-tuned or failed runs): "
        f"{', '.join(runs_dropped[:8])}{' ...' if len(runs_dropped) > 8 else ''} (keep them "
        f"with frontier_filter=None)")


def row_table(selected: pd.DataFrame, keep: np.ndarray, reasons: np.ndarray,
              unselected: pd.DataFrame, settings: FitSettings, rows_note: str) -> pd.DataFrame:
    """Every row of the table: run_id, N, D (tokens), C (FLOPs), loss, used, reason.

    ``reason`` is ``used``, ``frontier filter`` (dropped as far above the compute frontier),
    ``hyperparameter envelope`` (beaten by another run of the same N and D) or
    ``not selected (...)`` for a row the row selection left out (an early checkpoint; the
    parenthesis says which rows were taken).
    """
    def column(frame: pd.DataFrame, name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

    def described(frame: pd.DataFrame, used: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
        compute = row_compute(frame, settings.n_column)
        return pd.DataFrame({
            "run_id": frame["run_id"].astype(str).to_numpy(),
            "N": column(frame, settings.n_column), "D": column(frame, "tokens"),
            "C": np.full(len(frame), np.nan) if compute is None else compute,
            "loss": column(frame, "loss"), "used": used, "reason": reason})

    chosen = described(selected, keep, reasons)
    if unselected.empty:
        return chosen
    left_out = described(unselected, np.zeros(len(unselected), dtype=bool),
                         np.full(len(unselected), f"not selected ({rows_note})"))
    return pd.concat([chosen, left_out], ignore_index=True)


def arrays_for(frame: pd.DataFrame, law: Law, settings: FitSettings):
    """(X, y, w, groups) arrays from the selected rows."""
    X = {v: frame[column_for(v, settings)].to_numpy(dtype=float) for v in law.variables}
    y = frame["loss"].to_numpy(dtype=float)
    if settings.weights is None:
        w = np.ones_like(y)
    else:
        if settings.weights not in frame.columns:
            raise ScalingLabError(f"weights column {settings.weights!r} not in the table")
        w = frame[settings.weights].to_numpy(dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise ScalingLabError("weights must be finite, >= 0 and not all zero")
    groups = pd.factorize(frame["run_id"].astype(str))[0]
    return X, y, w, groups


def column_for(variable: str, settings: FitSettings) -> str:
    """The record column that feeds a law variable (N: ``settings.n_column``)."""
    return settings.n_column if variable == "N" else VARIABLE_COLUMNS[variable]


def columns_used(law: Law, settings: FitSettings) -> dict[str, str]:
    """``{variable: column}`` for every variable of the law."""
    return {v: column_for(v, settings) for v in law.variables}
