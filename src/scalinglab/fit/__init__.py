"""Estimating laws from run rows: Approaches 1-3, bootstrap, diagnostics, backtests.

This sub-package is itself callable: ``scalinglab.fit(runs, law="chinchilla", bootstrap=1000)``
is :func:`scalinglab.fit.api.fit` (same signature and docstring, ``help(scalinglab.fit)``).
(A module whose class has ``__call__`` keeps ``import scalinglab.fit.parametric`` working, which
a function named ``fit`` on the parent package would shadow.)

Where things live: :mod:`.settings` (``FitSettings``), :mod:`.rows` (row selection, the frontier
filter, ``row_compute``), :mod:`.optimise` (law, bounds, start screen, polish, profiles),
:mod:`.parametric` (``fit_parametric``, the Approach-3 pipeline), :mod:`.bootstrap`,
:mod:`.intervals`, :mod:`.diagnostics`, :mod:`.result` (``FitResult``), :mod:`.isoflop`
(Approach 2), :mod:`.envelope` (Approach 1), :mod:`.backtest`.
"""

import inspect
import sys
import types

from scalinglab.fit.api import fit
from scalinglab.fit.backtest import BacktestResult, backtest
from scalinglab.fit.envelope import EnvelopeResult, fit_envelope
from scalinglab.fit.isoflop import IsoFlopResult, fit_isoflop
from scalinglab.fit.parametric import fit_parametric
from scalinglab.fit.result import FitProcedure, FitResult
from scalinglab.fit.rows import row_compute, select_rows
from scalinglab.fit.settings import FitSettings

__all__ = ["BacktestResult", "EnvelopeResult", "FitProcedure", "FitResult", "FitSettings",
           "IsoFlopResult", "backtest", "fit", "fit_envelope", "fit_isoflop", "fit_parametric",
           "row_compute", "select_rows"]


class _CallableModule(types.ModuleType):
    """The package, callable as :func:`scalinglab.fit.api.fit` (its signature and docstring)."""

    __signature__ = inspect.signature(fit)

    def __call__(self, *args, **kwargs):
        return fit(*args, **kwargs)


_CallableModule.__call__.__signature__ = inspect.signature(fit)
_CallableModule.__call__.__doc__ = fit.__doc__
sys.modules[__name__].__class__ = _CallableModule
sys.modules[__name__].__doc__ = (f"scalinglab.fit{inspect.signature(fit)}\n\n{inspect.cleandoc(fit.__doc__)}"
                                  f"\n\n{__doc__}")
