"""The ID-versus-4/alpha figure: one marker per point, the diagonal, honest refusals."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("matplotlib")

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.manifold import DimensionPoint  # noqa: E402
from scalinglab.report.manifold import manifold_dimension  # noqa: E402


def point(label, dim, alpha, family="teacher-student", true=None):
    return DimensionPoint(label, family, dim, dim - 0.2, dim + 0.2, alpha, alpha * 0.9,
                          alpha * 1.1, true)


def test_points_diagonal_and_kaplan_marks():
    pts = [point("d=2", 2.0, 1.9, true=2.0), point("d=4", 3.9, 1.1, true=4.0),
           point("LM", 30.0, 0.2, family="LM (alpha_N)")]
    fig = manifold_dimension(pts)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("4 / alpha")
    diagonal = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(diagonal) == 1 and list(diagonal[0].get_xdata()) == list(
        diagonal[0].get_ydata())
    assert ax.get_xlim()[1] > 4 / 0.076  # Kaplan's 4/alpha_N = 52.6 is in view
    texts = {t.get_text() for t in ax.texts}
    assert {"d=2", "d=4", "LM", "Kaplan 4/alpha_N", "Kaplan 4/alpha_D"} <= texts


def test_nothing_drawable_is_refused():
    with pytest.raises(ScalingLabError, match="no point"):
        manifold_dimension([point("flat", 3.0, 0.0)])
    with pytest.raises(ScalingLabError, match="needs a manifold result"):
        manifold_dimension("not a result")
    assert math.isnan(point("flat", 3.0, 0.0).four_over_alpha)
