"""The law chosen by the user's own backtests: candidates, directional nested backtests, choice.

A table alone does not say which functional form extrapolates best.  Every candidate law
the design can identify is fitted on nested subsets of the table and scored on the runs held
out beyond each cut, with cuts placed in each direction a prediction may lie in:

* ``N`` -- hold out the runs with the most parameters (a larger model);
* ``D`` -- hold out the runs with the most tokens (a longer run, over-training);
* ``C`` -- hold out the runs with the most compute (the usual scale-up).

A direction counts when the runs take at least :data:`MIN_LEVELS` distinct values along it;
tables of one or two loss curves are cut by their rows along D instead.  A candidate's score in
a direction is the mean absolute log-loss error of the held-out runs (each held-out run weighs
the same within a cut, each cut the same within a direction); its overall score is the mean of
its direction scores, the directions weighted by how far a target lies beyond the data along
each (equal weights when no target is given -- a scale-up moves along all three).

The first candidate is the reference (the law a pinned fit uses: Chinchilla, or the reduced
power law with E).  Another candidate replaces it only when it beats it by more than
:data:`SWITCH_Z` paired standard errors of the score difference (held-out units paired across
candidates): the burden of proof is on the change, because small backtests favour simple laws
that then extrapolate too low (a law without E on six Pythia sizes: -3% at 2-4x N), and a
reference that cannot be backtested (too few rows below the cuts) is kept.  Candidates whose
score is within :data:`INDISTINGUISHABLE_Z` paired standard errors of the chosen one are ones
the data cannot tell apart from it: a run interval is made at least as wide as the spread of
their predictions at the target, so that it says what the choice of form leaves open
(:func:`scalinglab.fit.spread.widen_interval`).

Candidates (each only where the design can identify it):

* ``chinchilla`` -- Hoffmann et al. 2022, E + A/N^alpha + B/D^beta, E free;
* ``chinchilla_noE`` -- the same with E absent (fixed at the floor 1e-6): when E is not
  identified, a law without saturation is as consistent with the data;
* ``overtrain`` -- Gadre et al. 2024, E + (a M^eta + b M^-eta) C^-eta with M = D/N: the data
  term depends on tokens per parameter, one exponent (:mod:`scalinglab.laws.overtrain`);
* ``kaplan`` -- Kaplan et al. 2020, Eq. 1.5, no irreducible term;
* on a reduced design (one model size, one token count, or N and D collinear): the power law
  in the variable that moves, with E (``power_X``) and without (``power_X_noE``).

The compute-optimal (frontier) loss has one more candidate, the compute-frontier law
L*(C) = E + A C^-gamma fitted on the lower envelope of loss against compute, scored against
the N-D law's closed-form frontier on the held-out envelope points of the compute cuts
(:mod:`scalinglab.fit.frontier_choice`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.optimise import fit_arrays, fit_scaled_delta, make_law
from scalinglab.fit.parametric import _collinear
from scalinglab.fit.rows import arrays_for, column_for
from scalinglab.fit.settings import FitSettings

#: Fractions of the distinct run values (along one direction) kept below each cut.
SELECTION_CUT_FRACTIONS = (0.7, 0.85)
#: A direction is cut only when the runs take at least this many distinct values along it.
MIN_LEVELS = 4
#: Runs needed to cut by runs; with fewer, the rows of the curves are cut along D.
MIN_RUNS_FOR_RUN_CUTS = 6
#: Candidates within this many paired standard errors of the chosen one cannot be told apart.
INDISTINGUISHABLE_Z = 1.0
#: Another candidate replaces the reference law only when it beats it by this many paired
#: standard errors (a one-sided test at about 2.5%): the burden of proof is on the change.
SWITCH_Z = 2.0
#: ... and only on at least this many paired held-out errors (as the run interval's
#: calibration needs, :data:`scalinglab.fit.intervals.MIN_SCORES`): with fewer, the standard
#: error itself is not estimated (one loss curve cut by its last rows gives 2-3).
MIN_UNITS_TO_SWITCH = 8
#: Score differences below this share of the better score are no difference at all, however
#: small their standard error: two candidates that predict alike (E at its floor makes
#: ``chinchilla`` the same law as ``chinchilla_noE``) differ by 0.00% on 4 standard errors of
#: nearly nothing (LLM360, 2 curves).  1% of a 1% mean |log error| is 0.01% of the loss.
NEGLIGIBLE_GAP = 0.01
#: E "absent": fixed at the fit's floor (nats/token).
E_ABSENT = 1e-6
DIRECTIONS = ("N", "D", "C")


@dataclass(frozen=True)
class Candidate:
    """One candidate law: a name, the fit settings that make it, and a one-line description."""

    name: str
    settings: FitSettings
    description: str

    @property
    def n_free(self) -> int:
        law = make_law(self.settings)
        return len(law.raw_names) - (1 if self.settings.E_fixed is not None else 0)


@dataclass
class Cut:
    """One nested backtest: rows below the cut are fitted, held-out rows scored."""

    direction: str
    value: float
    below: np.ndarray      # row mask
    held: np.ndarray       # row mask
    unit: str              # "runs" or "rows"


# -- candidates ---------------------------------------------------------------------------------
def design_of(frame: pd.DataFrame, settings: FitSettings) -> str | None:
    """None when N and D vary independently; else the one variable that moves (N or D)."""
    if settings.n_column not in frame.columns or "tokens" not in frame.columns:
        return None
    N = frame[settings.n_column].to_numpy(dtype=float)
    D = frame["tokens"].to_numpy(dtype=float)
    if len(np.unique(N)) == 1:
        return "D"
    if len(np.unique(D)) == 1 or _collinear(np.log(N), np.log(D)):
        return "N"
    return None


def candidates(frame: pd.DataFrame, settings: FitSettings) -> list[Candidate]:
    """The candidate laws this table's design can identify (see the module docstring)."""
    base = replace(settings, E_fixed=None, E_bounds=settings.E_bounds, calibrate=False)
    reduced = design_of(frame, settings)
    n_rows = len(frame)
    if reduced is None:
        out = [Candidate("chinchilla", replace(base, law="chinchilla"),
                         "Hoffmann et al. 2022: E + A/N^alpha + B/D^beta"),
               Candidate("chinchilla_noE", replace(base, law="chinchilla", E_fixed=E_ABSENT),
                         "Hoffmann's form without an irreducible loss (E absent)"),
               Candidate("overtrain", replace(base, law="overtrain"),
                         "Gadre et al. 2024: E + (a M^eta + b M^-eta) C^-eta, M = D/N"),
               Candidate("kaplan", replace(base, law="kaplan"),
                         "Kaplan et al. 2020 Eq. 1.5: [(N_c/N)^(aN/aD) + D_c/D]^aD")]
    else:
        v = reduced
        out = [Candidate(f"power_{v}", replace(base, law="power", variable=v, irreducible=True),
                         f"E + A/{v}^alpha (the reduced Chinchilla law)"),
               Candidate(f"power_{v}_noE", replace(base, law="power", variable=v,
                                                   irreducible=False),
                         f"A/{v}^alpha without an irreducible loss (Kaplan et al. 2020)")]
    return [c for c in out if n_rows > c.n_free + 1]


# -- cuts ---------------------------------------------------------------------------------------
def _direction_values(frame: pd.DataFrame, settings: FitSettings) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if settings.n_column in frame.columns:
        out["N"] = frame[settings.n_column].to_numpy(dtype=float)
    if "tokens" in frame.columns:
        out["D"] = frame["tokens"].to_numpy(dtype=float)
    if "N" in out and "D" in out:
        out["C"] = 6.0 * out["N"] * out["D"]
    return out


def _cut_points(levels: np.ndarray) -> list[float]:
    levels = np.sort(np.unique(levels))
    if len(levels) < MIN_LEVELS:
        return []
    cuts: list[float] = []
    for f in SELECTION_CUT_FRACTIONS:
        k = min(max(int(round(f * len(levels))), 2), len(levels) - 1)
        cut = float(np.sqrt(levels[k - 1] * levels[k]))
        if cut not in cuts:
            cuts.append(cut)
    return cuts


def make_cuts(frame: pd.DataFrame, settings: FitSettings) -> list[Cut]:
    """Nested cuts along N, D and C (by runs), or along D by rows for one or two curves."""
    values = _direction_values(frame, settings)
    run = frame["run_id"].astype(str).to_numpy()
    by_runs = len(np.unique(run)) >= MIN_RUNS_FOR_RUN_CUTS
    cuts: list[Cut] = []
    for direction in DIRECTIONS:
        if direction not in values:
            continue
        x = values[direction]
        if by_runs:
            size = pd.Series(x).groupby(run).transform("max").to_numpy()
        elif direction == "D":
            size = x
        else:
            continue
        for cut in _cut_points(size):
            below, held = size < cut, size > cut
            if below.sum() >= 3 and held.sum() >= 1:
                cuts.append(Cut(direction, cut, below, held, "runs" if by_runs else "rows"))
    return cuts


# -- backtests ------------------------------------------------------------------------------------
def full_fit(cand: Candidate, rows: pd.DataFrame) -> tuple[Candidate, np.ndarray]:
    """The candidate fitted to every row (screened starts, full polish): the candidate with
    the Huber delta it used fixed in its settings (its backtests use the same), and its raw
    parameters."""
    law = make_law(cand.settings)
    X, y, w, _ = arrays_for(rows, law, cand.settings)
    theta, _, delta = fit_scaled_delta(law, X, y, w, cand.settings, n_polish=2)
    return replace(cand, settings=replace(cand.settings, huber_delta=delta)), \
        np.asarray(theta, dtype=float)


def _inputs(rows: pd.DataFrame, cand: Candidate) -> dict[str, np.ndarray]:
    law = make_law(cand.settings)
    return {v: rows[column_for(v, cand.settings)].to_numpy(dtype=float) for v in law.variables}


def _unit_errors(errors: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Mean log error per held-out unit (run or row), in the order of first appearance."""
    return pd.Series(errors).groupby(units, sort=False).mean().to_numpy()


def _cut_thetas(cand: Candidate, frame: pd.DataFrame, cuts: list[Cut],
                start: np.ndarray | None) -> list[np.ndarray | None]:
    """Raw parameters fitted below each cut.

    Forms whose log loss is a log-sum-exp of terms linear in the raw parameters are refitted
    below every cut at once by the bootstrap's batched Newton polish (a cut is a 0/1 row
    weighting, like a resample), warm-started at the full-data optimum; others one cut at a
    time by SciPy from the same start.
    """
    from scalinglab.fit.bootstrap import batched_bootstrap  # noqa: PLC0415 (import cycle)
    from scalinglab.fit.objective import lse_design  # noqa: PLC0415

    law = make_law(cand.settings)
    X, y, w, _ = arrays_for(frame, law, cand.settings)
    masks = np.array([c.below for c in cuts], dtype=float)
    usable = masks.sum(axis=1) > cand.n_free + 1
    T = lse_design(law, X) if start is not None else None
    out: list[np.ndarray | None] = [None] * len(cuts)
    if T is not None and usable.any():
        with np.errstate(all="ignore"):
            thetas, _, _ = batched_bootstrap(law, T, y, w, masks[usable], cand.settings,
                                             np.atleast_2d(start), X)
        for i, theta in zip(np.flatnonzero(usable), thetas, strict=True):
            out[i] = theta
        return out
    for i, cut in enumerate(cuts):
        if not usable[i]:
            continue
        try:
            predict_theta = _fit_theta(cand, frame[cut.below].reset_index(drop=True), start)
        except (FitError, ScalingLabError, np.linalg.LinAlgError, ValueError):
            continue
        out[i] = predict_theta
    return out


def _fit_theta(cand: Candidate, rows: pd.DataFrame, start: np.ndarray | None) -> np.ndarray:
    law = make_law(cand.settings)
    X, y, w, _ = arrays_for(rows, law, cand.settings)
    starts = None if start is None else np.atleast_2d(start)
    theta, _ = fit_arrays(law, X, y, w, cand.settings, starts=starts, n_polish=2,
                          rescue=start is None)
    return np.asarray(theta, dtype=float)


def backtest_errors(frame: pd.DataFrame, cands: list[Candidate], cuts: list[Cut],
                    starts: dict[str, np.ndarray] | None = None
                    ) -> dict[str, list[np.ndarray | None]]:
    """Per candidate, per cut: the signed log errors (observed - predicted) of held-out units.

    ``starts`` (full-data optima by candidate) warm-start each refit, as the calibration of
    the run interval does; without them every refit screens its own starts.
    """
    starts = starts or {}
    run = frame["run_id"].astype(str).to_numpy()
    log_loss = np.log(frame["loss"].to_numpy(dtype=float))
    out: dict[str, list[np.ndarray | None]] = {}
    for cand in cands:
        law = make_law(cand.settings)
        X = _inputs(frame, cand)
        thetas = _cut_thetas(cand, frame, cuts, starts.get(cand.name))
        out[cand.name] = []
        for cut, theta in zip(cuts, thetas, strict=True):
            if theta is None:
                out[cand.name].append(None)
                continue
            held = {k: v[cut.held] for k, v in X.items()}
            with np.errstate(all="ignore"):
                e = log_loss[cut.held] - law.log_predict_raw(theta, held)
            units = run[cut.held] if cut.unit == "runs" else np.arange(int(cut.held.sum()))
            out[cand.name].append(_unit_errors(e, units) if np.all(np.isfinite(e)) else None)
    return out


# -- scores ---------------------------------------------------------------------------------------
def direction_scores(errors: dict[str, list[np.ndarray | None]], cuts: list[Cut]
                     ) -> dict[str, dict[str, dict[str, float]]]:
    """{candidate: {direction: {mae, signed, n}}}: means over cuts of per-cut unit means."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, per_cut in errors.items():
        out[name] = {}
        for direction in DIRECTIONS:
            idx = [i for i, c in enumerate(cuts) if c.direction == direction]
            if not idx:
                continue
            got = [per_cut[i] for i in idx]
            if any(g is None for g in got):
                out[name][direction] = {"mae": float("inf"), "signed": float("nan"), "n": 0}
                continue
            out[name][direction] = {
                "mae": float(np.mean([np.mean(np.abs(g)) for g in got])),
                "signed": float(np.mean([np.mean(g) for g in got])),
                "n": int(sum(len(g) for g in got))}
    return out


def direction_weights(directions: list[str], target_distance: dict[str, float] | None
                      ) -> dict[str, float]:
    """Weights of the cut directions: the target's decades beyond the data along each (equal
    weights when no target is given or it lies inside the data)."""
    if not directions:
        return {}
    if target_distance:
        u = {d: max(float(target_distance.get(d, 0.0)), 0.0) for d in directions}
        total = sum(u.values())
        if total > 0:
            return {d: u[d] / total for d in directions}
    return {d: 1.0 / len(directions) for d in directions}


def _paired_se(errors: dict[str, list[np.ndarray | None]], cuts: list[Cut], a: str, b: str,
               weights: dict[str, float]) -> float:
    """Standard error of the weighted score difference a - b from paired held-out units."""
    var = 0.0
    for direction, w in weights.items():
        idx = [i for i, c in enumerate(cuts) if c.direction == direction]
        diffs = [np.abs(errors[a][i]) - np.abs(errors[b][i]) for i in idx
                 if errors[a][i] is not None and errors[b][i] is not None]
        if not diffs or w == 0:
            continue
        # the mean over cuts of per-cut means: its variance from the per-cut unit spreads
        v = np.mean([np.var(d, ddof=1) / len(d) if len(d) > 1 else np.mean(d**2) for d in diffs])
        var += w**2 * v / len(diffs)
    return float(np.sqrt(var))


@dataclass
class Selection:
    """The backtest table and the choice: JSON-able via :meth:`to_dict`."""

    table: list[dict[str, Any]]
    cuts: list[dict[str, Any]]
    weights: dict[str, float]
    chosen: str
    indistinguishable: list[str]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "cuts": self.cuts, "direction_weights": self.weights,
                "chosen": self.chosen, "indistinguishable": self.indistinguishable,
                "reason": self.reason, "indistinguishable_z": INDISTINGUISHABLE_Z,
                "switch_z": SWITCH_Z}


def choose(errors: dict[str, list[np.ndarray | None]], cuts: list[Cut], cands: list[Candidate],
           target_distance: dict[str, float] | None = None) -> Selection:
    """Score every candidate and choose (see the module docstring for the rule)."""
    scores = direction_scores(errors, cuts)
    directions = [d for d in DIRECTIONS if any(c.direction == d for c in cuts)]
    weights = direction_weights(directions, target_distance)
    table = []
    for cand in cands:
        s = scores[cand.name]
        total = sum(w * s[d]["mae"] for d, w in weights.items()) if weights else float("nan")
        table.append({"name": cand.name, "law": cand.settings.law, "n_free": cand.n_free,
                      "description": cand.description, "score": float(total),
                      "directions": s})
    scored = [r for r in table if np.isfinite(r["score"])]
    if not scored:
        raise FitError("no candidate law could be scored by the backtests")
    reference = table[0]
    best = min(scored, key=lambda r: r["score"])
    chosen, why = _switch_or_keep(errors, cuts, weights, reference, best)
    close = []
    for r in scored:
        r["se_vs_chosen"] = _paired_se(errors, cuts, r["name"], chosen["name"], weights)
        gap = r["score"] - chosen["score"]
        if r["name"] != chosen["name"] and (gap <= INDISTINGUISHABLE_Z * r["se_vs_chosen"]
                                            or _negligible(gap, chosen["score"])):
            close.append(r["name"])
    reason = why + (f"; {', '.join(close)} within {INDISTINGUISHABLE_Z:g} paired standard "
                    f"error of it: run intervals are at least as wide as their spread" if close else
                    "; every other candidate is clearly worse")
    cut_rows = [{"direction": c.direction, "value": c.value, "unit": c.unit,
                 "n_below": int(c.below.sum()), "n_held": int(c.held.sum())} for c in cuts]
    return Selection(table, cut_rows, weights, chosen["name"], close, reason)


def _negligible(gap: float, score: float) -> bool:
    """A score difference too small to mean anything (:data:`NEGLIGIBLE_GAP` of ``score``)."""
    return abs(gap) <= NEGLIGIBLE_GAP * abs(score) + 1e-12


def _paired_units(errors, cuts, a: str, b: str) -> int:
    """Held-out errors (units summed over cuts) that both candidates were scored on."""
    return int(sum(len(errors[a][i]) for i in range(len(cuts))
                   if errors[a][i] is not None and errors[b][i] is not None))


def _switch_or_keep(errors, cuts, weights, reference: dict[str, Any],
                    best: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The reference law stays unless a candidate beats it by :data:`SWITCH_Z` standard errors."""
    def pct(x: float) -> str:
        return f"{100 * x:.2f}%"

    dirs = ", ".join(f"{d} {w:.2f}" for d, w in weights.items())
    if not np.isfinite(reference["score"]):
        return reference, (f"{reference['name']} (the reference law) kept: too few rows below "
                           f"the cuts to backtest it, so no evidence against it")
    n_units = _paired_units(errors, cuts, reference["name"], best["name"])
    if best["name"] == reference["name"]:
        return reference, (f"{reference['name']} has the lowest backtest error "
                           f"({pct(reference['score'])} mean |log error|; directions {dirs})")
    se = _paired_se(errors, cuts, reference["name"], best["name"], weights)
    gain = reference["score"] - best["score"]
    if n_units < MIN_UNITS_TO_SWITCH:
        return reference, (f"{reference['name']} (the reference law) kept: {best['name']} scores "
                           f"{pct(best['score'])} vs {pct(reference['score'])}, but on "
                           f"{n_units} held-out errors, fewer than the {MIN_UNITS_TO_SWITCH} "
                           f"needed to trust the difference (directions {dirs})")
    if _negligible(gain, best["score"]):
        return reference, (f"{reference['name']} (the reference law) kept: {best['name']} scores "
                           f"the same ({pct(best['score'])} vs {pct(reference['score'])}; "
                           f"directions {dirs})")
    if gain > SWITCH_Z * se:
        return best, (f"{best['name']} beats the reference {reference['name']} in the "
                      f"backtests by {pct(gain)} mean |log error| ({gain / max(se, 1e-300):.1f} "
                      f"paired standard errors; {pct(best['score'])} vs "
                      f"{pct(reference['score'])}; directions {dirs})")
    return reference, (f"{reference['name']} (the reference law) kept: {best['name']} scores "
                       f"{pct(best['score'])} vs {pct(reference['score'])}, a gain of "
                       f"{gain / max(se, 1e-300):.1f} paired standard errors, below the "
                       f"{SWITCH_Z:g} needed to switch (directions {dirs})")


# -- the entry point used by the fit ------------------------------------------------------------
@dataclass
class Choice:
    """What :func:`select_law` found: the chosen candidate, the record, every full-data fit."""

    chosen: Candidate | None
    selection: Selection | None
    candidates: list[Candidate]
    full: dict[str, np.ndarray]      # raw parameters fitted to every row, by candidate
    why_not: str = ""                # why no selection was made (chosen is None)
    cuts: list[Cut] | None = None    # the nested backtests' cuts

    def alternatives(self) -> list[dict[str, Any]]:
        """Law dicts of the candidates the data cannot tell apart from the chosen one."""
        if self.selection is None:
            return []
        out = []
        for cand in self.candidates:
            if cand.name in self.selection.indistinguishable and cand.name in self.full:
                law = make_law(cand.settings)
                fitted = law.with_params(law.from_raw(self.full[cand.name]))
                out.append({"name": cand.name, "law": fitted.to_dict()})
        return out


def select_law(frame: pd.DataFrame, settings: FitSettings,
               target_distance: dict[str, float] | None = None) -> Choice:
    """Fit every candidate, backtest each along N, D and C, and choose (module docstring).

    ``chosen`` is None when fewer than two candidates fit or no direction can be cut (too
    few distinct runs or rows); ``why_not`` then says why, and the caller keeps its law.
    """
    full: dict[str, np.ndarray] = {}
    fitted: list[Candidate] = []
    for cand in candidates(frame, settings):
        try:
            cand, full[cand.name] = full_fit(cand, frame)
        except (FitError, ScalingLabError, np.linalg.LinAlgError, ValueError):
            continue
        fitted.append(cand)
    cands = fitted
    cuts = make_cuts(frame, settings)
    if len(cands) < 2 or not cuts:
        why = (f"{len(cands)} candidate law(s) fit this design" if len(cands) < 2 else
               f"no direction has {MIN_LEVELS} distinct run values to cut")
        return Choice(None, None, cands, full, why)
    errors = backtest_errors(frame, cands, cuts, full)
    try:
        selection = choose(errors, cuts, cands, target_distance)
    except FitError as exc:
        return Choice(None, None, cands, full, str(exc))
    chosen = next(c for c in cands if c.name == selection.chosen)
    return Choice(chosen, selection, cands, full, cuts=cuts)
