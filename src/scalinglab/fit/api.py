"""``scalinglab.fit(runs, ...)``: one entry point for Approaches 1, 2 and 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.parametric import fit_parametric
from scalinglab.records import load_runs


def fit(runs: pd.DataFrame | str | Path, law: str = "chinchilla", *, approach: int = 3,
        bootstrap: int = 0, level: float = 0.9, seed: int = 0, columns: Any = None,
        derive_tokens: bool = False, **options: Any):
    """Fit a scaling law to a run table (DataFrame with record columns, or a CSV/Parquet path).

    ``approach=3`` (default) fits the parametric ``law`` (``chinchilla``, ``kaplan``, ``power``)
    by the sum of log-Huber losses and returns a :class:`~scalinglab.fit.FitResult`;
    ``approach=2`` fits IsoFLOP profiles, ``approach=1`` the envelope of loss curves.  Extra
    ``options`` go to the approach's fitter (e.g. ``E_fixed=1.7``, ``checkpoints_after=0.1``).
    With ``task="acc_<task>"`` (and ``chance=``, ``via=``) it fits the task chain instead and
    returns a :class:`~scalinglab.fit.chain.TaskFit` (``bootstrap=0`` there means the default
    joint bootstrap).
    """
    if options.get("task") is not None:
        from scalinglab.fit.chain import DEFAULT_BOOTSTRAP, fit_task  # noqa: PLC0415

        if columns is not None or derive_tokens or not isinstance(runs, pd.DataFrame):
            runs = load_runs(runs, columns=columns, derive_tokens=derive_tokens, require=())
        return fit_task(runs, options.pop("task"), law=law, level=level, seed=seed,
                        bootstrap=bootstrap or DEFAULT_BOOTSTRAP, **options)
    if columns is not None or derive_tokens or not isinstance(runs, pd.DataFrame):
        require = ("n_params", "loss") if approach != 3 else ("loss",)
        runs = load_runs(runs, columns=columns, derive_tokens=derive_tokens, require=require)
    if approach == 3:
        return fit_parametric(runs, law, bootstrap=bootstrap, level=level, seed=seed, **options)
    if approach == 2:
        from scalinglab.fit.isoflop import fit_isoflop  # noqa: PLC0415

        return fit_isoflop(runs, bootstrap=bootstrap, level=level, seed=seed, **options)
    if approach == 1:
        from scalinglab.fit.envelope import fit_envelope  # noqa: PLC0415

        return fit_envelope(runs, bootstrap=bootstrap, level=level, seed=seed, **options)
    raise ScalingLabError(f"approach must be 1, 2 or 3, got {approach}")
