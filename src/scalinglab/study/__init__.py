"""The main job as one pipeline: plan -> sweep -> fit -> predict -> validate -> report.

This package sits above ``sweep`` (many runs), ``fit`` (laws from runs) and ``report`` (figures
and the HTML report), which know nothing of it (the report reads ``summary.json`` through
:mod:`scalinglab.study.summary`, a module that imports nothing else of scalinglab); the CLI's
``demo`` and ``run`` call :func:`run_demo`.  Where things are:

* :mod:`~scalinglab.study.config` -- :class:`DemoConfig` and its TOML file;
* :mod:`~scalinglab.study.pipeline` -- :func:`run_demo`, the sequence and what it writes;
* :mod:`~scalinglab.study.fits` -- Approaches 3 and 2 on the sweep, the within-sweep backtest,
  the prediction of the validation run;
* :mod:`~scalinglab.study.tasks` -- the task chains' accuracy predictions of the validation run;
* :mod:`~scalinglab.study.sizing` -- how the validation run is sized;
* :mod:`~scalinglab.study.summary` -- :class:`DemoSummary`, the typed ``summary.json``;
* :mod:`~scalinglab.study.render` -- console output and ``summary.md``.

Typical use::

    from scalinglab.study import DemoConfig, run_demo
    result = run_demo(DemoConfig(out="my-demo"))
    result.summary.relative_error
"""

from importlib import import_module
from typing import Any

#: public name -> its module; loaded on first use, so that reading a summary
#: (``scalinglab.study.summary``, as the report does) does not import the pipeline and torch
_EXPORTS = {"DEFAULT_OUT": "config", "DemoConfig": "config", "load_config_toml": "config",
            "DemoResult": "pipeline", "run_demo": "pipeline", "DemoSummary": "summary"}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scalinglab.study' has no attribute {name!r}")
    return getattr(import_module(f"scalinglab.study.{_EXPORTS[name]}"), name)


__all__ = ["DEFAULT_OUT", "DemoConfig", "DemoResult", "DemoSummary", "load_config_toml",
           "run_demo"]
