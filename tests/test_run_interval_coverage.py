"""Coverage of run-level prediction intervals, by simulation (issue 10: 85-95% for nominal 90%).

Data: IsoFLOP sweeps (7 budgets from 1e18 to 1e21 FLOPs, 8 sizes each over +-0.7 dex around the
compute-optimal N) from Hoffmann's unrounded law with a known misspecification -- the N-term
saturates, A/N^alpha * (1 + N/3e9)^-0.15, as the synthetic language's does -- and run noise
(log-normal, sigma = 0.01 in log loss, one draw per run).  Each fitted sweep predicts two *new
runs* at the true compute-optimal allocation 10x and 100x beyond the largest budget, each with
its own noise.  The law's own interval (parameter uncertainty only) is scored too, to show what
the run interval fixes.

Measured (this seed, 100 sweeps, 50 bootstrap resamples): run intervals cover 91% of the 10x
runs and 92% of the 100x runs (91.5% pooled, median half-width 2.42% of the loss; 2.44% before
the slope was taken less one standard error), calibrated
by cuts between the 7 compute levels that keep at least 4 below (fit/cuts.py), with the
refits' parameter error separated from the slope (fit/uncertainty.py).  Before that
separation: 95% / 95% at 3.25%; with cuts after every level from the second, 99% / 100% at
3.9%; before level cuts (cuts at fractions of the sizes): 96% / 94% misspecified, 95% / 94%
without the misspecification (N_s = 1e20).  The law's own interval covers 57% and 76%.
"""

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit import fit_parametric
from scalinglab.laws import get_preset

TRUTH = get_preset("hoffmann2022-unrounded").law
P = TRUTH.params
N_SATURATION = 3e9   # parameters: where the N-term starts to fall faster than the power law
SIGMA = 0.01         # run-to-run noise, log loss
N_SWEEPS = 100
N_RESAMPLES = 50


def true_loss(N, D):
    """Expected loss (nats/token) of the misspecified truth."""
    return (P["E"] + P["A"] / N ** P["alpha"] * (1 + N / N_SATURATION) ** -0.15
            + P["B"] / D ** P["beta"])


def sweep(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for C in np.logspace(18, 21, 7):
        n_opt = TRUTH.frontier(C)["N_opt"]
        for f in np.logspace(-0.7, 0.7, 8):
            rows.append((n_opt * f, C / (6 * n_opt * f), C))
    a = np.array(rows)
    loss = true_loss(a[:, 0], a[:, 1]) * np.exp(rng.normal(0, SIGMA, len(a)))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(a))], "n_params": a[:, 0],
                         "tokens": a[:, 1], "flops": a[:, 2], "loss": loss})


@pytest.mark.slow
def test_run_intervals_cover_new_runs_10_to_100x_beyond():
    rng = np.random.default_rng(2024)
    hits = {"run": {10: 0, 100: 0}, "law": {10: 0, 100: 0}}
    for i in range(N_SWEEPS):
        result = fit_parametric(sweep(rng), bootstrap=N_RESAMPLES, seed=i)
        for factor in (10, 100):
            best = TRUTH.frontier(1e21 * factor)
            N, D = best["N_opt"], best["D_opt"]
            measured = true_loss(N, D) * np.exp(rng.normal(0, SIGMA))
            for kind in ("run", "law"):
                band = result.predict_interval(0.9, kind=kind, N=N, D=D)
                hits[kind][factor] += band["low"] <= measured <= band["high"]
    run = {k: v / N_SWEEPS for k, v in hits["run"].items()}
    law = {k: v / N_SWEEPS for k, v in hits["law"].items()}
    pooled = sum(hits["run"].values()) / (2 * N_SWEEPS)
    assert 0.85 <= pooled <= 0.95, (run, law)
    assert min(run.values()) >= 0.85, (run, law)
    assert max(law.values()) < 0.85, (run, law)  # the parameter-only interval is too narrow
