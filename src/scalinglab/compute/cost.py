"""What compute costs: FLOPs -> PF-days -> GPU-hours -> wall-clock days -> money, kWh, CO2.

A :class:`CostModel` bundles every assumption (GPU, MFU, cluster size, price, currency, PUE,
grid intensity); :meth:`CostModel.bill` prices FLOPs and :meth:`CostModel.flops_for_money` goes
back.  All of it is vectorised: FLOPs may be an array (one entry per bootstrap draw).

Defaults and their sources (each can be overridden):

* MFU 0.40, typical range 0.30-0.50.  Llama 3 405B trained at 38-43% BF16 MFU on 8K-16K H100s
  (Dubey et al. 2024, arXiv:2407.21783, Table 4); PaLM 540B at 46.2% (Chowdhery et al. 2022,
  arXiv:2204.02311, Sec. 4); Llama 2 70B's published GPU-hours imply 43.5%
  (tests/test_compute_published.py).
* PUE 1.10: Google's fleet-wide trailing-twelve-month average for 2023 (Google 2024
  Environmental Report).  The industry average is higher, ~1.58 (Uptime Institute Global Data
  Center Survey 2023) -- pass ``pue=1.58`` for a typical colocation site.
* Grid intensity 0.48 kg CO2e/kWh: the world average of electricity generation in 2023
  (Ember, Global Electricity Review 2024: 480 gCO2/kWh).  Location matters by 20x (hydro ~0.02,
  coal-heavy grids ~0.9); pass the intensity of the actual site.
* 1,024 GPUs for wall-clock time: a round cluster size, a convention not a measurement.
* Price: the GPU preset's dated rental rate (see :mod:`scalinglab.compute.hardware`).
* Currency USD; any other currency takes a user-given rate (units per USD); nothing is fetched.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from scalinglab.compute.hardware import GPU, get_gpu
from scalinglab.compute.units import (
    Number,
    check_mfu,
    check_nonnegative,
    check_positive,
    flops_to_gpu_hours,
    flops_to_pf_days,
    gpu_hours_to_flops,
    gpu_hours_to_kwh,
    gpu_hours_to_wall_days,
    kwh_to_co2_kg,
)
from scalinglab.errors import ScalingLabError

DEFAULT_MFU: float = 0.40
MFU_TYPICAL_RANGE: tuple[float, float] = (0.30, 0.50)
DEFAULT_PUE: float = 1.10
DEFAULT_GRID_KG_CO2_PER_KWH: float = 0.48
DEFAULT_N_GPUS: int = 1024
DEFAULT_GPU: str = "h100"

_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Currency:
    """A currency and its user-given exchange rate: ``per_usd`` units of it buy 1 USD."""

    code: str = "USD"
    per_usd: float = 1.0

    @classmethod
    def parse(cls, code: str | None, rate: float | None) -> Currency:
        """``--currency KRW --rate 1400`` -> Currency('KRW', 1400.0); USD needs no rate."""
        code = (code or "USD").strip().upper()
        if not _CURRENCY_CODE.match(code):
            raise ScalingLabError(f"currency must be a 3-letter code such as USD, EUR, KRW; "
                                  f"got {code!r}")
        if code == "USD":
            if rate is not None and rate != 1.0:
                raise ScalingLabError(f"the rate of USD to USD is 1, got {rate:g}")
            return cls("USD", 1.0)
        if rate is None:
            raise ScalingLabError(f"give the exchange rate for {code} with --rate "
                                  f"({code} per USD); no rates are fetched")
        check_positive(rate, f"exchange rate ({code} per USD)", "")
        return cls(code, float(rate))

    def from_usd(self, usd: Number) -> Number:
        return usd * self.per_usd

    def to_usd(self, amount: Number) -> Number:
        return amount / self.per_usd


@dataclass(frozen=True)
class ComputeBill:
    """What ``flops`` training (or inference) FLOPs cost under a :class:`CostModel`.

    Fields may be arrays (one entry per bootstrap draw).  Units: FLOPs, PF-days, GPU-hours,
    wall-clock days on the model's cluster, kWh of facility energy, kg CO2e, USD, and ``cost`` in
    ``currency``.
    """

    flops: Number
    pf_days: Number
    gpu_hours: Number
    wall_days: Number
    energy_kwh: Number
    co2_kg: Number
    cost_usd: Number
    cost: Number
    currency: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CostModel:
    """Every assumption that turns FLOPs into time, money, energy and emissions.

    ``mfu``: training model-FLOPs utilisation in (0, 1]; ``inference_mfu``: the same for serving
    (None: same as training -- decode is usually less efficient, so pass a lower value when you
    know it); ``price_usd_per_hour``: per GPU-hour (None: the preset's); ``watts``: per GPU
    (None: the preset's TDP); ``pue`` >= 1; ``grid_kg_co2_per_kwh`` in kg CO2e/kWh.
    """

    gpu: GPU
    mfu: float = DEFAULT_MFU
    n_gpus: int = DEFAULT_N_GPUS
    pue: float = DEFAULT_PUE
    grid_kg_co2_per_kwh: float = DEFAULT_GRID_KG_CO2_PER_KWH
    currency: Currency = Currency()
    inference_mfu: float | None = None

    def __post_init__(self) -> None:
        check_mfu(self.mfu, "MFU")
        if self.inference_mfu is not None:
            check_mfu(self.inference_mfu, "inference MFU")
        if isinstance(self.n_gpus, bool) or int(self.n_gpus) != self.n_gpus or self.n_gpus < 1:
            raise ScalingLabError(f"number of GPUs must be a whole number >= 1, got {self.n_gpus}")
        if not np.isfinite(self.pue) or self.pue < 1:
            raise ScalingLabError(f"PUE must be a finite number >= 1 (facility / IT energy), "
                                  f"got {self.pue:g}")
        check_nonnegative(self.grid_kg_co2_per_kwh, "grid carbon intensity", "kg CO2e/kWh")

    @classmethod
    def create(cls, gpu: str | GPU = DEFAULT_GPU, *, price: float | None = None,
               watts: float | None = None, peak_flops: float | None = None,
               currency: str | None = None, rate: float | None = None,
               **settings: float | int | None) -> CostModel:
        """Build a cost model from plain values; ``price`` is per GPU-hour in ``currency``."""
        money = Currency.parse(currency, rate)
        hardware = get_gpu(gpu) if isinstance(gpu, str) else gpu
        price_usd = None
        if price is not None:
            price_usd = float(money.to_usd(float(check_positive(price, "price", "per GPU-hour"))))
        hardware = hardware.with_overrides(peak_flops=peak_flops, watts=watts,
                                           price_usd_per_hour=price_usd)
        kept = {k: v for k, v in settings.items() if v is not None}
        return cls(gpu=hardware, currency=money, **kept)  # type: ignore[arg-type]

    # -- the chain -----------------------------------------------------------------------------
    @property
    def price_usd_per_hour(self) -> float:
        """Rental price per GPU-hour, USD (a one-line error if the GPU has no default)."""
        return self.gpu.require_price()

    @property
    def serving_mfu(self) -> float:
        return self.mfu if self.inference_mfu is None else self.inference_mfu

    def bill(self, flops: Number, *, inference: bool = False) -> ComputeBill:
        """Price ``flops`` FLOPs: PF-days, GPU-hours, days on ``n_gpus``, kWh, kg CO2e, money.

        Money is NaN when the GPU has no price (a legacy preset without ``--price``).
        """
        mfu = self.serving_mfu if inference else self.mfu
        gpu_hours = flops_to_gpu_hours(flops, self.gpu.peak_flops, mfu)
        energy = gpu_hours_to_kwh(gpu_hours, self.gpu.watts, self.pue)
        price = self.gpu.price_usd_per_hour
        cost_usd = gpu_hours * (np.nan if price is None else price)
        return ComputeBill(
            flops=flops, pf_days=flops_to_pf_days(flops), gpu_hours=gpu_hours,
            wall_days=gpu_hours_to_wall_days(gpu_hours, self.n_gpus), energy_kwh=energy,
            co2_kg=kwh_to_co2_kg(energy, self.grid_kg_co2_per_kwh), cost_usd=cost_usd,
            cost=self.currency.from_usd(cost_usd), currency=self.currency.code)

    def money_for_flops(self, flops: Number, *, inference: bool = False) -> Number:
        """Cost of ``flops`` FLOPs in the model's currency."""
        return self.bill(flops, inference=inference).cost

    def flops_for_usd(self, usd: Number, *, inference: bool = False) -> Number:
        """FLOPs that ``usd`` US dollars buy at this price, GPU and MFU."""
        check_nonnegative(usd, "budget", "USD")
        gpu_hours = usd / self.price_usd_per_hour
        return gpu_hours_to_flops(gpu_hours, self.gpu.peak_flops,
                                  self.serving_mfu if inference else self.mfu)

    def flops_for_money(self, amount: Number, *, inference: bool = False) -> Number:
        """FLOPs that ``amount`` of the model's currency buys."""
        check_nonnegative(amount, "budget", self.currency.code)
        return self.flops_for_usd(self.currency.to_usd(amount), inference=inference)

    def describe(self) -> dict:
        """The assumptions, for printing and JSON."""
        price = self.gpu.price_usd_per_hour
        return {
            "gpu": self.gpu.name, "peak_flops_per_s": self.gpu.peak_flops,
            "watts_per_gpu": self.gpu.watts, "mfu": self.mfu, "inference_mfu": self.serving_mfu,
            "n_gpus": self.n_gpus, "price_usd_per_gpu_hour": price,
            "price_per_gpu_hour": None if price is None else self.currency.from_usd(price),
            "currency": self.currency.code, "usd_rate": self.currency.per_usd,
            "price_as_of": self.gpu.price_as_of, "price_source": self.gpu.price_source,
            "pue": self.pue, "grid_kg_co2_per_kwh": self.grid_kg_co2_per_kwh,
            "spec_source": self.gpu.spec_source,
        }
