"""The main job as one pipeline: plan -> sweep -> fit -> predict -> validate -> report.

This package sits above ``sweep`` (many runs), ``fit`` (laws from runs) and ``report`` (figures
and the HTML report), which know nothing of it; the CLI's ``demo`` and ``run`` call
:func:`run_demo`.

Typical use::

    from scalinglab.study import DemoConfig, run_demo
    result = run_demo(DemoConfig(out="my-demo"))
    result.summary["relative_error"]
"""

from scalinglab.study.demo import DEFAULT_OUT, DemoConfig, DemoResult, load_config_toml, run_demo

__all__ = ["DEFAULT_OUT", "DemoConfig", "DemoResult", "load_config_toml", "run_demo"]
