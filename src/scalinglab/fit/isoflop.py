"""Approach 2 of Hoffmann et al. 2022: IsoFLOP profiles.

Runs are grouped by training compute C (FLOPs).  Within one budget, loss is fitted as a
polynomial in ``log10 N`` and its minimum gives the compute-optimal size ``N_opt(C)`` for that
budget; power laws ``N_opt = k_N C^a`` and ``D_opt = k_D C^b`` are then fitted across budgets by
least squares in log-log space.

Modelling choices, each next to what it changes:

* **Profile shape.**  Hoffmann et al. (Sec. 3.2) fit a parabola.  Along an iso-FLOP line
  ``L = E + A N^-alpha + B' N^beta`` is not symmetric in ``log N`` unless alpha = beta, so a
  parabola's vertex is biased; Czech et al. 2026 ("Problems with Chinchilla Approach 2",
  arXiv:2603.22339) trace the bias to sweep width, off-centre sweeps and alpha != beta.  A cubic
  (needs >= 4 distinct sizes) follows the asymmetry; it is the default here, with the parabola
  used where a budget has only 3 sizes.  Both minima are kept in the per-budget table.
  Measured on the Hoffmann 2022 law, 9 sizes per budget: a sweep of +-0.5 dex centred on the
  optimum puts the parabola's vertex 0.004 dex off and the cubic's < 0.001 dex off; a sweep that
  drifts from 0.5 dex below to 0.5 dex above the optimum across budgets biases a by +0.006 with
  the parabola and -0.001 with the cubic.  (A constant offset, the same at every budget, cancels
  out of the slope.)  Over +-1 dex neither polynomial follows the profile (a off by up to 0.01);
  ``window_dex`` then fits only the runs near each budget's best run.
* **Extrapolated minima.**  A minimum outside the sampled range of N is a guess about runs nobody
  trained; it is flagged (``extrapolated``) and warned about, and can be excluded.  A vertex more
  than 2 decades beyond the sampled sizes counts as no minimum at all.
* **Grouping.**  Either explicit budgets (each run joins the nearest budget within
  ``tolerance_dex`` in log10 C) or automatic clustering of ``log10 C``: repeatedly take the
  densest window of half-width ``tolerance_dex`` (default 0.05 dex, i.e. C within a factor 1.12
  of the centre), re-centre it on its median until stable, and keep it if it holds at least
  ``min_runs`` runs (default 5).  Runs in no budget are left out and counted.  A budget's C is
  the explicit value, or 10^(median log10 C) of its cluster; the spread of C inside a budget is
  ignored by the profile fit.  Published tables with extra runs scattered between the iso-FLOP
  lines (Epoch's extraction of Hoffmann's Fig. 4 is one) are better grouped by explicit budgets.
* **D_opt.**  ``tokens_from="runs"`` (default when the table has ``tokens``): within each budget
  ``log10 D`` is regressed linearly on ``log10 N`` and read at ``N_opt`` -- the tokens the runs
  actually saw, right even when C is an exact FLOP count rather than 6ND.
  ``tokens_from="flops"``: ``D_opt = C / (6 N_opt)`` (Kaplan's C = 6ND), which forces b = 1 - a.
* **Uncertainty.**  Case bootstrap: within every budget its runs are resampled with replacement
  (as multinomial counts -> weighted least squares, all resamples at once), the minima and the
  exponent fit are redone, and percentile intervals are read off the draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.frontier_laws import compute_table, fit_frontier_laws, require_columns
from scalinglab.fit.rows import select_rows
from scalinglab.jsonutil import to_jsonable
from scalinglab.results import (
    FRONTIER_COLUMNS,
    PowerFrontier,
    frame_from_columns,
    frame_to_columns,
    quantile_bounds,
    read_result_json,
)

DEFAULT_TOLERANCE_DEX = 0.05
MIN_RUNS_PARABOLA = 3
MIN_RUNS_CUBIC = 4
#: budgets with fewer runs are ignored: a profile needs sizes on both sides of its minimum, and
#: with automatic grouping a handful of runs from other sweeps can share a C by coincidence.
DEFAULT_MIN_RUNS = 5
#: parabola and cubic minima further apart than this (in log10 N) trigger a warning.
PROFILE_DISAGREEMENT_DEX = 0.1
#: a vertex further than this (decades of N) outside the sampled sizes counts as no minimum.
MAX_EXTRAPOLATION_DEX = 2.0
PROFILES = ("cubic", "parabola")
TOKEN_SOURCES = ("runs", "flops")


# ------------------------------------------------------------------------------------------------
# grouping runs into compute budgets
# ------------------------------------------------------------------------------------------------
def cluster_budgets(flops: np.ndarray, tolerance_dex: float = DEFAULT_TOLERANCE_DEX,
                    min_runs: int = DEFAULT_MIN_RUNS) -> tuple[np.ndarray, np.ndarray]:
    """Group compute values into budgets by the densest windows of ``log10 C``.

    Returns (labels, centres): ``labels[i]`` is the budget index of run i (-1: none) and
    ``centres[k]`` the budget's C in FLOPs (10 ** median log10 C of its runs), sorted ascending.
    """
    logc = np.log10(np.asarray(flops, dtype=float))
    labels = np.full(logc.size, -1)
    centres: list[float] = []
    free = np.ones(logc.size, dtype=bool)
    while free.sum() >= min_runs:
        values = np.sort(logc[free])
        counts = (np.searchsorted(values, values + tolerance_dex, side="right")
                  - np.searchsorted(values, values - tolerance_dex, side="left"))
        if counts.max() < min_runs:
            break
        centre = _recentre(values, values[int(np.argmax(counts))], tolerance_dex)
        members = free & (np.abs(logc - centre) <= tolerance_dex)
        if members.sum() < min_runs:
            break
        labels[members] = len(centres)
        centres.append(float(np.median(logc[members])))
        free &= ~members
    order = np.argsort(centres)
    relabel = np.full(len(centres) + 1, -1)
    relabel[order] = np.arange(len(centres))
    labels = np.where(labels >= 0, relabel[labels], -1)
    return labels, 10.0 ** np.asarray(centres)[order]


def _recentre(values: np.ndarray, centre: float, tolerance_dex: float) -> float:
    """Move a window's centre to the median of its members until it stops moving."""
    for _ in range(20):
        members = values[np.abs(values - centre) <= tolerance_dex]
        new = float(np.median(members))
        if abs(new - centre) < 1e-9:
            break
        centre = new
    return centre


def assign_budgets(flops: np.ndarray, budgets: np.ndarray,
                   tolerance_dex: float = DEFAULT_TOLERANCE_DEX) -> np.ndarray:
    """Label of the nearest explicit budget (in log10 C) within the tolerance, or -1."""
    budgets = np.asarray(budgets, dtype=float)
    if budgets.size == 0 or np.any(~np.isfinite(budgets)) or np.any(budgets <= 0):
        raise ScalingLabError("budgets must be a non-empty list of FLOP counts > 0")
    if np.any(np.diff(np.sort(np.log10(budgets))) <= 2 * tolerance_dex):
        raise ScalingLabError(f"budgets closer than twice the tolerance ({tolerance_dex} dex) "
                              f"overlap; lower tolerance_dex or merge them")
    distance = np.abs(np.log10(np.asarray(flops, dtype=float))[:, None]
                      - np.log10(budgets)[None, :])
    nearest = np.argmin(distance, axis=1)
    return np.where(distance[np.arange(len(nearest)), nearest] <= tolerance_dex, nearest, -1)


# ------------------------------------------------------------------------------------------------
# polynomial profiles and their minima (batched over bootstrap draws)
# ------------------------------------------------------------------------------------------------
def weighted_polyfit(x: np.ndarray, y: np.ndarray, weights: np.ndarray,
                     degree: int) -> np.ndarray:
    """Least-squares polynomial coefficients (c0, c1, ..) for each row of ``weights`` (m, n).

    Rows with fewer than ``degree + 1`` distinct x values of positive weight give NaN.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    V = np.vander(x, degree + 1, increasing=True)
    gram = np.einsum("mn,ni,nj->mij", weights, V, V)
    rhs = np.einsum("mn,ni,n->mi", weights, V, y)
    _, group = np.unique(x, return_inverse=True)
    group_weight = np.zeros((weights.shape[0], group.max() + 1))
    np.add.at(group_weight.T, group, weights.T)
    solvable = (group_weight > 0).sum(axis=1) >= degree + 1
    gram[~solvable] = np.eye(degree + 1)
    rhs[~solvable] = 0.0
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    coef[~solvable] = np.nan
    return coef


def polynomial_minimum(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local minimum (x, value) of quadratics or cubics with coefficients (c0, c1, c2[, c3]).

    For ``c3 x^3 + c2 x^2 + c1 x + c0`` the stationary points solve ``3 c3 x^2 + 2 c2 x + c1 = 0``;
    the one with positive curvature is ``x = -2 c1 / (2 c2 + s)``, ``s = sqrt(4 c2^2 - 12 c3 c1)``
    (the cancellation-free form; with c3 = 0 it is the parabola's vertex ``-c1 / (2 c2)``).
    NaN where there is no local minimum (a concave parabola, or a cubic with no turning point).
    """
    coef = np.atleast_2d(coef)
    c0, c1, c2 = coef[:, 0], coef[:, 1], coef[:, 2]
    c3 = coef[:, 3] if coef.shape[1] > 3 else np.zeros_like(c0)
    disc = 4 * c2 * c2 - 12 * c3 * c1
    s = np.sqrt(np.where(disc >= 0, disc, np.nan))
    denom = 2 * c2 + s
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(denom > 0, -2 * c1 / denom, np.nan)
    value = c0 + c1 * x + c2 * x**2 + c3 * x**3
    return x, value


@dataclass
class _Profile:
    """One budget's runs in the fitting coordinates (x = log10 N, centred)."""

    flops: float
    x: np.ndarray
    x_centre: float
    loss: np.ndarray
    log10_tokens: np.ndarray | None
    run_ids: list[str]


def _profile_minima(p: _Profile, weights: np.ndarray, profile: str
                    ) -> dict[str, np.ndarray]:
    """Parabola and cubic minima (log10 N, loss) of one budget for each weight row."""
    out: dict[str, np.ndarray] = {}
    solvable = {}
    for name, degree in (("parabola", 2), ("cubic", 3)):
        coef = weighted_polyfit(p.x, p.loss, weights, degree)
        x_min, loss_min = polynomial_minimum(coef)
        too_far = (x_min < p.x.min() - MAX_EXTRAPOLATION_DEX) | \
            (x_min > p.x.max() + MAX_EXTRAPOLATION_DEX)
        x_min, loss_min = np.where(too_far, np.nan, x_min), np.where(too_far, np.nan, loss_min)
        solvable[name] = np.isfinite(coef[:, 0])
        out[f"log10_n_{name}"] = x_min + p.x_centre
        out[f"loss_{name}"] = loss_min
    chosen = profile if np.unique(p.x).size >= MIN_RUNS_CUBIC else "parabola"
    # a resample with fewer than 4 distinct sizes cannot fix a cubic: use its parabola instead
    fallback = ~solvable[chosen]
    out["log10_n_opt"] = np.where(fallback, out["log10_n_parabola"], out[f"log10_n_{chosen}"])
    out["loss_opt"] = np.where(fallback, out["loss_parabola"], out[f"loss_{chosen}"])
    out["method"] = np.array(chosen)
    return out


def _log10_d_at(p: _Profile, weights: np.ndarray, log10_n_opt: np.ndarray,
                tokens_from: str) -> np.ndarray:
    """log10 D_opt for each weight row: from the runs' tokens, or C / (6 N_opt)."""
    if tokens_from == "flops" or p.log10_tokens is None:
        return np.log10(p.flops / 6.0) - log10_n_opt
    coef = weighted_polyfit(p.x, p.log10_tokens, weights, 1)
    return coef[:, 0] + coef[:, 1] * (log10_n_opt - p.x_centre)


# ------------------------------------------------------------------------------------------------
# the result
# ------------------------------------------------------------------------------------------------
@dataclass
class IsoFlopResult(PowerFrontier):
    """Approach 2 result: per-budget minima and the power laws N_opt = k_N C^a, D_opt = k_D C^b.

    ``budgets`` has one row per budget: flops (C, FLOPs), n_runs, n_min/n_max (sampled range of N,
    parameters), the parabola's and cubic's minima (n_opt_parabola / loss_opt_parabola, ...;
    N in parameters, loss in nats/token), the minimum used (method, n_opt, d_opt in tokens,
    loss_opt), extrapolated (minimum outside [n_min, n_max]) and used (fed the exponent fit).
    ``bootstrap`` holds one row per resample: a, log10_k_n, b, log10_k_d.
    """

    budgets: pd.DataFrame
    n_unassigned: int

    def __repr__(self) -> str:
        n_boot = 0 if self.bootstrap is None else len(self.bootstrap)
        return (f"IsoFlopResult(a={self.a:.4f}, b={self.b:.4f}, budgets={len(self.budgets)}, "
                f"runs={self.n_runs}, bootstrap={n_boot})")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"format": "scalinglab.isoflop", **self._frontier_dict(),
                            "n_unassigned": self.n_unassigned,
                            "budgets": frame_to_columns(self.budgets)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsoFlopResult:
        if data.get("format") != "scalinglab.isoflop":
            raise ScalingLabError("not a scalinglab IsoFLOP result (format: scalinglab.isoflop)")
        try:
            return cls(budgets=frame_from_columns(data["budgets"]),
                       n_unassigned=int(data["n_unassigned"]), **cls._frontier_kwargs(data))
        except (KeyError, TypeError) as exc:
            raise ScalingLabError(f"IsoFLOP result lacks field {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> IsoFlopResult:
        return cls.from_dict(read_result_json(path, "scalinglab.isoflop"))


# ------------------------------------------------------------------------------------------------
# the fit
# ------------------------------------------------------------------------------------------------
def fit_isoflop(runs: pd.DataFrame, budgets: list[float] | np.ndarray | None = None,
                tolerance_dex: float = DEFAULT_TOLERANCE_DEX, min_runs: int = DEFAULT_MIN_RUNS,
                profile: str = "cubic", tokens_from: str | None = None,
                window_dex: float | None = None,
                exclude_extrapolated: bool = False, bootstrap: int = 1000,
                level: float = 0.9, target_flops: float | None = None, seed: int = 0,
                rows: str = "final") -> IsoFlopResult:
    """Approach 2 (IsoFLOP profiles) on a run table with n_params, flops, loss (and tokens).

    ``budgets``: explicit compute budgets in FLOPs, or None to cluster ``log10 C`` automatically
    (half-width ``tolerance_dex``).  ``profile``: "cubic" (default; parabola for 3-run budgets)
    or "parabola" (Hoffmann's choice).  ``tokens_from``: "runs" or "flops" (see module docs;
    default "runs" when a tokens column exists).  ``bootstrap``: resamples (0 for none).
    ``window_dex``: fit each profile only on runs within this many decades of N of the
    budget's lowest-loss run (None: all runs; polynomials cannot follow very wide profiles).
    ``min_runs``: budgets with fewer runs are skipped (and named in the warnings).
    ``rows``: "final" (one row per finished run/branch) or "all".
    """
    _check_options(profile, tokens_from, tolerance_dex, min_runs, bootstrap, level)
    runs, compute_note = compute_table(runs, "Approach 2 (IsoFLOP)")
    if rows not in ("final", "all"):
        raise ScalingLabError(f"rows must be 'final' or 'all', not {rows!r}")
    if "run_id" not in runs.columns:  # a plain table: one row per run
        runs = runs.assign(run_id=[f"run{i}" for i in range(len(runs))])
    table = (runs if rows == "all" else select_rows(runs)).reset_index(drop=True)
    if tokens_from is None:
        tokens_from = "runs" if "tokens" in table.columns else "flops"
    if tokens_from == "runs":
        require_columns(table, ("tokens",), "tokens_from='runs'")
    profiles, n_unassigned, skipped = _group(table, budgets, tolerance_dex, min_runs,
                                             tokens_from, window_dex)
    point = [_profile_minima(p, np.ones((1, p.x.size)), profile) for p in profiles]
    budget_table = _budget_table(profiles, point, tokens_from)
    use = np.isfinite(budget_table["n_opt"].to_numpy(dtype=float))
    if exclude_extrapolated:
        use &= ~budget_table["extrapolated"].to_numpy(dtype=bool)
    budget_table["used"] = use
    if use.sum() < 2:
        raise FitError(f"Approach 2 needs at least 2 budgets with a usable profile minimum; "
                       f"found {int(use.sum())} of {len(profiles)}")
    laws = fit_frontier_laws(np.log10(budget_table["flops"].to_numpy()[use]),
                             np.log10(budget_table["n_opt"].to_numpy()[use]),
                             np.log10(budget_table["d_opt"].to_numpy()[use]))
    draws = (_bootstrap(profiles, profile, tokens_from, use, bootstrap, seed)
             if bootstrap > 0 else None)
    settings = {"approach": 2, "profile": profile, "tokens_from": tokens_from,
                "grouping": "explicit" if budgets is not None else "clustered",
                "tolerance_dex": tolerance_dex, "min_runs": min_runs, "window_dex": window_dex,
                "exclude_extrapolated": exclude_extrapolated, "bootstrap": bootstrap,
                "seed": seed, "rows": rows, "x": "log10 n_params", "loss": "nats/token",
                "compute": compute_note or "flops column"}
    result = IsoFlopResult(budgets=budget_table, **{k: float(v) for k, v in laws.items()},
                           settings=settings, n_runs=int(sum(p.x.size for p in profiles)),
                           n_unassigned=n_unassigned, bootstrap=draws, level=level,
                           target_flops=None if target_flops is None else float(target_flops))
    result.warnings = ([compute_note] if compute_note else []) + \
        _warnings(budget_table, n_unassigned, draws)
    if skipped:
        result.warnings.append(f"budget(s) {', '.join(f'{c:.3g}' for c in skipped)} FLOPs have "
                               f"fewer than {min_runs} runs and were skipped")
    return result


def _check_options(profile: str, tokens_from: str | None, tolerance_dex: float, min_runs: int,
                   bootstrap: int, level: float) -> None:
    if profile not in PROFILES:
        raise ScalingLabError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    if tokens_from is not None and tokens_from not in TOKEN_SOURCES:
        raise ScalingLabError(f"tokens_from must be one of {', '.join(TOKEN_SOURCES)}, "
                              f"not {tokens_from!r}")
    if not 0 < tolerance_dex < 1:
        raise ScalingLabError(f"tolerance_dex must be in (0, 1) decades, got {tolerance_dex}")
    if min_runs < MIN_RUNS_PARABOLA:
        raise ScalingLabError(f"min_runs must be >= {MIN_RUNS_PARABOLA} (a parabola has 3 "
                              f"coefficients), got {min_runs}")
    if bootstrap < 0:
        raise ScalingLabError(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    quantile_bounds(level)


def _group(table: pd.DataFrame, budgets: Any, tolerance_dex: float, min_runs: int,
           tokens_from: str, window_dex: float | None
           ) -> tuple[list[_Profile], int, list[float]]:
    flops = table["flops"].to_numpy(dtype=float)
    if budgets is None:
        labels, centres = cluster_budgets(flops, tolerance_dex, min_runs)
    else:
        centres = np.sort(np.asarray(budgets, dtype=float))
        labels = assign_budgets(flops, centres, tolerance_dex)
    profiles, skipped = [], []
    for k, centre in enumerate(centres):
        members = table[labels == k]
        if window_dex is not None and len(members):
            members = _near_best(members, window_dex)
        if len(members) < min_runs:
            skipped.append(float(centre))
            continue
        x = np.log10(members["n_params"].to_numpy(dtype=float))
        tokens = (np.log10(members["tokens"].to_numpy(dtype=float))
                  if tokens_from == "runs" else None)
        run_ids = (members["run_id"].astype(str).tolist() if "run_id" in members.columns
                   else [str(i) for i in members.index])
        profiles.append(_Profile(flops=float(centre), x=x - x.mean(), x_centre=float(x.mean()),
                                 loss=members["loss"].to_numpy(dtype=float),
                                 log10_tokens=tokens, run_ids=run_ids))
    if len(profiles) < 2:
        how = ("given budgets" if budgets is not None
               else f"clusters of log10 C (±{tolerance_dex} dex)")
        raise FitError(f"Approach 2 needs at least 2 compute budgets with >= {min_runs} runs "
                       f"each; the {how} gave {len(profiles)}")
    n_unassigned = len(table) - sum(p.x.size for p in profiles)
    return profiles, n_unassigned, skipped


def _near_best(members: pd.DataFrame, window_dex: float) -> pd.DataFrame:
    """The runs within ``window_dex`` decades of N of the budget's lowest-loss run."""
    log_n = np.log10(members["n_params"].to_numpy(dtype=float))
    best = log_n[int(np.argmin(members["loss"].to_numpy(dtype=float)))]
    return members[np.abs(log_n - best) <= window_dex + 1e-12]


def _budget_table(profiles: list[_Profile], minima: list[dict[str, np.ndarray]],
                  tokens_from: str) -> pd.DataFrame:
    rows = []
    for p, m in zip(profiles, minima, strict=True):
        log10_n = float(m["log10_n_opt"][0])
        log10_d = float(_log10_d_at(p, np.ones((1, p.x.size)), m["log10_n_opt"], tokens_from)[0])
        lo, hi = p.x.min() + p.x_centre, p.x.max() + p.x_centre
        rows.append({
            "flops": p.flops, "n_runs": p.x.size, "n_min": 10**lo, "n_max": 10**hi,
            "n_opt_parabola": 10 ** float(m["log10_n_parabola"][0]),
            "loss_opt_parabola": float(m["loss_parabola"][0]),
            "n_opt_cubic": 10 ** float(m["log10_n_cubic"][0]),
            "loss_opt_cubic": float(m["loss_cubic"][0]),
            "method": str(m["method"]), "n_opt": 10**log10_n, "d_opt": 10**log10_d,
            "loss_opt": float(m["loss_opt"][0]),
            "extrapolated": bool(np.isfinite(log10_n) and not lo <= log10_n <= hi),
        })
    return pd.DataFrame(rows)


def _bootstrap(profiles: list[_Profile], profile: str, tokens_from: str, use: np.ndarray,
               n_draws: int, seed: int) -> pd.DataFrame:
    """Resample runs within each budget; refit minima and the power laws for every draw."""
    rng = np.random.default_rng(seed)
    log10_n = np.full((n_draws, len(profiles)), np.nan)
    log10_d = np.full((n_draws, len(profiles)), np.nan)
    for k, p in enumerate(profiles):
        counts = rng.multinomial(p.x.size, np.full(p.x.size, 1.0 / p.x.size), size=n_draws)
        if not use[k]:
            continue
        minima = _profile_minima(p, counts.astype(float), profile)
        log10_n[:, k] = minima["log10_n_opt"]
        log10_d[:, k] = _log10_d_at(p, counts.astype(float), minima["log10_n_opt"], tokens_from)
    log10_c = np.log10([p.flops for p in profiles])
    laws = fit_frontier_laws(log10_c, log10_n, log10_d)
    draws = pd.DataFrame({k: laws[k] for k in FRONTIER_COLUMNS})
    draws["budgets_used"] = np.isfinite(log10_n).sum(axis=1)
    return draws


def _warnings(table: pd.DataFrame, n_unassigned: int, draws: pd.DataFrame | None) -> list[str]:
    out = []
    for row in table.itertuples():
        label = f"budget C={row.flops:.3g} FLOPs"
        if not np.isfinite(row.n_opt):
            out.append(f"{label}: the {row.method} profile has no minimum within "
                       f"{MAX_EXTRAPOLATION_DEX:g} decades of the sampled sizes (loss does not "
                       f"turn up on both sides); it is left out of the exponent fit")
        elif row.extrapolated:
            out.append(f"{label}: the loss minimum N={row.n_opt:.3g} lies outside the sampled "
                       f"range {row.n_min:.3g}-{row.n_max:.3g} parameters; an extrapolated "
                       f"minimum is unreliable -- add runs on that side")
        gap = abs(np.log10(row.n_opt_parabola) - np.log10(row.n_opt_cubic))
        if np.isfinite(gap) and gap > PROFILE_DISAGREEMENT_DEX:
            out.append(f"{label}: parabola and cubic minima differ by {gap:.2f} decades of N "
                       f"({row.n_opt_parabola:.3g} vs {row.n_opt_cubic:.3g}); the sweep is "
                       f"off-centre or noisy")
    used = int(table["used"].sum())
    if used == 2:
        out.append("only 2 budgets feed the exponent fit: the line passes through both points "
                   "exactly, so nothing checks the power law")
    if n_unassigned:
        out.append(f"{n_unassigned} run(s) fall in no usable compute budget (or outside the "
                   f"window around a budget's best run) and were left out")
    if draws is not None:
        failed = int((~np.isfinite(draws["a"])).sum())
        if failed:
            out.append(f"{failed} of {len(draws)} bootstrap resamples gave no exponent "
                       f"(too few budgets with a minimum) and were dropped from the intervals")
    return out
