"""Hyperparameter sweeps: fit the envelope, the best run of each (N, D).

Sweeps are often logged with several learning rates (or batch sizes, warm-ups) per model size
and token count.  A scaling law describes the *tuned* loss at (N, D), so a table like that is
fitted on its envelope: for each (N, D) the run with the lowest final loss is kept with its
whole curve, and the others are dropped with the run that beat them named.  This is what
Hoffmann et al. (2022, Sec. 3) and Kaplan et al. (2020, Sec. 6) did by hand: each point of their
fits is the best learning-rate schedule of its size.

Which columns are hyperparameters: the user's (``hparams=("lr", "batch_tokens")``) or, with
``"auto"``, the columns of :data:`HPARAM_COLUMNS` that take more than one value within an
(N, D) group.  Runs that repeat an (N, D) without differing in any hyperparameter column are
replicates (seeds) and are all kept: averaging over seeds is the fit's job, not the envelope's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import SettingError

#: Column names taken for hyperparameters by ``hparams="auto"`` (when they vary within an (N, D)).
HPARAM_COLUMNS = ("lr", "learning_rate", "max_lr", "peak_lr", "lr_scale", "batch_size",
                  "batch_tokens", "batch", "warmup", "warmup_tokens", "warmup_steps",
                  "weight_decay", "beta1", "beta2", "dropout", "init_std")
#: Two runs share (N, D) when both agree to this relative tolerance (integer rounding of logged
#: token counts, float noise).
SAME_SIZE_RTOL = 1e-3
#: ``reason`` of a row dropped by the envelope in ``result.rows``.
ENVELOPE_REASON = "hyperparameter envelope"


@dataclass
class EnvelopeChoice:
    """What the envelope did: the columns it compared and the runs it kept and dropped."""

    columns: tuple[str, ...]
    detected: bool                      # columns found by "auto" (False: given by the user)
    n_groups: int                       # (N, D) groups with competing hyperparameters
    dropped: list[dict[str, Any]] = field(default_factory=list)  # run_id, beaten_by, losses
    kept: list[str] = field(default_factory=list)                # winners of those groups

    def message(self) -> str:
        """One line for the fit's notes."""
        how = "detected" if self.detected else "given"
        names = ", ".join(d["run_id"] for d in self.dropped[:6])
        more = " ..." if len(self.dropped) > 6 else ""
        return (f"hyperparameter sweep ({how} columns: {', '.join(self.columns)}): fitted the "
                f"envelope, the best run of each of {self.n_groups} (N, D) groups; dropped "
                f"{len(self.dropped)} run(s) beaten at their size: {names}{more} (keep every "
                f"run with hparams='none' / --hparams none)")


def resolve_columns(frame: pd.DataFrame, hparams: tuple[str, ...] | str | None
                    ) -> tuple[tuple[str, ...], bool]:
    """The hyperparameter columns to compare, and whether they were detected.

    ``None`` or ``()``: none.  ``"auto"``: the known names of :data:`HPARAM_COLUMNS` present in
    the table (whether they vary is decided per (N, D) group).  A tuple: the user's columns,
    each of which must exist (a :class:`SettingError` naming the missing one otherwise).
    """
    if hparams is None or hparams == ():
        return (), False
    if hparams == "auto":
        return tuple(c for c in HPARAM_COLUMNS if c in frame.columns), True
    missing = [c for c in hparams if c not in frame.columns]
    if missing:
        raise SettingError("hparams", f"names column(s) {', '.join(map(repr, missing))} not in "
                                      f"the table (columns: {', '.join(map(str, frame.columns))})")
    return tuple(hparams), False


def envelope_runs(frame: pd.DataFrame, n_column: str, final: np.ndarray,
                  hparams: tuple[str, ...] | str | None) -> tuple[np.ndarray, EnvelopeChoice | None]:
    """Row mask keeping, in each (N, D) group with differing hyperparameters, its best run.

    ``final`` marks each run's final rows (a run's D is the largest token count among them and
    its loss the loss there).  Returns the mask over ``frame``'s rows and what was done (None
    when no group had competing hyperparameters).
    """
    columns, detected = resolve_columns(frame, hparams)
    keep = np.ones(len(frame), dtype=bool)
    if not columns or n_column not in frame.columns or "tokens" not in frame.columns:
        return keep, None
    summary = _run_summary(frame, n_column, final, columns)
    if summary.empty:
        return keep, None
    choice = EnvelopeChoice(columns=(), detected=detected, n_groups=0)
    varied: set[str] = set()
    for _, group in summary.groupby("size_key", sort=True):
        differing = [c for c in columns if group[c].nunique(dropna=False) > 1]
        if len(group) < 2 or not differing:
            continue
        varied.update(differing)
        best = group.loc[group["loss"].idxmin()]
        choice.n_groups += 1
        choice.kept.append(str(best["run_id"]))
        for row in group.itertuples():
            if row.run_id != best["run_id"]:
                choice.dropped.append({"run_id": str(row.run_id), "loss": float(row.loss),
                                       "beaten_by": str(best["run_id"]),
                                       "best_loss": float(best["loss"])})
    if not choice.dropped:
        return keep, None
    choice.columns = tuple(c for c in columns if c in varied)
    choice.dropped.sort(key=lambda d: d["run_id"])
    lost = {d["run_id"] for d in choice.dropped}
    keep = ~frame["run_id"].astype(str).isin(lost).to_numpy()
    return keep, choice


def _run_summary(frame: pd.DataFrame, n_column: str, final: np.ndarray,
                 columns: tuple[str, ...]) -> pd.DataFrame:
    """One row per run: its N, D and loss at its longest final row, and its hyperparameters."""
    rows = frame.loc[final, ["run_id", n_column, "tokens", "loss", *columns]].copy()
    rows["run_id"] = rows["run_id"].astype(str)
    rows = rows.sort_values("tokens", kind="stable").groupby("run_id", sort=False).tail(1)
    n = pd.to_numeric(rows[n_column], errors="coerce").to_numpy(dtype=float)
    d = pd.to_numeric(rows["tokens"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(n) & np.isfinite(d) & (n > 0) & (d > 0)
    rows = rows[ok]
    step = np.log10(1.0 + SAME_SIZE_RTOL)
    key_n = np.round(np.log10(n[ok]) / step).astype(np.int64)
    key_d = np.round(np.log10(d[ok]) / step).astype(np.int64)
    rows["size_key"] = [f"{a}:{b}" for a, b in zip(key_n, key_d, strict=True)]
    rows["loss"] = pd.to_numeric(rows["loss"], errors="coerce")
    return rows[np.isfinite(rows["loss"].to_numpy(dtype=float))]
