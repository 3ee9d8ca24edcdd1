"""Resolution-limited scaling: interpolation exponents, a CI-sized teacher-student, digits."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("skdim")
pytest.importorskip("sklearn")

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.jsonutil import to_jsonable  # noqa: E402
from scalinglab.manifold import (  # noqa: E402
    TeacherStudentSettings,
    digits_experiment,
    fit_exponent,
    interpolation_curve,
    teacher_student,
    theory_dimension,
)
from scalinglab.manifold.teacher_student import Teacher, train_student  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny MLPs run fastest on one thread (and a shared CPU is not oversubscribed)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = TeacherStudentSettings(dims=(2, 4), widths=(4, 8, 16), data_sizes=(128, 256, 512),
                              interp_sizes=(500, 1000, 2000, 4000), steps=200, batch=256,
                              n_test=2048, id_points=2000, bootstrap=50)


def test_fit_exponent_recovers_a_known_power_law():
    x = np.array([1e3, 2e3, 4e3, 8e3, 1.6e4])
    noise = np.exp(np.random.default_rng(0).normal(0, 0.01, len(x)))
    e = fit_exponent(x, 3.0 * x ** -0.5 * noise, "D", bootstrap=100)
    assert e.alpha == pytest.approx(0.5, abs=0.02)
    assert e.low < 0.5 < e.high
    assert e.four_over[0] == pytest.approx(8.0, rel=0.05)
    assert theory_dimension(0.0) != theory_dimension(0.0)  # NaN for a flat law
    with pytest.raises(ScalingLabError, match="at least 3 points"):
        fit_exponent(x[:2], x[:2], "D")


@pytest.mark.parametrize("d", [2, 3])
def test_interpolation_exponents_match_the_theory(d):
    """Local-linear interpolation: MSE ~ D^(-4/d); nearest neighbour: D^(-2/d)."""
    teacher = Teacher(d, 12, 32, 2, seed=1)
    sizes = [1000, 2000, 4000, 8000]
    linear = interpolation_curve(teacher.sample64, sizes, n_test=1500, k=2 * d + 2, seed=d)
    nearest = interpolation_curve(teacher.sample64, sizes, n_test=1500, method="nearest",
                                  seed=d)
    a_lin = fit_exponent(np.array(sizes, float), np.array([p.mse for p in linear]), "D",
                         bootstrap=0).alpha
    a_nn = fit_exponent(np.array(sizes, float), np.array([p.mse for p in nearest]), "D",
                        bootstrap=0).alpha
    assert a_lin == pytest.approx(4 / d, rel=0.15)
    assert a_nn == pytest.approx(2 / d, rel=0.15)


def test_student_training_is_deterministic_and_learns():
    teacher = Teacher(2, 8, 16, 2, seed=0)
    settings = TeacherStudentSettings(steps=300, batch=128, n_test=512)
    _, first = train_student(teacher, 8, settings, seed=3)
    _, again = train_student(teacher, 8, settings, seed=3)
    _, other = train_student(teacher, 8, settings, seed=4)
    assert first == again and first != other
    assert first < 0.2  # the teacher has unit variance: the student has learnt it


@pytest.mark.slow
def test_ci_sized_teacher_student_fits_alpha_and_compares():
    result = teacher_student(TINY)
    table = result.table()
    assert [row["d"] for row in table] == [2, 4]
    for row, run in zip(table, result.runs, strict=True):
        d = row["d"]
        assert row["four_over_d"] == 4 / d
        assert row["alpha_N"] > 0.3 and row["alpha_N_low"] <= row["alpha_N"] <= row[
            "alpha_N_high"]
        # the model-free exponent is close to 4/d already at this size
        assert row["alpha_interp"] == pytest.approx(4 / d, rel=0.2)
        # the largest student's last hidden layer has about the manifold's dimension
        assert row["id"] == pytest.approx(d, rel=0.25)
        assert run.student_points[0][1] < run.student_points[-1][1]
        losses = [p[2] for p in run.student_points]
        assert losses[-1] < losses[0]
    points = result.points()
    assert [p.true_dimension for p in points] == [2.0, 4.0]
    payload = json.loads(json.dumps(to_jsonable(result.to_dict())))
    assert payload["experiment"] == "teacher-student" and len(payload["points"]) == 2


def test_teacher_student_settings_are_validated():
    for kwargs, text in [({"dims": (30,)}, "exceeds the ambient"),
                         ({"widths": (4, 8)}, "at least 3 distinct"),
                         ({"dims": ()}, "dims is empty"), ({"lr": float("nan")}, "lr"),
                         ({"steps": 0}, "steps")]:
        with pytest.raises(ScalingLabError, match=text):
            teacher_student(TeacherStudentSettings(**kwargs))


def test_digits_dimension_and_data_sweep():
    result = digits_experiment((100, 200, 400, 800), bootstrap=30, repeats=2)
    losses = [c["loss"] for c in result.curve]
    assert losses == sorted(losses, reverse=True)  # more data, lower test loss
    assert 0.2 < result.exponent.alpha < 2.0
    assert 4 < result.id.dimension < 20
    assert result.to_dict()["points"][0]["family"] == "8x8 digits"
    with pytest.raises(ScalingLabError, match="training sizes"):
        digits_experiment((100, 200, 5000))
    with pytest.raises(ScalingLabError, match="unknown learner"):
        digits_experiment(learner="svm")
