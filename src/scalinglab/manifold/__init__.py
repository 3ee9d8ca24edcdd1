"""The theory: data-manifold intrinsic dimension and resolution-limited scaling (alpha ~ 4/d).

Sharma & Kaplan (JMLR 2022) and Bahri et al. (2021): a model resolving a d-dimensional data
manifold with D samples (or N parameters) errs by O(D^(-2/d)) for a smooth target, so the
squared loss falls as D^(-4/d).  This sub-package measures both sides:

* :func:`intrinsic_dimension` -- TwoNN / MLE estimates (via scikit-dimension) with bootstrap
  intervals, fed with scikit-learn neighbour distances;
* :func:`teacher_student` -- students of growing size on a random smooth teacher whose inputs
  span d of ``ambient`` coordinates; alpha_N, alpha_D, the model-free interpolation exponent
  and the students' hidden-layer ID, beside 4/d;
* :func:`lm_dimensions` -- final-layer ID of a sweep's language models beside 4/alpha;
* :func:`digits_experiment` -- scikit-learn's bundled 8x8 digits as a real case.

Needs the ``manifold`` extra (scikit-learn, scikit-dimension).
"""

from scalinglab.manifold.datasets import load_digits_points, sample_cube, sample_sphere
from scalinglab.manifold.digits import DigitsResult, digits_experiment
from scalinglab.manifold.interpolation import interpolate, interpolation_curve
from scalinglab.manifold.intrinsic import IDResult, ManifoldError, intrinsic_dimension
from scalinglab.manifold.lm import LMManifoldResult, lm_dimensions
from scalinglab.manifold.teacher_student import (
    TeacherStudentResult,
    TeacherStudentSettings,
    teacher_student,
)
from scalinglab.manifold.theory import (
    KAPLAN_ALPHA_D,
    KAPLAN_ALPHA_N,
    DimensionPoint,
    Exponent,
    fit_exponent,
    theory_dimension,
)

__all__ = ["KAPLAN_ALPHA_D", "KAPLAN_ALPHA_N", "DigitsResult", "DimensionPoint", "Exponent",
           "IDResult", "LMManifoldResult", "ManifoldError", "TeacherStudentResult",
           "TeacherStudentSettings", "digits_experiment", "fit_exponent", "interpolate",
           "interpolation_curve", "intrinsic_dimension", "lm_dimensions", "load_digits_points",
           "sample_cube", "sample_sphere", "teacher_student", "theory_dimension"]
