"""Accelerator presets: peak dense BF16 throughput, board power and an indicative rental price.

Throughput and power are vendor specifications (dense, i.e. *without* the 2:4 structured-sparsity
factor that datasheets often print first).  Prices are rental rates per GPU-hour in US dollars,
dated, indicative only, and meant to be overridden (``--price``, :meth:`GPU.with_overrides`):
they move by 2-3x between providers and by tens of percent within a year.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from scalinglab.compute.units import check_positive
from scalinglab.errors import ScalingLabError

#: Where the prices below come from; all are on-demand, per GPU-hour, USD.
PRICE_SURVEY_2026 = ("Mercatus, 'Cloud GPU pricing' (May 2026): specialty-cloud on-demand ranges "
                     "A100 80GB $1.10-1.50, H100 SXM $2.50-3.50, H200 SXM $3.50-4.50 per GPU-hour")
PRICE_B200_2026 = "Spheron on-demand B200 rate $6.03/GPU-hour as of 17 Mar 2026 (spheron.network)"


@dataclass(frozen=True)
class GPU:
    """One accelerator: what it can do (FLOP/s), what it draws (W) and what it rents for.

    ``peak_flops`` is dense BF16/FP16 tensor throughput in FLOP/s; ``watts`` the board power
    (TDP) in W, GPU only -- host CPUs, network and cooling are not included (cooling and other
    facility overhead enter through the PUE); ``price_usd_per_hour`` the rental price per
    GPU-hour in USD, or None when no default is given.
    """

    key: str
    name: str
    peak_flops: float
    watts: float
    price_usd_per_hour: float | None
    price_as_of: str
    spec_source: str
    price_source: str
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check_positive(self.peak_flops, f"{self.name} peak throughput", "FLOP/s")
        check_positive(self.watts, f"{self.name} power", "W")
        if self.price_usd_per_hour is not None:
            check_positive(self.price_usd_per_hour, f"{self.name} price", "USD/GPU-hour")

    def with_overrides(self, peak_flops: float | None = None, watts: float | None = None,
                       price_usd_per_hour: float | None = None) -> GPU:
        """A copy with the user's own throughput (FLOP/s), power (W) or price (USD/GPU-hour)."""
        changes: dict[str, object] = {}
        if peak_flops is not None:
            changes.update(peak_flops=peak_flops,
                           spec_source=f"{self.spec_source}; peak overridden by user")
        if watts is not None:
            changes.update(watts=watts)
        if price_usd_per_hour is not None:
            changes.update(price_usd_per_hour=price_usd_per_hour, price_as_of="user",
                           price_source="given by the user")
        return dataclasses.replace(self, **changes)

    def require_price(self) -> float:
        """The price per GPU-hour (USD), or a one-line error saying how to give one."""
        if self.price_usd_per_hour is None:
            raise ScalingLabError(f"no default price for {self.name}; give one with --price "
                                  f"(per GPU-hour)")
        return self.price_usd_per_hour

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


GPUS: dict[str, GPU] = {}


def _register(gpu: GPU) -> GPU:
    GPUS[gpu.key] = gpu
    return gpu


A100 = _register(GPU(
    "a100", "A100 SXM", 312e12, 400.0, 1.2, "2026-05",
    "NVIDIA A100 Tensor Core GPU datasheet: BF16 tensor 312 TFLOP/s dense (624 with sparsity), "
    "max TDP 400 W (SXM)",
    f"within the A100 range of {PRICE_SURVEY_2026}",
    aliases=("a100-sxm", "a100-sxm4", "a100-80gb", "a100-40gb")))
H100 = _register(GPU(
    "h100", "H100 SXM", 989e12, 700.0, 2.5, "2026-05",
    "NVIDIA H100 Tensor Core GPU datasheet: BF16 tensor 1,979 TFLOP/s with sparsity = 989 dense, "
    "max TDP up to 700 W (SXM)",
    f"the low end of the H100 range of {PRICE_SURVEY_2026}",
    aliases=("h100-sxm", "h100-sxm5", "h100-80gb")))
H200 = _register(GPU(
    "h200", "H200 SXM", 989e12, 700.0, 3.5, "2026-05",
    "NVIDIA H200 Tensor Core GPU datasheet: BF16 tensor 1,979 TFLOP/s with sparsity = 989 dense "
    "(same GH100 compute as H100, more HBM3e), max TDP up to 700 W (SXM)",
    f"the low end of the H200 range of {PRICE_SURVEY_2026}",
    aliases=("h200-sxm", "h200-141gb")))
B200 = _register(GPU(
    "b200", "B200", 2250e12, 1000.0, 6.0, "2026-03",
    "NVIDIA HGX B200 specification: FP16/BF16 tensor 36 PFLOP/s with sparsity per 8 GPUs "
    "= 2,250 TFLOP/s dense per GPU, 1,000 W per GPU",
    PRICE_B200_2026,
    aliases=("b200-sxm", "hgx-b200")))
V100 = _register(GPU(
    "v100", "V100 SXM2", 125e12, 300.0, None, "",
    "NVIDIA V100 Tensor Core GPU datasheet: FP16 tensor 125 TFLOP/s (no BF16), 300 W (SXM2); "
    "the GPU GPT-3 was trained on (Brown et al. 2020, Sec. 2.3)",
    "no default price (legacy part); give --price",
    aliases=("v100-sxm2", "v100-32gb", "v100-16gb")))
L4 = _register(GPU(
    "l4", "L4", 121e12, 72.0, None, "",
    "NVIDIA L4 Tensor Core GPU datasheet: BF16 tensor 242 TFLOP/s with sparsity = 121 dense, "
    "max power 72 W",
    "no default price; give --price",
    aliases=("l4-24gb",)))


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def gpu_for_device_name(device_name: str) -> GPU | None:
    """The preset whose model appears as a word in a CUDA device name, else None.

    ``"NVIDIA H100 80GB HBM3"`` -> H100, ``"NVIDIA A100-SXM4-80GB"`` -> A100; ``"NVIDIA L40S"`` is
    not an L4.  A PCIe board gets its SXM sibling's peak (the H100 PCIe's is 756e12 FLOP/s).
    """
    for gpu in GPUS.values():
        if re.search(rf"\b{re.escape(gpu.key)}\b", device_name, flags=re.IGNORECASE):
            return gpu
    return None


def get_gpu(name: str) -> GPU:
    """Look a GPU preset up by key or alias (case-insensitive; 'H100 SXM' works)."""
    key = _normalise(name)
    for gpu in GPUS.values():
        if key in (gpu.key, _normalise(gpu.name)) or key in gpu.aliases:
            return gpu
    raise ScalingLabError(f"unknown GPU {name!r}; known: {', '.join(GPUS)}")
