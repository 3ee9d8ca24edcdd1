"""Approach 1 of Hoffmann et al. 2022: the envelope of training curves.

Each run contributes its loss curve (many rows per ``run_id``, ordered by FLOPs).  On a grid of
FLOP values, log-spaced, every run whose curve covers that C is read off by linear interpolation
of loss in ``log C``; the lowest of these losses is the envelope ``L(C)``, and the run reaching it
gives ``N_opt(C)`` (its parameters) and ``D_opt(C)`` (its tokens at that C, interpolated in
``log C``).  Power laws ``N_opt = k_N C^a`` and ``D_opt = k_D C^b`` are then fitted to the grid
points by least squares in log-log space.

Modelling choices, each next to what it changes:

* **Smoothing.**  Each run's log loss is smoothed by a local linear fit in ``log C`` over
  ``smooth`` consecutive checkpoints (default 5; 1 turns it off), as Hoffmann et al. smooth each
  curve before interpolating.  Without it, evaluation noise lets lucky checkpoints win the
  minimum, and because iso-FLOP profiles are flatter on one side the winners drift to that side.
  Measured on idealised Hoffmann-law curves (31 sizes, 60 checkpoints over 3 decades, 0.2%
  log-normal noise, 60 simulated datasets): bias of a -0.010 and 42% coverage of the nominal 90%
  interval unsmoothed; -0.003 and 97% with smooth=5; -0.002 and 97% with 9.  On noise-free
  curves smoothing moves a by 4e-4.  Local *linear* fits keep the ends of a curve unbiased,
  where a moving average would not.
* **Grid.**  ``n_grid`` log-spaced FLOP values (default 250; Hoffmann et al. used 1500) between
  the smallest and largest C any curve reaches, optionally clipped to ``[c_min, c_max]``.
* **Coverage.**  A grid point covered by fewer than ``min_runs_covering`` runs (default 2) is no
  minimisation at all, so it is left out.
* **Ladder edges.**  Where the smallest or the largest model of the ladder wins, the true optimum
  may lie beyond the ladder, so N_opt there is censored; such points are left out of the power-law
  fit by default (``drop_edge_winners``) and kept in the table with ``edge = True``.
* **Tokens.**  D is each run's ``tokens`` column when present, else ``C / (6 N)``.
* **Uncertainty.**  Case bootstrap over whole runs (curves); each resample redraws the envelope
  and refits.  A resampled envelope can only lose runs, never gain them, so intervals of an
  extreme statistic like this one are rough; they say how much the answer hangs on single runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from scalinglab.errors import FitError, RunsError, ScalingLabError
from scalinglab.fit.frontier_laws import compute_table, fit_frontier_laws
from scalinglab.jsonutil import to_jsonable
from scalinglab.results import (
    FRONTIER_COLUMNS,
    PowerFrontier,
    frame_from_columns,
    frame_to_columns,
    quantile_bounds,
    read_result_json,
)

DEFAULT_GRID_POINTS = 250
DEFAULT_MIN_RUNS_COVERING = 2
DEFAULT_SMOOTH = 5
#: bootstrap draws processed at once (bounds memory at draws x runs x grid floats).
_CHUNK_ELEMENTS = 4_000_000


@dataclass
class _Curves:
    """Every run's curve on the common FLOP grid."""

    log10_c: np.ndarray          # (G,) grid, log10 FLOPs
    loss: np.ndarray             # (R, G) nats/token, NaN where the run does not reach C
    log10_tokens: np.ndarray     # (R, G)
    log10_n: np.ndarray          # (R,) parameters
    run_ids: list[str]


@dataclass
class EnvelopeResult(PowerFrontier):
    """Approach 1 result: the envelope L(C) with its N_opt, D_opt, and the fitted power laws.

    ``envelope`` has one row per grid point: flops (C, FLOPs), loss (envelope, nats/token),
    n_opt (parameters of the winning run), d_opt (its tokens at C), run_id (the winner),
    n_covering (runs reaching C), edge (winner is the smallest or largest model) and used
    (fed the power-law fit).  ``bootstrap`` holds one row per resample: a, log10_k_n, b, log10_k_d.
    """

    envelope: pd.DataFrame

    def envelope_runs(self) -> pd.DataFrame:
        """The used envelope points as a run table (n_params, tokens, flops, loss) -- e.g. to fit
        a single-variable ``L(C) = E + A C^-alpha`` to the envelope."""
        used = self.envelope[self.envelope["used"].astype(bool)]
        return pd.DataFrame({"run_id": used["run_id"].astype(str).to_numpy(),
                             "n_params": used["n_opt"].to_numpy(),
                             "tokens": used["d_opt"].to_numpy(),
                             "flops": used["flops"].to_numpy(),
                             "loss": used["loss"].to_numpy(), "final": True})

    def __repr__(self) -> str:
        n_boot = 0 if self.bootstrap is None else len(self.bootstrap)
        return (f"EnvelopeResult(a={self.a:.4f}, b={self.b:.4f}, "
                f"points={int(self.envelope['used'].sum())}, runs={self.n_runs}, "
                f"bootstrap={n_boot})")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"format": "scalinglab.envelope", **self._frontier_dict(),
                            "envelope": frame_to_columns(self.envelope)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvelopeResult:
        if data.get("format") != "scalinglab.envelope":
            raise ScalingLabError("not a scalinglab envelope result (format: scalinglab.envelope)")
        try:
            return cls(envelope=frame_from_columns(data["envelope"]),
                       **cls._frontier_kwargs(data))
        except (KeyError, TypeError) as exc:
            raise ScalingLabError(f"envelope result lacks field {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> EnvelopeResult:
        return cls.from_dict(read_result_json(path, "scalinglab.envelope"))


def fit_envelope(runs: pd.DataFrame, n_grid: int = DEFAULT_GRID_POINTS,
                 c_min: float | None = None, c_max: float | None = None,
                 min_runs_covering: int = DEFAULT_MIN_RUNS_COVERING,
                 drop_edge_winners: bool = True, smooth: int = DEFAULT_SMOOTH,
                 bootstrap: int = 1000, level: float = 0.9,
                 target_flops: float | None = None, seed: int = 0) -> EnvelopeResult:
    """Approach 1 (envelope of loss curves) on a run table with run_id, n_params, flops, loss.

    Each run needs >= 2 rows (checkpoints).  ``n_grid``: log-spaced FLOP values; ``c_min``,
    ``c_max``: clip the grid (FLOPs).  ``smooth``: checkpoints per local linear smoothing window
    (1: none).  ``bootstrap``: resamples of whole runs (0 for none).
    """
    _check_options(n_grid, c_min, c_max, min_runs_covering, bootstrap, level)
    if smooth < 1:
        raise ScalingLabError(f"smooth must be >= 1 checkpoints (1: no smoothing), got {smooth}")
    runs, compute_note = compute_table(runs, "Approach 1 (envelope)")
    if "run_id" not in runs.columns:
        raise RunsError("Approach 1 (envelope) needs a run_id column to tell loss curves apart")
    curves, n_single = _curves_on_grid(runs, n_grid, c_min, c_max, smooth)
    winner, n_covering = _envelope_winners(curves.loss, np.ones(curves.loss.shape[0], bool),
                                           min_runs_covering)
    table = _envelope_table(curves, winner, n_covering)
    use = table["run_id"].notna().to_numpy().copy()
    if drop_edge_winners:
        use &= ~table["edge"].to_numpy(dtype=bool)
    table["used"] = use
    if np.unique(table.loc[use, "n_opt"]).size < 2:
        raise FitError(f"the envelope is won by fewer than 2 model sizes at the usable FLOP "
                       f"values ({int(use.sum())} grid points); N_opt ~ C^a cannot be fitted -- "
                       f"add model sizes or pass drop_edge_winners=False")
    laws = fit_frontier_laws(curves.log10_c[use], np.log10(table["n_opt"].to_numpy()[use]),
                             np.log10(table["d_opt"].to_numpy()[use]))
    draws = (_bootstrap(curves, use, min_runs_covering, drop_edge_winners, bootstrap, seed)
             if bootstrap > 0 else None)
    settings = {"approach": 1, "n_grid": n_grid, "c_min": c_min, "c_max": c_max,
                "min_runs_covering": min_runs_covering, "drop_edge_winners": drop_edge_winners,
                "smooth": smooth,
                "interpolation": "loss and log10 tokens linear in log10 C",
                "tokens": "tokens column" if "tokens" in runs.columns else "C / (6 N)",
                "bootstrap": bootstrap, "seed": seed, "loss": "nats/token",
                "compute": compute_note or "flops column"}
    result = EnvelopeResult(envelope=table, **{k: float(v) for k, v in laws.items()},
                            settings=settings, n_runs=len(curves.run_ids), bootstrap=draws,
                            level=level,
                            target_flops=None if target_flops is None else float(target_flops))
    result.warnings = ([compute_note] if compute_note else []) + _warnings(table, n_single, draws)
    return result


def _check_options(n_grid: int, c_min: float | None, c_max: float | None,
                   min_runs_covering: int, bootstrap: int, level: float) -> None:
    if n_grid < 3:
        raise ScalingLabError(f"n_grid must be >= 3 FLOP values, got {n_grid}")
    for name, value in (("c_min", c_min), ("c_max", c_max)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ScalingLabError(f"{name} must be a FLOP count > 0, got {value}")
    if c_min is not None and c_max is not None and c_min >= c_max:
        raise ScalingLabError(f"c_min ({c_min:g}) must be below c_max ({c_max:g})")
    if min_runs_covering < 1:
        raise ScalingLabError(f"min_runs_covering must be >= 1, got {min_runs_covering}")
    if bootstrap < 0:
        raise ScalingLabError(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    quantile_bounds(level)


def _curves_on_grid(runs: pd.DataFrame, n_grid: int, c_min: float | None,
                    c_max: float | None, smooth: int) -> tuple[_Curves, int]:
    """Interpolate each run's loss and log tokens onto a shared log-spaced FLOP grid."""
    frame = runs.assign(run_id=runs["run_id"].astype(str)).sort_values(["run_id", "flops"])
    groups = [(rid, g) for rid, g in frame.groupby("run_id", sort=True)]
    multi = [(rid, g) for rid, g in groups if len(g) >= 2]
    if len(multi) < 2:
        raise FitError(f"Approach 1 needs loss curves (>= 2 rows per run) from >= 2 runs; "
                       f"found {len(multi)} such run(s)")
    for rid, g in multi:
        if g["n_params"].nunique() != 1:
            raise RunsError(f"run {rid!r} has rows with different n_params; one run is one "
                            f"model size")
    lo = min(np.log10(g["flops"].min()) for _, g in multi)
    hi = max(np.log10(g["flops"].max()) for _, g in multi)
    lo = max(lo, np.log10(c_min)) if c_min is not None else lo
    hi = min(hi, np.log10(c_max)) if c_max is not None else hi
    if not lo < hi:
        raise ScalingLabError("the FLOP range [c_min, c_max] does not overlap the loss curves")
    grid = np.linspace(lo, hi, n_grid)
    loss = np.empty((len(multi), n_grid))
    log_tokens = np.empty_like(loss)
    for i, (_, g) in enumerate(multi):
        log_c = np.log10(g["flops"].to_numpy(dtype=float))
        log_c, first = np.unique(log_c, return_index=True)  # np.interp needs increasing x
        tokens = (g["tokens"].to_numpy(dtype=float) if "tokens" in g.columns
                  else g["flops"].to_numpy(dtype=float) / (6.0 * g["n_params"].to_numpy(float)))
        log_loss = local_linear_smooth(log_c, np.log(g["loss"].to_numpy(dtype=float)[first]),
                                       smooth)
        loss[i] = np.interp(grid, log_c, np.exp(log_loss), left=np.nan, right=np.nan)
        log_tokens[i] = np.interp(grid, log_c, np.log10(tokens)[first],
                                  left=np.nan, right=np.nan)
    log_n = np.log10([float(g["n_params"].iloc[0]) for _, g in multi])
    curves = _Curves(log10_c=grid, loss=loss, log10_tokens=log_tokens, log10_n=log_n,
                     run_ids=[rid for rid, _ in multi])
    return curves, len(groups) - len(multi)


def local_linear_smooth(x: np.ndarray, y: np.ndarray, window: int) -> np.ndarray:
    """Each y replaced by a least-squares line through ``window`` consecutive points, read at x.

    Windows are centred where possible and shifted inwards at the ends; with fewer points than
    ``window`` (or window 1) y is returned unchanged.
    """
    n = x.size
    if window <= 1 or n < window:
        return y
    xs, ys = sliding_window_view(x, window), sliding_window_view(y, window)
    x_mean, y_mean = xs.mean(axis=1), ys.mean(axis=1)
    dx = xs - x_mean[:, None]
    slope = (dx * (ys - y_mean[:, None])).sum(axis=1) / (dx * dx).sum(axis=1)
    start = np.clip(np.arange(n) - window // 2, 0, n - window)
    return y_mean[start] + slope[start] * (x - x_mean[start])


def _envelope_winners(loss: np.ndarray, present: np.ndarray,
                      min_runs_covering: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the lowest-loss run at each grid point among ``present`` runs (-1: too few).

    ``loss`` is (R, G); ``present`` is (R,) or (B, R) for a batch of resamples.
    Returns winner and coverage counts of shape (G,) or (B, G).
    """
    masked = np.where(present[..., None], loss, np.nan)
    covered = np.isfinite(masked)
    n_covering = covered.sum(axis=-2)
    winner = np.argmin(np.where(covered, masked, np.inf), axis=-2)
    return np.where(n_covering >= min_runs_covering, winner, -1), n_covering


def _envelope_table(curves: _Curves, winner: np.ndarray, n_covering: np.ndarray) -> pd.DataFrame:
    cols = np.arange(curves.log10_c.size)
    ok = winner >= 0
    w = np.where(ok, winner, 0)
    n_opt = np.where(ok, 10.0 ** curves.log10_n[w], np.nan)
    edge = ok & ((curves.log10_n[w] == curves.log10_n.min())
                 | (curves.log10_n[w] == curves.log10_n.max()))
    return pd.DataFrame({
        "flops": 10.0**curves.log10_c,
        "loss": np.where(ok, curves.loss[w, cols], np.nan),
        "n_opt": n_opt,
        "d_opt": np.where(ok, 10.0 ** curves.log10_tokens[w, cols], np.nan),
        "run_id": [curves.run_ids[i] if good else None for i, good in zip(w, ok, strict=True)],
        "n_covering": n_covering,
        "edge": edge,
    })


def _bootstrap(curves: _Curves, use: np.ndarray, min_runs_covering: int,
               drop_edge_winners: bool, n_draws: int, seed: int) -> pd.DataFrame:
    """Resample whole runs; redraw the envelope and refit the power laws for every draw."""
    rng = np.random.default_rng(seed)
    n_runs = curves.loss.shape[0]
    counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_draws)
    present = counts > 0
    # only grid points of the point fit's range take part, so draws answer the same question
    loss = np.where(use[None, :], curves.loss, np.nan)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, loss.size))
    out = {k: np.full(n_draws, np.nan) for k in FRONTIER_COLUMNS}
    cols = np.arange(curves.log10_c.size)
    for start in range(0, n_draws, chunk):
        sl = slice(start, start + chunk)
        winner, _ = _envelope_winners(loss, present[sl], min_runs_covering)
        ok = winner >= 0
        w = np.where(ok, winner, 0)
        log_n = curves.log10_n[w]
        if drop_edge_winners:
            lo, hi = _present_extremes(curves.log10_n, present[sl])
            ok &= (log_n > lo[:, None]) & (log_n < hi[:, None])
        log_n = np.where(ok, log_n, np.nan)
        log_d = np.where(ok, curves.log10_tokens[w, cols[None, :]], np.nan)
        laws = fit_frontier_laws(curves.log10_c, log_n, log_d)
        for k in FRONTIER_COLUMNS:
            out[k][sl] = laws[k]
    draws = pd.DataFrame(out)
    draws["runs_drawn"] = present.sum(axis=1)
    return draws


def _present_extremes(log_n: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest model size among the runs present in each resample."""
    lo = np.where(present, log_n[None, :], np.inf).min(axis=1)
    hi = np.where(present, log_n[None, :], -np.inf).max(axis=1)
    return lo, hi


def _warnings(table: pd.DataFrame, n_single: int, draws: pd.DataFrame | None) -> list[str]:
    out = []
    used = table[table["used"].astype(bool)]
    sizes = used["n_opt"].nunique()
    if sizes < 4:
        out.append(f"only {sizes} model sizes win the envelope at the fitted FLOP values: N_opt "
                   f"moves in steps as large as the ladder's, so a is coarse -- add sizes")
    n_edge = int(table["edge"].sum())
    if n_edge:
        kept = "kept in" if bool(table.loc[table["edge"], "used"].any()) else "left out of"
        out.append(f"{n_edge} grid point(s) are won by the smallest or largest model, where the "
                   f"optimum may lie beyond the ladder; they are {kept} the fit")
    uncovered = int(table["run_id"].isna().sum())
    if uncovered:
        out.append(f"{uncovered} grid point(s) are reached by too few runs and were left out")
    if n_single:
        out.append(f"{n_single} run(s) have a single row (no curve) and were left out")
    if draws is not None:
        failed = int((~np.isfinite(draws["a"])).sum())
        if failed:
            out.append(f"{failed} of {len(draws)} bootstrap resamples gave no exponent and were "
                       f"dropped from the intervals")
    return out
