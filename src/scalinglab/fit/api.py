"""``scalinglab.fit(runs, ...)``: one entry point for Approaches 1, 2 and 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.envelope import fit_envelope
from scalinglab.fit.isoflop import fit_isoflop
from scalinglab.fit.parametric import fit_parametric
from scalinglab.fit.settings import FitSettings
from scalinglab.records import load_runs


def fit(runs: pd.DataFrame | str | Path, settings: FitSettings | str | None = None, *,
        approach: int = 3, columns: Any = None, derive_tokens: bool = False,
        **overrides: Any):
    """Fit a scaling law to a run table (DataFrame with record columns, or a CSV/Parquet path).

    ``approach=3`` (default) fits a parametric law by the sum of log-Huber losses of log loss
    and returns a :class:`~scalinglab.fit.FitResult`.  Its settings are a
    :class:`~scalinglab.fit.FitSettings` (``settings``; a string is taken as the law's name)
    with keyword ``overrides`` by field name -- an unknown name is an error naming the closest:

    * ``law``: ``chinchilla`` (default), ``kaplan``, ``power``, ``data_constrained``;
      ``variable`` (power law): N [parameters], D [tokens] or C [FLOPs]; ``irreducible``;
    * ``n_column``: ``n_params`` (non-embedding) or ``n_params_total`` as N;
    * ``huber_delta`` (> 0, on log-loss residuals), ``method`` (``varpro`` or ``hoffmann``);
    * ``E_fixed``, ``E_bounds`` (low, high), ``E_prior`` (mean, sd) [nats/token],
      ``bound_E_below_min_loss``;
    * ``checkpoints_after``: a fraction in [0, 1) of each run's tokens, ``"auto"`` or
      ``"final"``; ``frontier_filter``: relative excess over the compute frontier (> 0) or None;
      ``weights``: a column name;
    * ``calibrate`` and ``calibration_cuts`` [FLOPs]; ``bootstrap`` [resamples over runs],
      ``seed``, ``level`` (confidence level in (0, 1)).

    ``approach=2`` fits IsoFLOP profiles (:func:`~scalinglab.fit.fit_isoflop`), ``approach=1``
    the envelope of loss curves (:func:`~scalinglab.fit.fit_envelope`); their keywords go to
    those functions (bootstrap defaults to 0 here).  ``columns`` maps a foreign table's columns
    (``'N="Model Size",C="Training FLOP",loss=loss'``); ``derive_tokens`` computes D = C/(6N).
    """
    if columns is not None or derive_tokens or not isinstance(runs, pd.DataFrame):
        require = ("n_params", "loss") if approach != 3 else ("loss",)
        runs = load_runs(runs, columns=columns, derive_tokens=derive_tokens, require=require)
    if approach == 3:
        return fit_parametric(runs, settings, **overrides)
    if approach not in (1, 2):
        raise ScalingLabError(f"approach must be 1, 2 or 3, got {approach}")
    if isinstance(settings, FitSettings):
        raise ScalingLabError(f"FitSettings are Approach 3's; approach {approach} takes keywords")
    overrides.pop("law", None)   # Approaches 1 and 2 fit no parametric form
    options = {"bootstrap": 0, **overrides}
    return (fit_isoflop if approach == 2 else fit_envelope)(runs, **options)
