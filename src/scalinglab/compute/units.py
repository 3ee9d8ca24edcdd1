"""Units of compute, time, energy and emissions, as plain vectorised conversions.

1 PF-day = 1e15 FLOP/s x 86400 s = 8.64e19 FLOPs (Kaplan et al. 2020, arXiv:2001.08361, Sec. 1.3).

Every function accepts floats or NumPy arrays (e.g. one value per bootstrap draw) and returns the
same shape; a float in gives a float out.  Bad input (negative sizes, NaN, an MFU outside
(0, 1]) raises :class:`~scalinglab.errors.ScalingLabError` with a one-line message.  The
defaults (which MFU, PUE, grid intensity, price) live in :mod:`scalinglab.compute.cost` and
:mod:`scalinglab.compute.hardware`, with their sources; this module has no opinions.
"""

from __future__ import annotations

import numpy as np

from scalinglab.constants import PF_DAY_FLOPS
from scalinglab.errors import ScalingLabError

SECONDS_PER_HOUR: float = 3600.0
HOURS_PER_DAY: float = 24.0

#: Training FLOPs per parameter per token: forward 2 + backward 4 (Kaplan et al. 2020, Sec. 2.1).
TRAIN_FLOPS_PER_PARAM_TOKEN: float = 6.0
#: Inference (forward-only) FLOPs per parameter per token (Kaplan et al. 2020, Sec. 2.1).
INFERENCE_FLOPS_PER_PARAM_TOKEN: float = 2.0

Number = float | np.ndarray


def _out(value: np.ndarray) -> Number:
    return float(value) if np.ndim(value) == 0 else value


def check_nonnegative(value: Number, name: str, unit: str) -> np.ndarray:
    """``value`` as an array, or a one-line error if any entry is NaN, infinite or negative."""
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ScalingLabError(f"{name} must be a finite number >= 0 {unit}, got {_show(value)}")
    return arr


def check_positive(value: Number, name: str, unit: str) -> np.ndarray:
    """``value`` as an array, or a one-line error if any entry is NaN, infinite or <= 0."""
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ScalingLabError(f"{name} must be a finite number > 0 {unit}, got {_show(value)}")
    return arr


def check_mfu(mfu: Number, name: str = "MFU") -> np.ndarray:
    """Model FLOPs utilisation must lie in (0, 1]: achieved FLOP/s over the hardware's peak."""
    arr = np.asarray(mfu, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr > 1):
        raise ScalingLabError(f"{name} must be in (0, 1] (a fraction of peak FLOP/s), "
                              f"got {_show(mfu)}")
    return arr


def _show(value: Number) -> str:
    arr = np.asarray(value, dtype=float)
    return f"{float(arr):g}" if arr.ndim == 0 else "an array with an entry out of range"


# -- FLOPs and PF-days -----------------------------------------------------------------------
def flops_to_pf_days(flops: Number) -> Number:
    """FLOPs -> PF-days."""
    return flops / PF_DAY_FLOPS


def pf_days_to_flops(pf_days: Number) -> Number:
    """PF-days -> FLOPs."""
    return pf_days * PF_DAY_FLOPS


def training_flops(n_params: Number, tokens: Number) -> Number:
    """The 6·N·D estimate of training FLOPs for N parameters on D tokens."""
    n = check_nonnegative(n_params, "parameter count", "parameters")
    d = check_nonnegative(tokens, "training tokens", "tokens")
    return _out(TRAIN_FLOPS_PER_PARAM_TOKEN * n * d)


def inference_flops(n_params: Number, tokens: Number) -> Number:
    """The 2·N·D estimate of FLOPs to process D tokens through N parameters (forward only)."""
    n = check_nonnegative(n_params, "parameter count", "parameters")
    d = check_nonnegative(tokens, "inference tokens", "tokens")
    return _out(INFERENCE_FLOPS_PER_PARAM_TOKEN * n * d)


# -- FLOPs and GPU time ----------------------------------------------------------------------
def flops_to_gpu_hours(flops: Number, peak_flops_per_second: Number, mfu: Number) -> Number:
    """FLOPs -> GPU-hours on a GPU of the given peak FLOP/s running at ``mfu`` of peak."""
    f = check_nonnegative(flops, "compute", "FLOPs")
    peak = check_positive(peak_flops_per_second, "peak throughput", "FLOP/s")
    return _out(f / (peak * check_mfu(mfu) * SECONDS_PER_HOUR))


def gpu_hours_to_flops(gpu_hours: Number, peak_flops_per_second: Number, mfu: Number) -> Number:
    """GPU-hours -> FLOPs delivered at ``mfu`` of the GPU's peak FLOP/s."""
    h = check_nonnegative(gpu_hours, "GPU time", "GPU-hours")
    peak = check_positive(peak_flops_per_second, "peak throughput", "FLOP/s")
    mfu_ = check_mfu(mfu)
    with np.errstate(over="ignore"):  # refused just below, with a message, not a warning
        flops = h * peak * mfu_ * SECONDS_PER_HOUR
    if np.any(np.isinf(flops)):
        raise ScalingLabError("the GPU time amounts to more FLOPs than a float can hold "
                              "(over 1.8e308)")
    return _out(flops)


def implied_mfu(flops: Number, gpu_hours: Number, peak_flops_per_second: Number) -> Number:
    """The utilisation that delivers ``flops`` in ``gpu_hours``: FLOPs / (peak x seconds).

    Not range-checked: a value above 1 means the FLOP count or the hours are inconsistent.
    """
    f = check_nonnegative(flops, "compute", "FLOPs")
    h = check_positive(gpu_hours, "GPU time", "GPU-hours")
    peak = check_positive(peak_flops_per_second, "peak throughput", "FLOP/s")
    return _out(f / (peak * h * SECONDS_PER_HOUR))


def gpu_hours_to_wall_days(gpu_hours: Number, n_gpus: Number) -> Number:
    """GPU-hours -> wall-clock days when spread evenly over ``n_gpus`` GPUs."""
    h = check_nonnegative(gpu_hours, "GPU time", "GPU-hours")
    k = check_positive(n_gpus, "number of GPUs", "GPUs")
    return _out(h / (k * HOURS_PER_DAY))


def wall_days_to_gpu_hours(days: Number, n_gpus: Number) -> Number:
    """Wall-clock days on ``n_gpus`` GPUs -> GPU-hours."""
    d = check_nonnegative(days, "wall-clock time", "days")
    k = check_positive(n_gpus, "number of GPUs", "GPUs")
    return _out(d * k * HOURS_PER_DAY)


# -- energy and emissions --------------------------------------------------------------------
def gpu_hours_to_kwh(gpu_hours: Number, watts_per_gpu: Number, pue: Number) -> Number:
    """GPU-hours -> facility energy in kWh: hours x watts / 1000 x PUE.

    PUE (power usage effectiveness) = facility energy / IT energy, >= 1 (The Green Grid).
    """
    h = check_nonnegative(gpu_hours, "GPU time", "GPU-hours")
    w = check_positive(watts_per_gpu, "power per GPU", "W")
    p = np.asarray(pue, dtype=float)
    if not np.all(np.isfinite(p)) or np.any(p < 1):
        raise ScalingLabError(f"PUE must be a finite number >= 1 (facility / IT energy), "
                              f"got {_show(pue)}")
    return _out(h * w / 1000.0 * p)


def kwh_to_co2_kg(kwh: Number, kg_co2_per_kwh: Number) -> Number:
    """Energy in kWh -> emissions in kg CO2-equivalent at a grid intensity in kg CO2e/kWh."""
    e = check_nonnegative(kwh, "energy", "kWh")
    g = check_nonnegative(kg_co2_per_kwh, "grid carbon intensity", "kg CO2e/kWh")
    return _out(e * g)
