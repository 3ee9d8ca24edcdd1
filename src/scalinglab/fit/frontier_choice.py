"""The compute-optimal loss: the N-D law's closed-form frontier, or the envelope law L*(C).

Two answers to "what loss does the best run at C FLOPs reach?":

* the chosen N-D law's frontier: minimise L(N, D) along C = 6ND (Hoffmann et al. 2022,
  App. D.2), and
* the compute-frontier law ``L*(C) = E + A C^-gamma`` fitted directly to the lower envelope of
  loss against compute (each run's last row that no run of the same or less compute beats;
  Kaplan et al. 2020's L(C_min), OpenAI 2023's L(C)).  It needs no model of how N and D trade
  off, and it describes the *best observed* run at each compute, which is what a sweep's
  IsoFLOP minima measure.

Both are refitted below the compute cuts of the law selection (:mod:`scalinglab.fit.selection`)
and scored on the envelope points held out above each cut.  The N-D frontier is the reference;
the envelope law replaces it only when it beats it by :data:`~scalinglab.fit.selection.SWITCH_Z`
paired standard errors on at least :data:`~scalinglab.fit.selection.MIN_UNITS_TO_SWITCH`
errors, and when the two cannot be told apart the interval is at least as wide as their gap
(:func:`scalinglab.fit.frontier_interval.chosen_frontier`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fit.optimise import fit_arrays, make_law
from scalinglab.fit.rows import arrays_for, frontier_mask
from scalinglab.fit.selection import (
    INDISTINGUISHABLE_Z,
    MIN_UNITS_TO_SWITCH,
    SWITCH_Z,
    Candidate,
    Cut,
    _cut_thetas,
    _paired_se,
)
from scalinglab.fit.settings import FitSettings

ENVELOPE_SETTINGS = FitSettings(law="power", variable="C", irreducible=True,
                                checkpoints_after=None, frontier_filter=None, calibrate=False)
NAMES = ("law_frontier", "envelope")


def envelope_mask(frame: pd.DataFrame, settings: FitSettings) -> np.ndarray:
    """Rows on the lower envelope: each run's last row, unbeaten at the same or less compute."""
    N = frame[settings.n_column].to_numpy(dtype=float)
    D = frame["tokens"].to_numpy(dtype=float)
    last = D == frame.groupby(frame["run_id"].astype(str).to_numpy())["tokens"].transform("max")
    mask = np.zeros(len(frame), dtype=bool)
    idx = np.flatnonzero(last.to_numpy())
    mask[idx] = frontier_mask(frame["loss"].to_numpy(dtype=float)[idx], 6.0 * N[idx] * D[idx],
                              0.0)
    return mask


def _envelope_frame(frame: pd.DataFrame, settings: FitSettings, rows: np.ndarray) -> pd.DataFrame:
    part = frame[rows]
    return pd.DataFrame({"run_id": part["run_id"].astype(str).to_numpy(),
                         "flops": 6.0 * part[settings.n_column].to_numpy(dtype=float)
                         * part["tokens"].to_numpy(dtype=float),
                         "loss": part["loss"].to_numpy(dtype=float), "final": 1})


def _fit_envelope(env: pd.DataFrame) -> np.ndarray:
    law = make_law(ENVELOPE_SETTINGS)
    X, y, w, _ = arrays_for(env, law, ENVELOPE_SETTINGS)
    if len(y) < 4:
        raise FitError("fewer than 4 envelope points")
    theta, _ = fit_arrays(law, X, y, w, ENVELOPE_SETTINGS)
    return np.asarray(theta, dtype=float)


def frontier_choice(frame: pd.DataFrame, settings: FitSettings, cand: Candidate,
                    full_theta: np.ndarray, cuts: list[Cut]) -> dict[str, Any] | None:
    """Backtest the two frontier answers along the compute cuts; None when not possible."""
    law = make_law(cand.settings)
    if not hasattr(law, "frontier") or settings.n_column not in frame.columns:
        return None
    on_env = envelope_mask(frame, settings)
    c_cuts = [c for c in cuts if c.direction == "C"]
    if on_env.sum() < 5 or not c_cuts:
        return None
    env_all = _envelope_frame(frame, settings, on_env)
    thetas = _cut_thetas(cand, frame, c_cuts, full_theta)
    errors: dict[str, list[np.ndarray | None]] = {n: [] for n in NAMES}
    for cut, theta in zip(c_cuts, thetas, strict=True):
        below, held = env_all[env_all["flops"] < cut.value], env_all[env_all["flops"] > cut.value]
        try:
            if theta is None or held.empty:
                raise FitError("no fit or no held-out envelope point")
            env_theta = _fit_envelope(below)
        except (FitError, ScalingLabError, np.linalg.LinAlgError, ValueError):
            for n in NAMES:
                errors[n].append(None)
            continue
        C = held["flops"].to_numpy(dtype=float)
        y = np.log(held["loss"].to_numpy(dtype=float))
        nd = law.with_params(law.from_raw(theta)).frontier(C)["loss"]
        env = make_law(ENVELOPE_SETTINGS).log_predict_raw(env_theta, {"C": C})
        errors["law_frontier"].append(y - np.log(nd))
        errors["envelope"].append(y - env)
    return _choose_frontier(errors, c_cuts, env_all)


def _choose_frontier(errors: dict[str, list[np.ndarray | None]], cuts: list[Cut],
                     env_all: pd.DataFrame) -> dict[str, Any] | None:
    usable = [i for i, e in enumerate(errors["law_frontier"]) if e is not None]
    if not usable:
        return None
    score = {n: float(np.mean([np.mean(np.abs(errors[n][i])) for i in usable])) for n in NAMES}
    signed = {n: float(np.mean([np.mean(errors[n][i]) for i in usable])) for n in NAMES}
    n_units = int(sum(len(errors["law_frontier"][i]) for i in usable))
    se = _paired_se(errors, cuts, "envelope", "law_frontier", {"C": 1.0})
    gain = score["law_frontier"] - score["envelope"]
    switch = n_units >= MIN_UNITS_TO_SWITCH and gain > SWITCH_Z * se
    chosen = "envelope" if switch else "law_frontier"
    # the other answer cannot be told apart from the chosen one: better than it but not by the
    # margin needed to switch, or worse by less than INDISTINGUISHABLE_Z standard errors
    margin = -gain if switch else gain   # how much better the other answer scores
    close = bool(margin >= -INDISTINGUISHABLE_Z * se - 1e-12)
    law = make_law(ENVELOPE_SETTINGS)
    envelope_law = law.with_params(law.from_raw(_fit_envelope(env_all)))
    reason = (f"compute-optimal loss from "
              f"{'the envelope law L*(C)' if switch else 'the N-D law minimised along C = 6ND'}"
              f": backtest error on {n_units} held-out envelope points "
              f"{100 * score['law_frontier']:.2f}% (N-D frontier) vs "
              f"{100 * score['envelope']:.2f}% (envelope law), difference "
              f"{abs(gain) / max(se, 1e-300):.1f} paired standard errors"
              + ("; the two cannot be told apart: their gap widens the interval" if close
                 else ""))
    return {"chosen": chosen, "indistinguishable": bool(close), "reason": reason,
            "scores": score, "signed": signed, "n_errors": n_units,
            "n_envelope": int(len(env_all)), "envelope_law": envelope_law.to_dict()}
