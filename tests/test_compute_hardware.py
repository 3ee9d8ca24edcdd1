"""GPU presets: the issue's specifications, lookup by alias, overrides, unknown names."""

from __future__ import annotations

import pytest

from scalinglab.compute.hardware import GPUS, get_gpu, gpu_for_device_name
from scalinglab.errors import ScalingLabError


@pytest.mark.parametrize("name, tflops, watts", [
    ("a100", 312, 400), ("h100", 989, 700), ("h200", 989, 700), ("b200", 2250, 1000),
])
def test_presets_match_the_vendor_dense_bf16_figures(name, tflops, watts):
    gpu = get_gpu(name)
    assert gpu.peak_flops == pytest.approx(tflops * 1e12)
    assert gpu.watts == watts


def test_every_preset_has_a_source_and_dated_or_absent_price():
    for gpu in GPUS.values():
        assert gpu.spec_source and gpu.price_source
        if gpu.price_usd_per_hour is not None:
            assert gpu.price_as_of[:4].isdigit()


def test_issue_default_prices():
    assert get_gpu("h100").price_usd_per_hour == pytest.approx(2.5)
    assert get_gpu("a100").price_usd_per_hour == pytest.approx(1.2)


@pytest.mark.parametrize("alias", ["H100", "h100-sxm", "H100 SXM", "h100_sxm5"])
def test_lookup_is_case_and_spelling_tolerant(alias):
    assert get_gpu(alias).key == "h100"


def test_unknown_gpu_is_a_one_line_error_listing_known_ones():
    with pytest.raises(ScalingLabError, match="unknown GPU 'tpu-v9'; known: a100") as err:
        get_gpu("tpu-v9")
    assert "\n" not in str(err.value)


def test_overrides_replace_only_what_is_given():
    base = get_gpu("a100")
    custom = base.with_overrides(price_usd_per_hour=0.9)
    assert custom.price_usd_per_hour == 0.9 and custom.price_as_of == "user"
    assert custom.peak_flops == base.peak_flops and base.price_usd_per_hour == 1.2
    assert base.with_overrides(watts=250.0).watts == 250.0


def test_a_gpu_without_price_asks_for_one():
    with pytest.raises(ScalingLabError, match="no default price for V100"):
        get_gpu("v100").require_price()


def test_nonpositive_override_is_rejected():
    with pytest.raises(ScalingLabError, match="price must be"):
        get_gpu("h100").with_overrides(price_usd_per_hour=-1.0)


@pytest.mark.parametrize("device_name, key", [
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA A100-SXM4-80GB", "a100"),
    ("NVIDIA H200", "h200"), ("NVIDIA L4", "l4"), ("NVIDIA L40S", None),
    ("NVIDIA GeForce RTX 4090", None),
])
def test_cuda_device_names_map_to_presets_by_whole_word(device_name, key):
    gpu = gpu_for_device_name(device_name)
    assert (None if gpu is None else gpu.key) == key
