"""Learning-rate schedules: warmup, cosine to 10%, constant, WSD with a (1 - sqrt) cooldown."""

from __future__ import annotations

import math

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.train.config import (
    LR_SLOPE,
    default_batch_tokens,
    default_lr,
    default_warmup_steps,
)
from scalinglab.train.schedules import Schedule


def test_warmup_is_linear_to_the_peak():
    schedule = Schedule("cosine", total_steps=100, warmup_steps=10)
    assert [schedule.multiplier(s) for s in range(3)] == [0.1, 0.2, pytest.approx(0.3)]
    assert schedule.multiplier(9) == 1.0
    assert schedule.multiplier(10) == 1.0  # first decay step: cos(0)


def test_cosine_reaches_ten_percent_at_the_horizon():
    schedule = Schedule("cosine", total_steps=1000, warmup_steps=100)
    values = [schedule.multiplier(s) for s in range(100, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert schedule.multiplier(999) == pytest.approx(0.1, abs=1e-4)
    assert schedule.multiplier(550) == pytest.approx(0.55)  # half way: mid-point of 1 and 0.1


def test_constant_and_wsd_shapes():
    constant = Schedule("constant", total_steps=50, warmup_steps=5)
    assert {constant.multiplier(s) for s in range(5, 50)} == {1.0}
    wsd = Schedule("wsd", total_steps=100, warmup_steps=10, cooldown_fraction=0.2)
    assert wsd.cooldown_start == 80 and wsd.cooldown_steps == 20
    assert {wsd.multiplier(s) for s in range(10, 80)} == {1.0}
    assert wsd.multiplier(85) == pytest.approx(1 - math.sqrt(5 / 20))
    assert 0 < wsd.multiplier(99) < 0.15


def test_a_branch_shares_the_main_runs_stable_phase():
    main = Schedule("wsd", total_steps=1000, warmup_steps=50)
    branch = main.with_total(400)
    assert [main.multiplier(s) for s in range(branch.cooldown_start)] == \
        [branch.multiplier(s) for s in range(branch.cooldown_start)]
    assert branch.multiplier(399) < main.multiplier(399)


def test_invalid_schedules():
    with pytest.raises(ScalingLabError, match="unknown schedule"):
        Schedule("linear", 10, 1)
    with pytest.raises(ScalingLabError, match="warmup"):
        Schedule("cosine", 10, 10)
    with pytest.raises(ScalingLabError, match="inside the"):
        Schedule("wsd", 100, 90, cooldown_fraction=0.2)


def test_size_aware_defaults_follow_their_documented_rules():
    assert default_lr(1e4) == 6e-3 and default_lr(3e5) == 6e-3
    assert default_lr(2.4e6) == pytest.approx(3e-3)  # (8)^(-1/3) = 1/2
    assert default_lr(1e5, batch_tokens=256) == pytest.approx(3e-3)  # sqrt(1/4)
    assert default_batch_tokens(1e4, 128) == 1024
    assert default_batch_tokens(1.2e6, 128) == 2048
    assert default_batch_tokens(1e12, 128) == 1 << 20
    assert default_warmup_steps(1e4, 1024, 10_000) == 100       # floor of 100 steps
    assert default_warmup_steps(1e7, 8192, 100_000) == 1221     # N tokens
    assert default_warmup_steps(1e7, 8192, 2000) == 500         # at most a quarter


def test_rate_at_a_fixed_batch_is_continuous_in_size():
    """The square-root rescaling follows the smooth batch rule, not its power-of-two rounding:
    at 512-token batches the rate once fell by 1/sqrt(2) where the default batch doubled."""
    sizes = [1e4 * 1.03**k for k in range(400)]                 # 1e4 .. 1.3e9 parameters
    rates = [default_lr(n, batch_tokens=512) for n in sizes]
    ratios = [b / a for a, b in zip(rates, rates[1:], strict=False)]
    assert max(ratios) <= 1.0 + 1e-12          # never rises with size at a fixed batch
    assert min(ratios) > 0.98                  # and never jumps (each step moves N by 3%)
    # the default batch doubles (1024 -> 2048 tokens) at N = 6e5; the rate does not notice
    assert default_batch_tokens(0.99 * 6e5, 128) * 2 == default_batch_tokens(1.01 * 6e5, 128)
    smooth = (1.01 / 0.99) ** (LR_SLOPE - 0.25)  # N^(-1/3) times sqrt(1 / B(N)), B ∝ N^(1/2)
    assert default_lr(1.01 * 6e5, 512) / default_lr(0.99 * 6e5, 512) == pytest.approx(smooth)
    assert default_lr(1.2e6, batch_tokens=2048) == pytest.approx(default_lr(1.2e6))
