"""How the demo sizes its validation run: the compute-optimal N at the validation compute, from
the first credible source, raised if needed so the run stays within one pass over the data.

The run's compute is :attr:`~scalinglab.sweep.plan.SweepPlan.validation_flops` (``extrapolation``
times the largest sweep point's FLOPs), the one definition the plan, the fits and the summary use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.laws.forms import Chinchilla
from scalinglab.sweep.plan import (
    PlannedRun,
    SweepPlan,
    SweepSpec,
    plan_validation,
    prior_optimal_size,
)

#: Exponent a of N_opt ∝ C^a that sizes the validation run: published estimates lie within
#: 0.45-0.75 (Kaplan et al. 2020: 0.73; Hoffmann et al. 2022: 0.46-0.51; Besiroglu et al. 2024:
#: 0.51); a sweep's own estimate outside this generous band is noise, not a finding (on KJV,
#: Approach 2 fitted a = 1.06 on two seeds of three and sized the run at 2.3 tokens/parameter).
CREDIBLE_N_OPT_EXPONENT = (0.3, 0.8)
#: the validation run is at most this many times the largest sweep model (N)
MAX_SIZE_OVER_SWEEP = 4
#: sizes tried (log-spaced from 1e3 parameters) when looking for one within the epoch limit
EPOCH_SEARCH_SIZES = 200
#: the validation run may see the training split up to this many times: Muennighoff et al.
#: 2023 find up to about 4 epochs of repeated data nearly as good as fresh (the sweep's runs
#: repeat on the same grounds, sweep/plan._allow_repeats; the `repetition` guard warns past 4)
MAX_VALIDATION_EPOCHS = 4.0


def size_validation_run(spec: SweepSpec, corpus, plan: SweepPlan, approach3: Any,
                        approach2: Any = None) -> PlannedRun:
    """Size the validation run at the compute-optimal N, raised if needed to stay within
    :data:`MAX_VALIDATION_EPOCHS` passes over the data.

    N_opt comes from the first credible source (:func:`validation_size_source`): Approach 2,
    Approach 3's frontier, or the design's prior.  The laws assume fresh data; past about 4
    epochs repeated tokens are worth less (Muennighoff et al. 2023), and a validation run there
    would test the data-constrained regime instead, so the size is raised until the run's
    tokens fit in that many passes over the training split.  The size stays within 4x the
    largest sweep size.
    """
    target = plan.validation_flops
    n_opt, source = validation_size_source(spec, corpus, approach3, approach2, target)
    sizes = [r.shape.n_params for r in plan.runs]
    largest = MAX_SIZE_OVER_SWEEP * max(sizes)
    n_val = float(np.clip(n_opt, min(sizes), largest))
    within = _smallest_size_within_epochs(corpus, spec, target, largest, MAX_VALIDATION_EPOCHS)
    run = plan_validation(spec, corpus, max(n_val, within), plan.largest_point_flops)
    note = f"sized by {source}: N_opt = {n_opt:.3g} at {target:.3g} FLOPs"
    if within > n_val:
        note += (f", raised to {run.shape.n_params:.3g} to stay within "
                 f"{MAX_VALIDATION_EPOCHS:g} passes over the data")
    run.notes.append(note)
    return run


def validation_size_source(spec: SweepSpec, corpus, approach3: Any, approach2: Any,
                           flops: float) -> tuple[float, str]:
    """N_opt (non-embedding parameters) at ``flops`` and where it came from.

    Approach 2 (IsoFLOP minima) when its exponent a is credible, else Approach 3's frontier
    (a = beta / (alpha + beta)) when credible, else the sweep's prior tokens per parameter.
    """
    low, high = CREDIBLE_N_OPT_EXPONENT
    if approach2 is not None and low <= approach2.a <= high:
        return float(approach2.predict_n_opt(flops)), f"Approach 2 (N_opt ~ C^{approach2.a:.2f})"
    rejected = ([] if approach2 is None else
                [f"Approach 2's a = {approach2.a:.2f}"])
    if isinstance(approach3.law, Chinchilla):
        a3 = approach3.law.optimal_exponents()[0]
        if low <= a3 <= high:
            n_opt = float(approach3.frontier(flops)["N_opt"]["value"])
            return n_opt, f"Approach 3's frontier (N_opt ~ C^{a3:.2f})"
        rejected.append(f"Approach 3's a = {a3:.2f}")
    n_opt = prior_optimal_size(flops, corpus.vocab_size, spec.seq_len, spec.tokens_per_param,
                               spec.min_layers)
    why = f" ({', '.join(rejected)} outside {low}-{high})" if rejected else ""
    return n_opt, f"the prior {spec.tokens_per_param:g} tokens/parameter{why}"


def _smallest_size_within_epochs(corpus, spec: SweepSpec, flops: float, largest: float,
                                 epochs: float) -> float:
    """The smallest ladder size (<= ``largest``) whose ``flops`` fit in ``epochs`` passes of the
    data."""
    from scalinglab.train.shape import ModelShape  # noqa: PLC0415

    available = corpus.tokens_available(spec.seq_len)
    for n in np.geomspace(1e3, largest, EPOCH_SEARCH_SIZES):
        shape = ModelShape.for_params(float(n), corpus.vocab_size, spec.seq_len,
                                      min_layers=spec.min_layers)
        if flops / shape.flops_per_token() <= epochs * available:
            return float(n)
    return float(largest)
