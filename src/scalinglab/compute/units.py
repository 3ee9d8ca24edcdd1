"""Units of compute.  1 PF-day = 1e15 FLOP/s x 86400 s = 8.64e19 FLOPs (Kaplan et al. 2020)."""

from __future__ import annotations

PF_DAY_FLOPS: float = 1e15 * 86400.0


def flops_to_pf_days(flops: float) -> float:
    """FLOPs -> PF-days."""
    return flops / PF_DAY_FLOPS


def pf_days_to_flops(pf_days: float) -> float:
    """PF-days -> FLOPs."""
    return pf_days * PF_DAY_FLOPS
