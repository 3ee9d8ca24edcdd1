"""Run a Python trainer callable for one run: ``python -m scalinglab.sweep.call_trainer
module:function '{json values}'``.

The function gets one dict (the placeholder values of :mod:`scalinglab.sweep.external`).  It
writes ``metrics.jsonl`` into ``values["run_dir"]`` itself, or returns (or yields) the metric
rows, which are then written there for it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m scalinglab.sweep.call_trainer module:function JSON",
              file=sys.stderr)
        return 2
    target, text = argv
    module_name, function_name = target.split(":", 1)
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
        print(f"error: module {module_name!r} has no function {function_name!r}",
              file=sys.stderr)
        return 2
    values = json.loads(text)
    rows = function(values)
    if rows is not None:
        path = Path(values["run_dir"]) / "metrics.jsonl"
        with open(path, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
                handle.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
