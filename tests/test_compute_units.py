"""Unit conversions: each one by hand, inverses, vectorisation, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.compute import units
from scalinglab.errors import ScalingLabError


def test_pf_day_is_1e15_flops_for_a_day():
    assert units.PF_DAY_FLOPS == 8.64e19
    assert units.flops_to_pf_days(8.64e20) == pytest.approx(10.0)
    assert units.pf_days_to_flops(units.flops_to_pf_days(3.7e22)) == pytest.approx(3.7e22)


def test_six_nd_and_two_nd():
    assert units.training_flops(1e9, 2e10) == pytest.approx(1.2e20)
    assert units.inference_flops(1e9, 2e10) == pytest.approx(4e19)
    assert units.training_flops(0.0, 1e9) == 0.0


def test_gpu_hours_at_an_mfu_by_hand():
    # 1 hour of a 1e15 FLOP/s GPU at 50% MFU delivers 0.5e15 x 3600 = 1.8e18 FLOPs.
    assert units.gpu_hours_to_flops(1.0, 1e15, 0.5) == pytest.approx(1.8e18)
    assert units.flops_to_gpu_hours(1.8e18, 1e15, 0.5) == pytest.approx(1.0)
    assert units.implied_mfu(1.8e18, 1.0, 1e15) == pytest.approx(0.5)


def test_wall_clock_days_on_a_cluster():
    assert units.gpu_hours_to_wall_days(24_000.0, 1000) == pytest.approx(1.0)
    assert units.wall_days_to_gpu_hours(2.0, 512) == pytest.approx(2 * 512 * 24)


def test_energy_and_emissions_by_hand():
    # 1000 GPU-hours at 700 W = 700 kWh of IT energy; PUE 1.1 -> 770 kWh of facility energy.
    assert units.gpu_hours_to_kwh(1000.0, 700.0, 1.1) == pytest.approx(770.0)
    assert units.kwh_to_co2_kg(770.0, 0.5) == pytest.approx(385.0)
    assert units.kwh_to_co2_kg(770.0, 0.0) == 0.0


def test_conversions_are_vectorised_and_keep_floats_as_floats():
    flops = np.array([1e20, 2e20, 4e20])
    hours = units.flops_to_gpu_hours(flops, 1e15, 0.4)
    assert isinstance(hours, np.ndarray) and hours.shape == (3,)
    np.testing.assert_allclose(hours[1:] / hours[:-1], 2.0)
    assert isinstance(units.flops_to_gpu_hours(1e20, 1e15, 0.4), float)


@pytest.mark.parametrize("mfu", [0.0, -0.1, 1.01, float("nan"), float("inf")])
def test_mfu_outside_zero_one_is_a_one_line_error(mfu):
    with pytest.raises(ScalingLabError, match=r"MFU must be in \(0, 1\]") as err:
        units.flops_to_gpu_hours(1e20, 1e15, mfu)
    assert "\n" not in str(err.value)


def test_mfu_of_exactly_one_is_allowed():
    assert units.flops_to_gpu_hours(3.6e18, 1e15, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: units.flops_to_gpu_hours(-1.0, 1e15, 0.4), "compute must be"),
    (lambda: units.flops_to_gpu_hours(1e20, 0.0, 0.4), "peak throughput must be"),
    (lambda: units.gpu_hours_to_wall_days(10.0, 0), "number of GPUs must be"),
    (lambda: units.gpu_hours_to_kwh(10.0, 700.0, 0.9), "PUE must be"),
    (lambda: units.kwh_to_co2_kg(10.0, -0.1), "grid carbon intensity must be"),
    (lambda: units.training_flops(np.array([1e9, -1.0]), 1e9), "parameter count must be"),
])
def test_bad_input_names_the_problem_in_one_line(call, message):
    with pytest.raises(ScalingLabError, match=message) as err:
        call()
    assert "\n" not in str(err.value)
