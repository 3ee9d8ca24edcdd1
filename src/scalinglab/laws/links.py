"""The link from a loss (or from compute) to a task's accuracy: a sigmoid between chance and a ceiling.

``accuracy = floor + (ceiling - floor) * expit(slope * (x - midpoint))`` (floor: chance, or
fitted below it) where ``x`` is

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

The floor (lower asymptote) is chance in these forms.  ``"sigmoid_pm_floor"`` fits it in
[chance / 2, chance], as the OLMo ladder's sigmoid fits its lower asymptote (Bhagia et al.
2024): items written against shallow heuristics score *below* chance before a model learns the
task (in ``../shared/data/downstream-dev``: ARC-Challenge 0.16-0.19 and OpenBookQA 0.12 for
small or early models, chance 0.25), and a sigmoid held at chance must bend sharply to pass
those rows, then rises far too fast beyond them (OLMo-1B -> 7B ARC-Challenge: 5.4 points off
held at chance, 2.0 with the floor fitted).  The chain's default ``link="auto"`` lets its nested
backtests choose, per task, between ``sigmoid_pm`` and ``sigmoid_pm_floor``
(:func:`scalinglab.fit.chainselect.choose_link`).

The forms were chosen on the development library (bench/downstream.py, bench/README.md: mean
MAE over tasks 2.63 accuracy points for ``sigmoid_pm``, against 3.43 for ``sigmoid`` and 3.88
for ``sigmoid1``; for the backtests' choice of the floor, its own table there).
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
LINK_FORMS = {"sigmoid1": "one", "sigmoid": "fitted", "sigmoid_pm": "mean",
              "sigmoid_pm_floor": "mean"}
#: forms whose floor (lower asymptote) is fitted at or below chance instead of fixed at chance
FITTED_FLOOR_FORMS = frozenset({"sigmoid_pm_floor"})
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
    #: lower asymptote (fraction): chance unless the form fits it (at or below chance)
    floor: float | None = None

    def __post_init__(self) -> None:
        if self.floor is None:
            self.floor = self.chance
        if self.form not in LINK_FORMS:
            raise ScalingLabError(f"unknown link form {self.form!r}; one of {list(LINK_FORMS)}")
        if self.variable not in LINK_VARIABLES:
            raise ScalingLabError(f"link variable must be one of {LINK_VARIABLES}, "
                                  f"got {self.variable!r}")

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        """Expected accuracy (fraction in [floor, ceiling]) at ``x``."""
        return link_values(self.raw(), x, self.chance)

    def raw(self) -> np.ndarray:
        """(ceiling, slope, midpoint, floor) as an array."""
        return np.array([self.ceiling, self.slope, self.midpoint, self.floor], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"form": self.form, "variable": self.variable, "chance": self.chance,
                "ceiling": self.ceiling, "slope": self.slope, "midpoint": self.midpoint,
                "floor": self.floor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskLink:
        """From :meth:`to_dict` (fits saved before the floor existed: floor = chance)."""
        return cls(**{k: data[k] for k in ("form", "variable", "chance", "ceiling", "slope",
                                            "midpoint")}, floor=data.get("floor"))

    def describe(self) -> str:
        x = "loss (nats)" if self.variable == "loss" else "log10 FLOPs"
        how = {"sigmoid_pm": "; ceiling at its likelihood's mean",
               "sigmoid_pm_floor": "; ceiling at its likelihood's mean, floor fitted "
                                   f"(chance {self.chance:.3g})",
               "sigmoid": "; least-squares ceiling", "sigmoid1": ""}[self.form]
        return (f"acc = {self.floor:.3g} + ({self.ceiling:.3g} - {self.floor:.3g}) * "
                f"sigmoid({self.slope:.3g} * ({x} - {self.midpoint:.4g})){how}")


def link_values(params: np.ndarray, x: float | np.ndarray, chance: float) -> np.ndarray:
    """Accuracy of links with ``params`` (..., 4) = (ceiling, slope, midpoint, floor) at ``x``.

    ``params`` of shape (4,) gives x's shape; (k, 4) with x (k, m) or (m,) gives (k, m).
    Three parameters (no floor: links saved before it existed) put the floor at ``chance``.
    """
    p = np.asarray(params, dtype=float)
    x = np.asarray(x, dtype=float)
    cols = p if p.ndim == 1 else p.T[..., None]
    ceiling, slope, mid = cols[0], cols[1], cols[2]
    floor = cols[3] if p.shape[-1] > 3 else chance
    return floor + (ceiling - floor) * expit(slope * (x - mid))
