"""Resolution-limited scaling shown directly: a random smooth teacher, students of growing size.

The set-up of Sharma & Kaplan (2022, section 3): inputs vary in only d of ``ambient``
coordinates (uniform on [-1, 1]^d, rotated into R^ambient by a fixed random orthogonal map, so
the data manifold is a d-dimensional flat cube), a fixed random tanh network is the teacher
(a smooth target), and ReLU students -- piecewise-linear functions -- are trained on fresh
samples every step (the data-plentiful regime: no sample is seen twice), then scored on fresh
test samples.  The theory predicts test MSE ~ N^(-4/d).  Per d this module measures:

* ``alpha_N`` -- students of increasing width, L ~ N^(-alpha_N), N = student parameters;
* ``alpha_D`` -- one student trained to convergence on D samples for a range of D (a data
  sweep), L ~ D^(-alpha_D);
* ``alpha_interp`` -- the model-free version: local-linear interpolation of the teacher from
  D samples (:mod:`.interpolation`), whose exponent should approach 4/d;
* the intrinsic dimension of the largest student's last hidden layer on test inputs (TwoNN).

Loss unit: mean squared error in units of the teacher's output variance (the teacher is scaled
to unit variance on the input distribution).  Every random draw is seeded; same settings and
the same CPU give the same numbers.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from scalinglab.errors import ScalingLabError
from scalinglab.manifold.datasets import random_rotation
from scalinglab.manifold.interpolation import interpolation_curve
from scalinglab.manifold.intrinsic import IDResult, intrinsic_dimension
from scalinglab.manifold.theory import DimensionPoint, Exponent, fit_exponent, theory_dimension

FRESH_CHUNK = 32  # fresh training samples are drawn this many batches at a time


@dataclass
class TeacherStudentSettings:
    """Every setting that moves the numbers.  ``steps`` are optimiser steps of ``batch`` fresh
    samples each (Adam, cosine decay from ``lr``); ``data_sizes`` the D of the data sweep (the
    ``data_width`` student sees each of its D samples ``steps * batch / D`` times)."""

    dims: tuple[int, ...] = (2, 4, 6, 8)
    ambient: int = 24
    teacher_width: int = 64
    teacher_depth: int = 2
    widths: tuple[int, ...] = (4, 8, 16, 32, 64)
    depth: int = 2
    steps: int = 1500
    batch: int = 512
    lr: float = 3e-3
    data_sizes: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    data_width: int = 64
    interp_sizes: tuple[int, ...] = (1000, 2000, 4000, 8000, 16000, 32000)
    n_test: int = 4096
    id_points: int = 4096
    bootstrap: int = 200
    level: float = 0.9
    seed: int = 0
    threads: int | None = 1   # torch threads while it runs (tiny MLPs: 1 is fastest); None: leave

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        for name in ("dims", "widths", "data_sizes", "interp_sizes"):
            values = getattr(self, name)
            if any(int(v) < 1 for v in values):
                raise ScalingLabError(f"{name} must be positive integers, got {list(values)}")
        if not self.dims:
            raise ScalingLabError("dims is empty; give at least one manifold dimension")
        if max(self.dims) > self.ambient:
            raise ScalingLabError(f"a manifold dimension {max(self.dims)} exceeds the ambient "
                                  f"dimension {self.ambient}")
        for name, values in (("widths", self.widths), ("data_sizes", self.data_sizes),
                             ("interp_sizes", self.interp_sizes)):
            if values and len(set(values)) < 3:
                raise ScalingLabError(f"{name} needs at least 3 distinct values to fit an "
                                      f"exponent (or none to skip), got {list(values)}")
        if not self.widths:
            raise ScalingLabError("widths is empty; the N sweep needs at least 3 widths")
        for name in ("steps", "batch", "n_test", "depth", "teacher_width", "teacher_depth"):
            if getattr(self, name) < 1:
                raise ScalingLabError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ScalingLabError(f"lr must be a finite number > 0, got {self.lr}")
        if self.threads is not None and self.threads < 1:
            raise ScalingLabError(f"threads must be >= 1, got {self.threads}")
        if self.id_points < 20:
            raise ScalingLabError(f"id_points must be >= 20, got {self.id_points}")


class Teacher:
    """A fixed random tanh network on a d-dimensional cube rotated into R^ambient.

    ``sample(n, rng)`` returns inputs (n, ambient) and unit-variance targets (n,), float32.
    """

    def __init__(self, d: int, ambient: int, width: int, depth: int, seed: int):
        rng = np.random.default_rng([seed, d, 7])
        self.d, self.ambient = d, ambient
        self.rotation = random_rotation(d, ambient, rng)
        sizes = [ambient] + [width] * depth + [1]
        # weights ~ N(0, 1.5^2 / fan_in): tanh units in their curved range, a smooth target
        self.layers = [(rng.standard_normal((a, b)) * 1.5 / math.sqrt(a),
                        rng.standard_normal(b) * 0.5) for a, b in zip(sizes, sizes[1:],
                                                                        strict=False)]
        reference = self._raw(self._inputs(8192, np.random.default_rng([seed, d, 8])))
        self.mean, self.scale = float(reference.mean()), float(reference.std())

    def _inputs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.d)) @ self.rotation

    def _raw(self, x: np.ndarray) -> np.ndarray:
        # torch (float64) rather than NumPy: NumPy's BLAS threads crawl on a busy shared CPU
        with torch.no_grad():
            h = torch.from_numpy(x)
            for i, (w, b) in enumerate(self._torch_layers):
                h = h @ w + b
                if i < len(self._torch_layers) - 1:
                    h = torch.tanh(h)
        return h[:, 0].numpy()

    @property
    def _torch_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if not hasattr(self, "_cached"):
            self._cached = [(torch.from_numpy(w), torch.from_numpy(b)) for w, b in self.layers]
        return self._cached

    def sample(self, n: int, rng: np.random.Generator, dtype=np.float32
               ) -> tuple[np.ndarray, np.ndarray]:
        x = self._inputs(n, rng)
        return x.astype(dtype), ((self._raw(x) - self.mean) / self.scale).astype(dtype)

    def sample64(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Float64 samples (the interpolation's MSE falls below float32 resolution)."""
        return self.sample(n, rng, np.float64)


def student(ambient: int, width: int, depth: int) -> nn.Sequential:
    """A ReLU MLP ambient -> width x depth -> 1 (a piecewise-linear function)."""
    layers: list[nn.Module] = []
    size = ambient
    for _ in range(depth):
        layers += [nn.Linear(size, width), nn.ReLU()]
        size = width
    layers.append(nn.Linear(size, 1))
    return nn.Sequential(*layers)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_student(teacher: Teacher, width: int, settings: TeacherStudentSettings, seed: int,
                  data: tuple[np.ndarray, np.ndarray] | None = None,
                  test: tuple[np.ndarray, np.ndarray] | None = None,
                  on_step=None) -> tuple[nn.Sequential, float]:
    """Train one student; returns it and its test MSE.

    Without ``data`` every step draws ``batch`` fresh samples (data-plentiful); with ``data``
    (x, y) the steps cycle through shuffled minibatches of those samples only.
    """
    torch.manual_seed(seed)
    model = student(teacher.ambient, width, settings.depth)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.steps)
    rng = np.random.default_rng([seed, width, 1])
    if data is not None:
        xs, ys = torch.from_numpy(data[0]), torch.from_numpy(data[1])
        batch = min(settings.batch, len(xs))
        order = torch.randperm(len(xs))
        cursor = 0
    for step in range(settings.steps):
        if data is None:  # fresh samples, drawn FRESH_CHUNK batches at a time
            if step % FRESH_CHUNK == 0:
                pool = [torch.from_numpy(a) for a in
                        teacher.sample(settings.batch * FRESH_CHUNK, rng)]
            part = slice((step % FRESH_CHUNK) * settings.batch,
                         (step % FRESH_CHUNK + 1) * settings.batch)
            x, y = pool[0][part], pool[1][part]
        else:
            if cursor + batch > len(xs):
                order, cursor = torch.randperm(len(xs)), 0
            pick = order[cursor:cursor + batch]
            cursor += batch
            x, y = xs[pick], ys[pick]
        loss = torch.mean((model(x)[:, 0] - y) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if on_step is not None:
            on_step()
    if test is None:
        test = teacher.sample(settings.n_test, np.random.default_rng([seed, 99]))
    with torch.no_grad():
        pred = model(torch.from_numpy(test[0]))[:, 0].numpy()
    return model, float(np.mean((pred.astype(np.float64) - test[1]) ** 2))


def last_hidden(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """The activations of the last hidden layer (after its ReLU) on inputs ``x``."""
    with torch.no_grad():
        return model[:-1](torch.from_numpy(x)).numpy().astype(np.float64)


@dataclass
class DimensionRun:
    """Everything measured for one manifold dimension d.  Losses are test MSE (teacher variance
    units); ``student_points`` are (width, parameters, MSE); ``data_points`` (D, MSE) of the
    ``data_width`` student; ``interp_points`` (D, MSE) of local-linear interpolation."""

    d: int
    alpha_N: Exponent
    alpha_D: Exponent | None
    alpha_interp: Exponent | None
    hidden_id: IDResult
    student_points: list[tuple[int, int, float]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"d": self.d, "four_over_d": 4.0 / self.d,
                "alpha_N": self.alpha_N.to_dict(),
                "alpha_D": None if self.alpha_D is None else self.alpha_D.to_dict(),
                "alpha_interp": None if self.alpha_interp is None else self.alpha_interp.to_dict(),
                "hidden_id": self.hidden_id.to_dict(),
                "four_over_id": theory_dimension(self.hidden_id.dimension),
                "student_points": [list(p) for p in self.student_points],
                "seconds": self.seconds}


@dataclass
class TeacherStudentResult:
    """The teacher-student experiment over several d; ``table()`` is the comparison."""

    runs: list[DimensionRun]
    settings: dict[str, Any]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def table(self) -> list[dict[str, float]]:
        """One row per d: d, alpha_N (interval), 4/d, alpha_D, alpha_interp, ID, 4/ID."""
        rows = []
        for run in self.runs:
            rows.append({"d": run.d, "alpha_N": run.alpha_N.alpha,
                         "alpha_N_low": run.alpha_N.low, "alpha_N_high": run.alpha_N.high,
                         "four_over_d": 4.0 / run.d,
                         "alpha_D": run.alpha_D.alpha if run.alpha_D else float("nan"),
                         "alpha_interp": (run.alpha_interp.alpha if run.alpha_interp
                                          else float("nan")),
                         "id": run.hidden_id.dimension, "id_low": run.hidden_id.low,
                         "id_high": run.hidden_id.high,
                         "four_over_id": theory_dimension(run.hidden_id.dimension)})
        return rows

    def points(self) -> list[DimensionPoint]:
        """Points for the ID-versus-4/alpha figure: one per d (students' alpha_N, hidden ID)."""
        return [DimensionPoint(label=f"d={r.d}", family="teacher-student (alpha_N)",
                               dimension=r.hidden_id.dimension, dim_low=r.hidden_id.low,
                               dim_high=r.hidden_id.high, alpha=r.alpha_N.alpha,
                               alpha_low=r.alpha_N.low, alpha_high=r.alpha_N.high,
                               true_dimension=float(r.d)) for r in self.runs]

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": "teacher-student", "table": self.table(),
                "runs": [r.to_dict() for r in self.runs],
                "points": [p.to_dict() for p in self.points()],
                "settings": self.settings, "seconds": self.seconds, "warnings": self.warnings}


def teacher_student(settings: TeacherStudentSettings | None = None,
                    progress: bool = False) -> TeacherStudentResult:
    """Run the experiment for every d of ``settings.dims``; rich progress bars if ``progress``."""
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    settings = settings or TeacherStudentSettings()
    settings.validate()
    began = time.perf_counter()
    per_d = settings.steps * (len(settings.widths) + (1 if settings.data_sizes else 0)
                              * len(settings.data_sizes))
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), disable=not progress)
    runs = []
    before = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        with bars:
            overall = bars.add_task("teacher-student steps", total=per_d * len(settings.dims))
            for d in settings.dims:
                runs.append(_one_dimension(int(d), settings,
                                           lambda: bars.advance(overall)))  # noqa: B023
    finally:
        torch.set_num_threads(before)
    warnings = []
    for run in runs:
        if run.alpha_N.rmse_log > 0.25:
            warnings.append(f"d={run.d}: the N sweep is far from a power law (RMSE of log "
                            f"loss {run.alpha_N.rmse_log:.2f}); its alpha_N is a rough slope")
    return TeacherStudentResult(runs=runs, settings=settings.to_dict(),
                                seconds=time.perf_counter() - began, warnings=warnings)


def _one_dimension(d: int, s: TeacherStudentSettings, tick) -> DimensionRun:
    began = time.perf_counter()
    teacher = Teacher(d, s.ambient, s.teacher_width, s.teacher_depth, s.seed)
    test = teacher.sample(s.n_test, np.random.default_rng([s.seed, d, 2]))
    points, largest = [], None
    for i, width in enumerate(sorted(set(s.widths))):
        model, mse = train_student(teacher, width, s, seed=s.seed * 1000 + i, test=test,
                                   on_step=tick)
        points.append((width, n_parameters(model), mse))
        largest = model
    alpha_N = fit_exponent(np.array([p[1] for p in points]), np.array([p[2] for p in points]),
                           "N", bootstrap=s.bootstrap, level=s.level, seed=s.seed)
    alpha_D = None
    if s.data_sizes:
        data_points = []
        for size in sorted(set(s.data_sizes)):
            data = teacher.sample(int(size), np.random.default_rng([s.seed, d, 3, int(size)]))
            _, mse = train_student(teacher, s.data_width, s, seed=s.seed * 1000 + 500,
                                   data=data, test=test, on_step=tick)
            data_points.append((size, mse))
        alpha_D = fit_exponent(np.array([p[0] for p in data_points], dtype=float),
                               np.array([p[1] for p in data_points]), "D",
                               bootstrap=s.bootstrap, level=s.level, seed=s.seed)
    alpha_interp = None
    if s.interp_sizes:
        curve = interpolation_curve(teacher.sample64, sorted(set(s.interp_sizes)),
                                    n_test=min(s.n_test, 2000), k=2 * d + 2,
                                    seed=s.seed * 100 + d)
        alpha_interp = fit_exponent(np.array([p.samples for p in curve], dtype=float),
                                    np.array([p.mse for p in curve]), "D",
                                    bootstrap=s.bootstrap, level=s.level, seed=s.seed)
    x_id = teacher.sample(s.id_points, np.random.default_rng([s.seed, d, 4]))[0]
    hidden = intrinsic_dimension(last_hidden(largest, x_id), "twonn", bootstrap=s.bootstrap,
                                 level=s.level, seed=s.seed)
    return DimensionRun(d=d, alpha_N=alpha_N, alpha_D=alpha_D, alpha_interp=alpha_interp,
                        hidden_id=hidden, student_points=points,
                        seconds=time.perf_counter() - began)
