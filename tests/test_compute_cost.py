"""The cost model: the whole chain by hand, currencies, round trips (hypothesis), bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.compute.cost import (
    DEFAULT_GRID_KG_CO2_PER_KWH,
    DEFAULT_MFU,
    DEFAULT_PUE,
    CostModel,
    Currency,
)
from scalinglab.errors import ScalingLabError


def test_defaults_are_the_documented_ones():
    costs = CostModel.create()
    assert costs.gpu.key == "h100" and costs.mfu == DEFAULT_MFU == 0.40
    assert costs.pue == DEFAULT_PUE == 1.10
    assert costs.grid_kg_co2_per_kwh == DEFAULT_GRID_KG_CO2_PER_KWH == 0.48
    assert costs.n_gpus == 1024 and costs.currency.code == "USD"


def test_bill_follows_the_chain_by_hand():
    # 1e21 FLOPs on H100 (989e12 FLOP/s) at 40% MFU:
    costs = CostModel.create("h100", mfu=0.4, n_gpus=100, pue=1.2, grid_kg_co2_per_kwh=0.5)
    bill = costs.bill(1e21)
    hours = 1e21 / (989e12 * 0.4 * 3600)
    assert bill.gpu_hours == pytest.approx(hours)
    assert bill.pf_days == pytest.approx(1e21 / 8.64e19)
    assert bill.wall_days == pytest.approx(hours / 100 / 24)
    assert bill.cost_usd == pytest.approx(hours * 2.5)
    assert bill.energy_kwh == pytest.approx(hours * 0.7 * 1.2)
    assert bill.co2_kg == pytest.approx(hours * 0.7 * 1.2 * 0.5)


def test_currency_uses_the_given_rate_only():
    costs = CostModel.create("h100", currency="krw", rate=1400.0)
    bill = costs.bill(1e21)
    assert bill.currency == "KRW"
    assert bill.cost == pytest.approx(bill.cost_usd * 1400.0)
    # --price is in the chosen currency: 3500 KRW = 2.5 USD at 1400 KRW/USD.
    local = CostModel.create("h100", price=3500.0, currency="KRW", rate=1400.0)
    assert local.price_usd_per_hour == pytest.approx(2.5)


@pytest.mark.parametrize("code, rate, message", [
    ("EUR", None, "give the exchange rate for EUR with --rate"),
    ("KRW", 0.0, "exchange rate"),
    ("dollars", 1.0, "3-letter code"),
    ("USD", 2.0, "rate of USD to USD is 1"),
])
def test_bad_currency_input(code, rate, message):
    with pytest.raises(ScalingLabError, match=message):
        Currency.parse(code, rate)


@pytest.mark.parametrize("settings_, message", [
    ({"mfu": 0.0}, "MFU must be in"), ({"mfu": 1.2}, "MFU must be in"),
    ({"inference_mfu": 2.0}, "inference MFU must be in"),
    ({"n_gpus": 0}, "number of GPUs"), ({"pue": 0.8}, "PUE must be"),
])
def test_bad_cost_settings(settings_, message):
    with pytest.raises(ScalingLabError, match=message) as err:
        CostModel.create("h100", **settings_)
    assert "\n" not in str(err.value)


def test_negative_budget_is_a_one_line_error():
    with pytest.raises(ScalingLabError, match="budget must be a finite number >= 0") as err:
        CostModel.create().flops_for_usd(-5e6)
    assert "\n" not in str(err.value)


def test_inference_mfu_prices_serving_separately():
    costs = CostModel.create("h100", mfu=0.4, inference_mfu=0.2)
    assert costs.bill(1e21, inference=True).cost_usd == pytest.approx(
        2 * costs.bill(1e21).cost_usd)


def test_gpu_without_price_gives_nan_money_but_all_else():
    bill = CostModel.create("v100").bill(1e21)
    assert np.isnan(bill.cost_usd) and bill.gpu_hours > 0
    with pytest.raises(ScalingLabError, match="no default price"):
        CostModel.create("v100").flops_for_usd(1e6)


def test_bill_is_vectorised_over_draws():
    flops = np.array([1e21, 2e21, 3e21])
    bill = CostModel.create().bill(flops)
    np.testing.assert_allclose(bill.cost_usd / bill.cost_usd[0], [1, 2, 3])


@settings(max_examples=200, deadline=None)
@given(amount=st.floats(1e-3, 1e13), mfu=st.floats(0.01, 1.0),
       price=st.floats(0.01, 1e4), rate=st.floats(1e-3, 1e5),
       gpu=st.sampled_from(["a100", "h100", "h200", "b200"]))
def test_money_to_flops_to_money_round_trips(amount, mfu, price, rate, gpu):
    costs = CostModel.create(gpu, mfu=mfu, price=price, currency="KRW", rate=rate)
    flops = costs.flops_for_money(amount)
    assert costs.money_for_flops(flops) == pytest.approx(amount, rel=1e-12)
    assert costs.flops_for_usd(costs.bill(flops).cost_usd) == pytest.approx(flops, rel=1e-12)
