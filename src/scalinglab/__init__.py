"""scalinglab: know what a training run will buy before you pay for it.

The Python API mirrors the CLI::

    import scalinglab
    result = scalinglab.fit(runs_df, law="chinchilla", bootstrap=1000)
    result.params["alpha"], result.predict(N=70e9, D=1.4e12), result.frontier(5.76e23)
"""

from importlib import metadata as _metadata

from scalinglab import fit
from scalinglab.fit.result import FitResult
from scalinglab.laws import get_preset
from scalinglab.records import RunRecord, load_runs, write_runs

try:  # the installed distribution's version (pyproject.toml), one source for it
    __version__ = _metadata.version("scalinglab")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "unknown"

__all__ = ["FitResult", "RunRecord", "fit", "get_preset", "load_runs", "write_runs"]
