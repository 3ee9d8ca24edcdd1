"""Checking the task columns of a run table: ``acc_<task>`` (fraction) and its chance level.

Bad input gets a one-line :class:`~scalinglab.errors.ScalingLabError`: a missing or constant
accuracy column, accuracies outside [0, 1] (in percent: divide by 100), a chance level outside
[0, 1) or above every accuracy of the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, RunsError, ScalingLabError
from scalinglab.laws.links import known_chance, task_name

#: the via names: the two-step chain through the validation loss or the task loss, or the
#: direct fit of accuracy against log compute
VIA_CHOICES = ("loss", "task_loss", "compute")
#: a chance level this far above the best accuracy of the table is wrong, not noise (a task
#: near chance scores a little below it: unnormalised ARC-Challenge of small Pythias 0.18-0.25)
CHANCE_TOLERANCE = 0.05


def task_column(task: str) -> str:
    """The accuracy column of ``task`` (``hellaswag`` or ``acc_hellaswag`` -> ``acc_hellaswag``)."""
    if not isinstance(task, str) or not task.strip():
        raise ScalingLabError("task must name an accuracy column such as acc_hellaswag")
    task = task.strip()
    return task if task.startswith("acc_") else f"acc_{task}"


def check_accuracy(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The accuracy column as floats; one-line errors for a missing, percent or constant column."""
    if column not in frame.columns:
        have = sorted(c for c in frame.columns if str(c).startswith("acc_"))
        hint = f"; accuracy columns here: {', '.join(have)}" if have else \
            "; the table has no acc_<task> column"
        raise RunsError(f"task column {column!r} is not in the run table{hint}")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise RunsError(f"task column {column!r} holds no numbers")
    if finite.min() < 0 or finite.max() > 1:
        if finite.min() >= 0 and finite.max() <= 100:
            raise RunsError(f"{column} holds values up to {finite.max():g}: accuracies are "
                            f"fractions in [0, 1], these look like percent; divide by 100")
        raise RunsError(f"{column} holds {finite.min():g} .. {finite.max():g}: accuracies are "
                        f"fractions in [0, 1]")
    if np.ptp(finite) == 0:
        raise RunsError(f"task column {column!r} is constant ({finite[0]:g} in every row): "
                        f"nothing to fit")
    return values


#: the most items a benchmark's accuracy grid is looked for up to, and the tolerance (fraction)
#: within which every accuracy must be a whole number of items
MAX_GRID_ITEMS = 100_000
GRID_TOLERANCE = 1e-7
#: rows with distinct accuracies needed before a grid is believed (a coarse grid cannot arise
#: from so many values by chance; a spurious fine one moves an end by at most 1/(2n))
MIN_GRID_VALUES = 5


def item_grid(accuracy: np.ndarray) -> int | None:
    """The number of items n when every accuracy is a whole multiple of 1/n (the smallest such
    n; a benchmark of n questions scores k/n), else None.

    A measured accuracy can only take these values, so an interval for it is stated in them
    (each end the nearest attainable value: :func:`scalinglab.fit.chainpredict.count_interval`)."""
    values = np.unique(accuracy[np.isfinite(accuracy)])[:64]   # enough to pin the grid
    if len(values) < MIN_GRID_VALUES:
        return None
    for start in range(2, MAX_GRID_ITEMS + 1, 4096):          # vectorised over blocks of n
        n = np.arange(start, min(start + 4096, MAX_GRID_ITEMS + 1), dtype=float)[:, None]
        scaled = values[None, :] * n
        whole = np.all(np.abs(scaled - np.round(scaled)) <= GRID_TOLERANCE * n, axis=1)
        if whole.any():
            return int(n[np.argmax(whole), 0])
    return None


def resolve_chance(column: str, chance: float | None, accuracy: np.ndarray) -> float:
    """The chance level: given, or known for a standard task; checked against the data."""
    if chance is None:
        chance = known_chance(column)
        if chance is None:
            raise ScalingLabError(f"the chance level of {task_name(column)!r} is not known; give "
                                  f"it (--chance / chance=, e.g. 0.25 for 4 options)")
    chance = float(chance)
    if not (np.isfinite(chance) and 0 <= chance < 1):
        if 1 <= chance <= 100:
            raise ScalingLabError(f"chance level {chance:g} looks like percent; give a fraction "
                                  f"in [0, 1), e.g. {chance / 100:g}")
        raise ScalingLabError(f"chance level must be a fraction in [0, 1), got {chance:g}")
    best = float(np.nanmax(accuracy))
    if chance > best + CHANCE_TOLERANCE:
        raise ScalingLabError(f"chance level {chance:g} is above every accuracy in {column} "
                              f"(best {best:.3f}): wrong chance level or wrong column")
    return chance


def available_vias(frame: pd.DataFrame, column: str, loss_column: str) -> list[str]:
    """Which intermediates the table supports: ``loss``, ``task_loss`` (and ``compute``)."""
    out = []
    scale = has_scale(frame)
    if loss_column in frame.columns and _usable(frame[loss_column]):
        out.append("loss")                 # without N and D: the link alone (give a loss)
    if task_loss_column(column) in frame.columns and _usable(frame[task_loss_column(column)]) \
            and scale:
        out.append("task_loss")
    if scale or ("flops" in frame.columns and _usable(frame["flops"])):
        out.append("compute")
    return out


def has_scale(frame: pd.DataFrame) -> bool:
    """Whether the table gives N and D (``n_params`` and ``tokens``, >= 3 positive rows)."""
    return all(c in frame.columns and _usable(frame[c]) for c in ("n_params", "tokens"))


def task_loss_column(column: str) -> str:
    """``acc_hellaswag`` -> ``task_loss_hellaswag``."""
    return f"task_loss_{task_name(column)}"


def _usable(series: pd.Series) -> bool:
    values = pd.to_numeric(series, errors="coerce")
    return int((values > 0).sum()) >= 3


def log10_compute(frame: pd.DataFrame) -> np.ndarray:
    """log10 of training compute (FLOPs): 6 N D where N, D are known, else the flops column."""
    if "n_params" in frame.columns and "tokens" in frame.columns:
        c = 6.0 * pd.to_numeric(frame["n_params"], errors="coerce").to_numpy(dtype=float) \
            * pd.to_numeric(frame["tokens"], errors="coerce").to_numpy(dtype=float)
    elif "flops" in frame.columns:
        c = pd.to_numeric(frame["flops"], errors="coerce").to_numpy(dtype=float)
    else:
        raise FitError("the direct fit needs compute: n_params and tokens, or flops")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, np.log10(np.where(c > 0, c, 1.0)), np.nan)


def run_groups(frame: pd.DataFrame) -> np.ndarray:
    """Integer run labels (one run = one ``run_id``; each row its own run without the column)."""
    if "run_id" not in frame.columns:
        return np.arange(len(frame))
    return pd.factorize(frame["run_id"].astype(str))[0]
