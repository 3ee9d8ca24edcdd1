"""Plan arithmetic: total FLOPs, points at the levels, centring, validation, spec checks."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError
from scalinglab.sweep.plan import (
    SYNTHETIC_SWEEP,
    SweepSpec,
    default_spec,
    grid_targets,
    level_budgets,
    plan_sweep,
    plan_validation,
    prior_optimal_size,
)
from scalinglab.sweep.store import config_hash
from scalinglab.train.config import resolve_plan
from scalinglab.train.shape import ModelShape


@pytest.fixture(scope="module")
def corpus() -> TokenizedCorpus:
    rng = np.random.default_rng(0)
    return TokenizedCorpus("toy", "byte", 256, rng.integers(0, 256, 2_000_000).astype(np.uint16),
                           rng.integers(0, 256, 20_000).astype(np.uint16))


def small_spec(**overrides) -> SweepSpec:
    settings = {"levels": (1e9, 3e9, 1e10), "seq_len": 32, "batch_tokens": 64,
                "min_steps": 40, "sizes_per_level": 4}
    return SweepSpec(**{**settings, **overrides})


def test_total_flops_is_the_sum_of_main_runs_and_branches(corpus):
    plan = plan_sweep(small_spec(), corpus)
    total = 0.0
    for run in plan.runs:
        resolved = resolve_plan(run.config, corpus)
        steps = resolved.total_steps + sum(b.end_step - b.fork_step for b in resolved.branches)
        expected = steps * resolved.batch_tokens * run.shape.flops_per_token()
        assert run.planned_flops == pytest.approx(expected, rel=1e-12)
        total += expected
    assert plan.sweep_flops == pytest.approx(total, rel=1e-12)
    # A WSD run ends at its largest level; branches cost less than the whole run again.
    for run in plan.runs:
        main = run.config.tokens * run.shape.flops_per_token()
        assert main <= run.planned_flops < 1.5 * main


def test_points_sit_at_their_level_within_one_batch(corpus):
    spec = small_spec()
    plan = plan_sweep(spec, corpus)
    for run in plan.runs:
        batch_flops = run.config.batch_tokens * run.shape.flops_per_token()
        for point in run.points:
            assert abs(point["flops"] - point["level"]) <= 0.5 * batch_flops
            assert point["steps"] >= spec.min_steps
            assert point["tokens"] == point["steps"] * run.config.batch_tokens
    budgets = level_budgets(plan)
    assert np.allclose(budgets, spec.levels, rtol=0.05)


def test_prior_centre_gives_twenty_tokens_per_parameter():
    for C in (1e10, 1e12, 1e15):
        n = prior_optimal_size(C, 256, 128)
        shape = ModelShape.for_params(n, 256, 128)
        # the smooth FLOP model is within a few percent of the snapped shape's exact count
        tokens = C / shape.flops_per_token()
        assert 10 < tokens / shape.n_params < 40
    assert prior_optimal_size(1e15, 256, 128, tokens_per_param=80) < \
        prior_optimal_size(1e15, 256, 128)


def test_sizes_straddle_the_centre(corpus):
    spec = small_spec(sizes_per_level=5)
    centre = {C: 4000.0 * (C / 1e9) ** 0.5 for C in spec.levels}
    plan = plan_sweep(spec, corpus, centre=lambda C: centre[C])
    for level in spec.levels:
        sizes = sorted(r.shape.n_params for r in plan.runs
                       if any(p["level"] == level and p["centred"] for p in r.points))
        assert sizes[0] < centre[level] < sizes[-1]
    # another centre moves the grid
    shifted = plan_sweep(spec, corpus, centre=lambda C: 4 * centre[C])
    assert max(r.shape.n_params for r in shifted.runs) > max(r.shape.n_params for r in plan.runs)


def test_grid_targets_are_shared_between_levels():
    first, second = grid_targets(1000, 5, 2.0), grid_targets(1500, 5, 2.0)
    assert len(first) == 5 and all(math.isclose(b / a, 2.0) for a, b in zip(first, first[1:], strict=False))
    assert set(first) & set(second)


def test_isoflop_design_trains_one_cosine_run_per_point(corpus):
    plan = plan_sweep(small_spec(design="isoflop"), corpus)
    assert all(len(r.points) == 1 and r.config.schedule == "cosine" for r in plan.runs)
    assert plan.sweep_flops == pytest.approx(sum(r.points[0]["flops"] for r in plan.runs))


def test_keys_identify_configs(corpus):
    first, again = plan_sweep(small_spec(), corpus), plan_sweep(small_spec(), corpus)
    assert [r.key for r in first.runs] == [r.key for r in again.runs]
    other_seed = plan_sweep(small_spec(seed=1), corpus)
    assert not {r.key for r in first.runs} & {r.key for r in other_seed.runs}
    assert len({r.key for r in first.runs}) == len(first.runs)


def test_extra_seeds_repeat_the_smallest_level(corpus):
    plan = plan_sweep(small_spec(extra_seeds=1), corpus)
    seeds = {r.config.seed for r in plan.runs}
    assert seeds == {0, 1}
    repeated = [r for r in plan.runs if r.config.seed == 1]
    assert all(any(p["level"] == 1e9 for p in r.points) for r in repeated)


def test_validation_run_is_at_the_extrapolation_factor(corpus):
    spec = small_spec(extrapolation=12.0)
    plan = plan_sweep(spec, corpus)
    run = plan_validation(spec, corpus, 20_000, plan.largest_point_flops)
    assert run.role == "validation"
    assert run.planned_flops / plan.largest_point_flops == pytest.approx(12.0, rel=0.01)
    # one definition of the validation compute: the run's level is the plan's figure
    assert plan.validation_flops == 12.0 * plan.largest_point_flops == run.points[0]["level"]
    assert run.config.schedule == "wsd" and not run.config.cooldown_at


def test_validation_run_repeats_data_with_a_warning(corpus):
    spec = small_spec(extrapolation=1e4)
    plan = plan_sweep(spec, corpus)
    run = plan_validation(spec, corpus, 20_000, plan.largest_point_flops)
    assert run.config.allow_repeat
    assert any("repeated" in w for w in run.warnings)


def test_tokens_available_counts_whole_contexts_with_their_last_target(corpus):
    seq_len = 32
    assert corpus.tokens_available(seq_len) == (corpus.train_tokens - 1) // seq_len * seq_len
    tiny = TokenizedCorpus("tiny", "byte", 256, np.zeros(65, np.uint16), np.zeros(8, np.uint16))
    assert tiny.tokens_available(32) == 64 and tiny.tokens_available(64) == 64
    assert tiny.tokens_available(65) == 0


@pytest.mark.parametrize("bad", [{"levels": ()}, {"levels": (-1.0,)}, {"design": "grid"},
                                 {"size_step": 1.0}, {"sizes_per_level": 0},
                                 {"extrapolation": 0.0}, {"lr_scale": 0.0},
                                 {"lr_scale": float("nan")}])
def test_bad_specs_raise_one_line_errors(bad):
    with pytest.raises(ScalingLabError) as info:
        SweepSpec(**bad)
    assert "\n" not in str(info.value)


def test_lr_scale_multiplies_the_trainers_rate_for_every_run(corpus):
    from scalinglab.train.config import default_lr  # noqa: PLC0415

    plain = plan_sweep(small_spec(lr_scale=1.0), corpus)
    scaled = plan_sweep(small_spec(lr_scale=0.5), corpus)
    assert all(r.config.lr is None for r in plain.runs)
    for run in scaled.runs:
        rate = default_lr(run.shape.n_params, run.config.batch_tokens)
        assert run.config.lr == pytest.approx(0.5 * rate)
    assert {r.key for r in plain.runs}.isdisjoint(r.key for r in scaled.runs)
    validation = plan_validation(small_spec(lr_scale=0.5), corpus, 5e4, 1e10)
    assert validation.config.lr == pytest.approx(
        0.5 * default_lr(validation.shape.n_params, 64))
    assert small_spec(lr=1e-3, lr_scale=0.5).lr == 1e-3  # an explicit rate wins
    assert plan_sweep(small_spec(lr=1e-3, lr_scale=0.5), corpus).runs[0].config.lr == 1e-3


def test_a_runs_key_names_the_rate_it_trains_at(corpus):
    """The key fingerprints the resolved learning rate: an explicit rate equal to the size-aware
    default names the same run, so a default rate is not reused once its rule changes."""
    from scalinglab.train.config import default_lr  # noqa: PLC0415

    def key(config):
        return config_hash(config.trajectory_fingerprint(resolve_plan(config, corpus)), "toy")

    run = plan_sweep(small_spec(lr_scale=1.0), corpus).runs[0]
    assert run.config.lr is None
    rate = default_lr(run.shape.n_params, run.config.batch_tokens)
    assert key(replace(run.config, lr=rate)) == key(run.config)
    assert key(replace(run.config, lr=0.9 * rate)) != key(run.config)


def test_unknown_setting_is_named():
    with pytest.raises(ScalingLabError, match="levelz"):
        SweepSpec.from_dict({"levelz": [1e9]})


def test_levels_too_small_for_any_run(corpus):
    with pytest.raises(ScalingLabError, match="too small for any model"):
        plan_sweep(small_spec(levels=(1e6,)), corpus)
    with pytest.raises(ScalingLabError, match="plan is empty"):
        plan_sweep(small_spec(levels=(1e9,), min_steps=10_000), corpus)


def test_default_spec_is_the_english_design_for_text_corpora():
    assert default_spec() == SweepSpec()
    assert default_spec("kjv", seed=3) == SweepSpec(seed=3)


@pytest.mark.parametrize("source", ["synthetic", "Synthetic:vocab=32,zipf=1.1"])
def test_default_spec_for_the_synthetic_language_uses_its_own_design(source):
    spec = default_spec(source, seed=2)
    assert spec.corpus == source and spec.seed == 2
    for name, value in SYNTHETIC_SWEEP.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(spec, name) == expected, name
    assert spec.seq_len != SweepSpec().seq_len  # really a different design
    assert default_spec(source, seq_len=32).seq_len == 32  # settings override the preset
