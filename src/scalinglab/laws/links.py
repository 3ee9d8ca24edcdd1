"""The link from a loss (or from compute) to a task's accuracy: a sigmoid between chance and a ceiling.

``accuracy = chance + (ceiling - chance) * expit(slope * (x - midpoint))`` where ``x`` is

* a loss in nats/token (validation loss, or a task loss: the negative log-likelihood of the
  correct continuation) -- the slope is then negative: lower loss, higher accuracy; or
* ``log10`` of training compute in FLOPs -- the slope is then positive (the direct fit).

This is the second step of the two-step chain compute -> loss -> accuracy used by the OLMo
ladder (Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model
Ladders"), Gadre et al. 2024 ("Language models scale reliably with over-training and on
downstream tasks") and the Llama 3 report (Dubey et al. 2024, Sec. 3.2.1: compute -> NLL of
the correct answer -> accuracy).  The forms differ in how they set the ceiling, which small
runs rarely identify (their accuracies lie on the lower part of the curve):

* ``"sigmoid_pm"`` (the default): the ceiling at the mean of its likelihood over [max accuracy
  seen, 1] (a flat prior; the runs, not their checkpoints, counted as independent evidence),
  slope and midpoint refitted at that ceiling (:mod:`scalinglab.fit.linkfit`);
* ``"sigmoid"``: the least-squares ceiling in [max accuracy seen, 1], which sits at its lower
  bound whenever the fitted accuracies bend a little, so that it under-predicts larger runs;
* ``"sigmoid1"``: the ceiling fixed at 1 (a perfect model answers every item).

The default was chosen on the development library (bench/downstream.py, bench/README.md: mean
MAE over tasks 2.63 accuracy points, against 3.43 for ``sigmoid`` and 3.88 for ``sigmoid1``).
No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from scalinglab.errors import ScalingLabError

#: link forms: name -> how the ceiling is set: "one" (fixed at 1), "fitted" (least squares) or
#: "mean" (the mean of its likelihood over [max accuracy seen, 1])
LINK_FORMS = {"sigmoid1": "one", "sigmoid": "fitted", "sigmoid_pm": "mean"}
#: what the link's x is: a loss (nats/token or nats/example) or log10 of compute (FLOPs)
LINK_VARIABLES = ("loss", "log10_flops")

#: Chance accuracy of standard zero-shot multiple-choice tasks (1 / number of options), as the
#: tasks are defined by their papers and scored by lm-evaluation-harness (EleutherAI):
#: ARC (Clark et al. 2018) 4 options, HellaSwag (Zellers et al. 2019) 4 endings, MMLU
#: (Hendrycks et al. 2021) 4, WinoGrande (Sakaguchi et al. 2020) 2, PIQA (Bisk et al. 2020) 2,
#: Social IQa (Sap et al. 2019) 3, CommonsenseQA (Talmor et al. 2019) 5, COPA (Roemmele et al.
#: 2011) 2, OpenBookQA (Mihaylov et al. 2018) 4, SciQ (Welbl et al. 2017) 4, LogiQA (Liu et al.
#: 2020) 4, SuperGLUE WSC (Wang et al. 2019) 2, LAMBADA (Paperno et al. 2016) open vocabulary
#: (~0).  The built-in suite's tasks (scalinglab.train.tasks) state their own.
KNOWN_CHANCE = {
    "arc_challenge": 0.25, "arc_easy": 0.25, "hellaswag": 0.25, "mmlu": 0.25,
    "winogrande": 0.5, "piqa": 0.5, "social_iqa": 1 / 3, "commonsense_qa": 0.2, "copa": 0.5,
    "openbookqa": 0.25, "sciq": 0.25, "logiqa": 0.25, "wsc": 0.5, "lambada_openai": 0.0,
    "lambada": 0.0,
    # the trainer's held-out suite (scalinglab.train.tasks): 4 options per item
    "continuation": 0.25, "cloze": 0.25,
}


def task_name(column: str) -> str:
    """``acc_hellaswag`` -> ``hellaswag`` (a bare name is returned as it is)."""
    return column[4:] if column.startswith("acc_") else column


def known_chance(task: str) -> float | None:
    """Chance accuracy of a standard task (``acc_<task>`` or ``<task>``), or None if unknown."""
    return KNOWN_CHANCE.get(task_name(task))


@dataclass
class TaskLink:
    """Accuracy as a sigmoid of ``x`` (a loss in nats, or log10 FLOPs) between chance and ceiling.

    ``slope`` is per nat (loss) or per decade of compute; ``midpoint`` is in the units of ``x``.
    """

    form: str
    variable: str
    chance: float
    ceiling: float
    slope: float
    midpoint: float

    def __post_init__(self) -> None:
        if self.form not in LINK_FORMS:
            raise ScalingLabError(f"unknown link form {self.form!r}; one of {list(LINK_FORMS)}")
        if self.variable not in LINK_VARIABLES:
            raise ScalingLabError(f"link variable must be one of {LINK_VARIABLES}, "
                                  f"got {self.variable!r}")

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        """Expected accuracy (fraction in [chance, ceiling]) at ``x``."""
        return link_values(np.array([self.ceiling, self.slope, self.midpoint]), x, self.chance)

    def raw(self) -> np.ndarray:
        """(ceiling, slope, midpoint) as an array."""
        return np.array([self.ceiling, self.slope, self.midpoint], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"form": self.form, "variable": self.variable, "chance": self.chance,
                "ceiling": self.ceiling, "slope": self.slope, "midpoint": self.midpoint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskLink:
        return cls(**{k: data[k] for k in ("form", "variable", "chance", "ceiling", "slope",
                                            "midpoint")})

    def describe(self) -> str:
        x = "loss (nats)" if self.variable == "loss" else "log10 FLOPs"
        how = {"sigmoid_pm": "; ceiling at its likelihood's mean",
               "sigmoid": "; least-squares ceiling", "sigmoid1": ""}[self.form]
        return (f"acc = {self.chance:.3g} + ({self.ceiling:.3g} - {self.chance:.3g}) * "
                f"sigmoid({self.slope:.3g} * ({x} - {self.midpoint:.4g})){how}")


def link_values(params: np.ndarray, x: float | np.ndarray, chance: float) -> np.ndarray:
    """Accuracy of links with ``params`` (..., 3) = (ceiling, slope, midpoint) at ``x``.

    ``params`` of shape (3,) gives x's shape; (k, 3) with x (k, m) or (m,) gives (k, m).
    """
    p = np.asarray(params, dtype=float)
    x = np.asarray(x, dtype=float)
    if p.ndim == 1:
        ceiling, slope, mid = p
    else:
        ceiling, slope, mid = (p[:, i:i + 1] for i in range(3))
    return chance + (ceiling - chance) * expit(slope * (x - mid))
