"""IsoFLOP run tables of Hoffmann et al.'s (2022) law for the report tests: the same rows and
noise draws wherever a test needs one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.laws import get_preset
from scalinglab.laws.forms import chinchilla_frontier


def hoffmann_isoflop_runs(budgets: int = 5, sizes: int = 7, spread: float = 0.6,
                          seed: int = 0, sigma: float = 0.01,
                          extra: Callable[[int, float], dict[str, Any]] | None = None
                          ) -> pd.DataFrame:
    """``budgets`` IsoFLOP lines from 1e18 to 1e20 FLOPs, ``sizes`` models each spread
    +-``spread`` decades around the law's optimum, log-normal noise ``sigma``; ``extra(k, D)``
    adds columns to the k-th size's row (D in tokens)."""
    law = get_preset("hoffmann2022").law
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.logspace(18, 20, budgets):
        centre = float(chinchilla_frontier(law.params, c)["N_opt"])
        for k, n in enumerate(centre * np.logspace(-spread, spread, sizes)):
            d = c / (6 * n)
            row = {"run_id": f"c{c:.0e}-{k}", "n_params": n, "tokens": d, "flops": c}
            row.update(extra(k, d) if extra is not None else {})
            row["loss"] = float(law.predict(N=n, D=d)) * float(np.exp(rng.normal(0, sigma)))
            row["final"] = True
            rows.append(row)
    return pd.DataFrame(rows)
