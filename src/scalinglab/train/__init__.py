"""One training run: the GPT, the size ladder, schedules, the loop, checkpoints, DDP.

Typical use::

    from scalinglab.train import TrainConfig, train_run, load_text_corpus
    corpus = load_text_corpus("tinyshakespeare.txt")
    result = train_run(TrainConfig(params=1e5, tokens=2e6), corpus)
    result.frame()  # one RunRecord row per evaluation
"""

from __future__ import annotations

from scalinglab.lazy import lazy_exports

#: Exported name -> submodule.  Loaded on first use (PEP 562): the planner and the command
#: line need the run's configuration and shape, not PyTorch (2 s to import).
_EXPORTS = {"RunPlan": "config", "TrainConfig": "config", "resolve_plan": "config",
            "load_text_corpus": "data", "ProgressInfo": "loop", "TrainingDiverged": "loop",
            "TrainResult": "loop", "train_run": "loop", "GPT": "model", "Schedule": "schedules",
            "ModelShape": "shape"}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
