"""What the figure functions share: reading run tables, the rows a fit used and dropped, the
compute-optimal frontier of any L(N, D) law, and legend placement."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.fit.rows import row_compute
from scalinglab.laws.base import VARIABLE_COLUMNS, Law
from scalinglab.laws.forms import Chinchilla
from scalinglab.records import load_runs
from scalinglab.text import natural_key

DEFAULT_PRESETS = ("hoffmann2022", "besiroglu2024", "kaplan2020")
#: smallest error drawn on the backtest's log axis (%).
ARE_FLOOR_PERCENT = 0.01


# ------------------------------------------------------------------------------------------------
# reading inputs
# ------------------------------------------------------------------------------------------------
def _table(runs: pd.DataFrame | str | Path, what: str) -> pd.DataFrame:
    """A run table with canonical columns (a path is read, a DataFrame copied and checked)."""
    if runs is None:
        raise ScalingLabError(f"{what} needs a run table")
    frame = load_runs(runs, require=("loss",))
    if "run_id" not in frame.columns:
        frame["run_id"] = [f"run{i}" for i in range(len(frame))]
    return frame


def _flops(frame: pd.DataFrame, n_column: str = "n_params") -> np.ndarray:
    """Training compute per row (FLOPs), as the fits count it (:func:`~scalinglab.fit.rows.
    row_compute`: the flops column where finite, else Kaplan's 6 N D)."""
    compute = row_compute(frame, n_column)
    if compute is None:
        raise ScalingLabError("the run table needs a flops column (or n_params and tokens for "
                              "C = 6ND)")
    return compute


def _column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in frame.columns:
        raise ScalingLabError(f"{what} needs column {name!r}; the table has "
                              f"{', '.join(map(str, frame.columns))}")
    return frame[name].to_numpy(dtype=float)


def _n_column(fit: FitResult | None, default: str = "n_params") -> str:
    return fit.columns.get("N", default) if isinstance(fit, FitResult) else default


def _level(result: Any, level: float | None) -> float:
    return float(level if level is not None else getattr(result, "level", 0.9))


def _band(entry: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    if "low" not in entry or "high" not in entry:
        return None
    low, high = np.asarray(entry["low"], dtype=float), np.asarray(entry["high"], dtype=float)
    if not (np.isfinite(low).any() and np.isfinite(high).any()):
        return None
    return low, high


def _require_chinchilla(fit: FitResult, what: str) -> None:
    if not isinstance(fit, FitResult):
        raise ScalingLabError(f"{what} needs a FitResult, got {type(fit).__name__}")
    if set(fit.law.variables) != {"N", "D"}:  # a law of N, D and U needs U at every point
        raise ScalingLabError(f"{what} needs a law of N and D only (e.g. chinchilla), not the "
                              f"{fit.law.name} law of {', '.join(fit.law.variables)}")


def law_frontier(law: Law, C: np.ndarray) -> dict[str, np.ndarray]:
    """Compute-optimal N (parameters), D (tokens) and loss of any L(N, D) law under C = 6ND.

    Closed form for the Chinchilla form (Hoffmann et al. 2022, App. D.2); otherwise L is
    minimised numerically over tokens per parameter r = D/N in [1e-3, 1e5] on a log grid
    (801 points, 0.01 decades apart) refined by a parabola through the three best points, so
    N_opt is exact to well under 1%.  NaN where the minimum sits at the edge of that range.
    """
    C = np.atleast_1d(np.asarray(C, dtype=float))
    if isinstance(law, Chinchilla):
        f = law.frontier(C)
        return {k: np.atleast_1d(np.asarray(f[k], dtype=float))
                for k in ("N_opt", "D_opt", "tokens_per_param", "loss")}
    if not {"N", "D"} <= set(law.variables):
        raise ScalingLabError(f"the {law.name} law is not a law of N and D: no frontier")
    log_r = np.linspace(-3.0, 5.0, 801)
    N = np.sqrt(C[:, None] / (6.0 * 10.0 ** log_r[None, :]))
    D = N * 10.0 ** log_r[None, :]
    loss = np.log(np.asarray(law.predict(N=N, D=D), dtype=float))
    best = np.argmin(loss, axis=1)
    inner = (best > 0) & (best < log_r.size - 1)
    b = np.clip(best, 1, log_r.size - 2)
    rows = np.arange(C.size)
    y0, y1, y2 = loss[rows, b - 1], loss[rows, b], loss[rows, b + 1]
    curvature = y0 - 2 * y1 + y2
    step = log_r[1] - log_r[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature > 0, 0.5 * (y0 - y2) / curvature, 0.0)
    r = 10.0 ** np.where(inner, log_r[b] + np.clip(shift, -1, 1) * step, np.nan)
    n_opt = np.sqrt(C / (6.0 * r))
    d_opt = n_opt * r
    return {"N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": r,
            "loss": np.asarray(law.predict(N=np.nan_to_num(n_opt, nan=1.0),
                                           D=np.nan_to_num(d_opt, nan=1.0)), dtype=float)
            * np.where(inner, 1.0, np.nan)}


@dataclasses.dataclass
class FitRows:
    """The rows of a run table a fit used, and the rows it dropped with the reason.

    ``used``: the fitted rows (the table's columns); ``dropped``: one row per dropped row with
    ``run_id``, ``loss`` (nats/token) and ``reason`` (a short sentence).
    """

    used: pd.DataFrame
    dropped: pd.DataFrame

    def is_dropped(self, frame: pd.DataFrame) -> np.ndarray:
        """Row mask of ``frame``: True where the row (run id and loss) was dropped by the fit."""
        if self.dropped.empty or frame.empty:
            return np.zeros(len(frame), dtype=bool)
        gone = set(zip(self.dropped["run_id"].astype(str), self.dropped["loss"].astype(float),
                       strict=True))
        return np.array([(str(r), float(v)) in gone for r, v in
                         zip(frame["run_id"], frame["loss"], strict=True)], dtype=bool)


def fit_rows(fit: FitResult, runs: pd.DataFrame | str | Path | None = None) -> FitRows:
    """The rows ``fit`` used (record columns: run_id, N's column, tokens, flops, loss) and the
    rows it dropped, with the reason -- read from ``fit.rows``, nothing refitted or reselected.

    A fit read from a version-1 file carries no rows: then its row selection is re-applied to
    ``runs`` by the fitter's ``prepare_runs`` (and the dropped rows come from its diagnostics).
    """
    if fit.rows is not None:
        used = fit.rows[fit.rows["used"].astype(bool)]
        frame = pd.DataFrame({"run_id": used["run_id"].to_numpy(),
                              fit.columns.get("N", "n_params"): used["N"].to_numpy(),
                              "tokens": used["D"].to_numpy(), "flops": used["C"].to_numpy(),
                              "loss": used["loss"].to_numpy()})
        return FitRows(_with_other_inputs(frame, fit, runs), dropped_rows(fit))
    if runs is None:
        raise ScalingLabError("this fit (a version-1 file) does not carry its rows: pass the "
                              "run table it was fitted on")
    from scalinglab.fit.rows import prepare_runs  # noqa: PLC0415

    return FitRows(prepare_runs(_table(runs, "the fit's rows"), fit.law, fit.settings)[0],
                   dropped_rows(fit))


def _with_other_inputs(frame: pd.DataFrame, fit: FitResult,
                       runs: pd.DataFrame | str | Path | None) -> pd.DataFrame:
    """``frame`` (the fitted rows from ``fit.rows``: N, D, C, loss) with the law's other inputs
    (the data-constrained law's unique tokens U) taken from ``runs``, matched by run id and loss.

    ``fit.rows`` keeps N, D and C only; without ``runs`` the frame is returned as it is.
    """
    extra = [VARIABLE_COLUMNS[v] for v in fit.law.variables if v not in ("N", "D", "C")]
    if not extra or runs is None:
        return frame
    table = _table(runs, "the fit's rows")
    missing = [c for c in extra if c not in table.columns]
    if missing:
        raise ScalingLabError(f"the {fit.law.name} law needs column(s) {', '.join(missing)} "
                              f"of the run table; it has {', '.join(map(str, table.columns))}")
    keys = ["run_id", "_loss_key"]
    right = table.assign(run_id=table["run_id"].astype(str),
                         _loss_key=np.round(table["loss"].to_numpy(float), 10))
    right = right.drop_duplicates(keys)[keys + extra]
    left = frame.assign(run_id=frame["run_id"].astype(str),
                        _loss_key=np.round(frame["loss"].to_numpy(float), 10))
    return left.merge(right, on=keys, how="left").drop(columns="_loss_key")


def dropped_rows(fit: Any) -> pd.DataFrame:
    """The rows ``fit`` dropped (``run_id``, ``loss`` in nats/token, ``reason``), in natural
    order of run id (run2 before run10); empty for a fit that dropped none.

    Rows the row selection left out (early checkpoints) are not drops and are not listed.
    """
    table = getattr(fit, "rows", None)
    if table is not None:
        gone = table[table["reason"].astype(str) == "frontier filter"]
        listed = [{"run_id": r, "loss": v} for r, v in zip(gone["run_id"], gone["loss"],
                                                           strict=True)]
    else:  # a version-1 fit: its diagnostics list them
        listed = (getattr(fit, "diagnostics", None) or {}).get("dropped") or []
    settings = getattr(fit, "settings", None)
    threshold = (settings.get("frontier_filter") if isinstance(settings, dict)
                 else getattr(settings, "frontier_filter", None))
    reason = (f"frontier filter: final loss more than {threshold:.0%} above the best at the "
              f"same or less compute" if threshold else "frontier filter")
    rows = sorted(({"run_id": str(d["run_id"]), "loss": float(d["loss"]), "reason": reason}
                   for d in listed), key=lambda d: natural_key(d["run_id"]))
    return pd.DataFrame(rows, columns=["run_id", "loss", "reason"])


def used_by_fit(fit: FitResult, frame: pd.DataFrame) -> np.ndarray:
    """Row mask of ``frame``: True on the rows ``fit.rows`` marks used (matched by run id and
    loss, to 1e-10 nats/token), so a table keeps all its columns; needs a fit with rows."""
    used = fit.rows[fit.rows["used"].astype(bool)]
    keys = set(zip(used["run_id"].astype(str), np.round(used["loss"].to_numpy(float), 10),
                   strict=True))
    return np.array([(str(r), v) in keys for r, v in zip(
        frame["run_id"], np.round(frame["loss"].to_numpy(float), 10), strict=True)], dtype=bool)


def fitted_rows(fit: FitResult, runs: pd.DataFrame | str | Path | None = None) -> pd.DataFrame:
    """The rows ``fit`` was fitted on (:func:`fit_rows`' ``used``)."""
    return fit_rows(fit, runs).used


def _geom_grid(lo: float, hi: float, n: int = 200) -> np.ndarray:
    return np.geomspace(lo, hi, n)


def _legend_below(fig: Figure, ax: Axes, own: bool, ncol: int = 2) -> None:
    """Legend under the axes when the figure is ours (nothing hidden); else the best corner."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if own:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)
    else:
        ax.legend(loc="best")


def _legend(ax: Axes, **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kw)
