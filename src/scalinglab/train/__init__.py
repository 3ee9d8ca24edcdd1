"""One training run: the GPT, the size ladder, schedules, the loop, checkpoints, DDP.

Typical use::

    from scalinglab.train import TrainConfig, train_run, load_text_corpus
    corpus = load_text_corpus("tinyshakespeare.txt")
    result = train_run(TrainConfig(params=1e5, tokens=2e6), corpus)
    result.frame()  # one RunRecord row per evaluation
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalinglab.lazy import lazy_exports

if TYPE_CHECKING:
    from scalinglab.train.config import RunPlan, TrainConfig, resolve_plan
    from scalinglab.train.data import load_text_corpus
    from scalinglab.train.loop import ProgressInfo, TrainingDiverged, TrainResult, train_run
    from scalinglab.train.model import GPT
    from scalinglab.train.schedules import Schedule
    from scalinglab.train.shape import ModelShape

#: Exported name -> submodule.  Loaded on first use (PEP 562): the planner and the command
#: line need the run's configuration and shape, not PyTorch (2 s to import).
_EXPORTS = {"RunPlan": "config", "TrainConfig": "config", "resolve_plan": "config",
            "load_text_corpus": "data", "ProgressInfo": "loop", "TrainingDiverged": "loop",
            "TrainResult": "loop", "train_run": "loop", "GPT": "model", "Schedule": "schedules",
            "ModelShape": "shape"}

__all__ = ["GPT", "ModelShape", "ProgressInfo", "RunPlan", "Schedule", "TrainConfig",
           "TrainResult", "TrainingDiverged", "load_text_corpus", "resolve_plan", "train_run"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
