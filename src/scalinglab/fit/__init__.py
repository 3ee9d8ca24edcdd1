"""Estimating laws from run rows: Approaches 1-3, bootstrap, diagnostics, backtests.

This sub-package is itself callable: ``scalinglab.fit(runs, law="chinchilla", bootstrap=1000)``
is :func:`scalinglab.fit.api.fit`.  (A module whose class has ``__call__`` keeps
``import scalinglab.fit.parametric`` working, which a function named ``fit`` on the parent
package would shadow.)
"""

import sys
import types

from scalinglab.fit.api import fit
from scalinglab.fit.backtest import BacktestResult, backtest
from scalinglab.fit.envelope import EnvelopeResult, fit_envelope
from scalinglab.fit.isoflop import IsoFlopResult, fit_isoflop
from scalinglab.fit.parametric import FitSettings, fit_parametric, select_rows
from scalinglab.fit.result import FitResult

__all__ = ["BacktestResult", "EnvelopeResult", "FitResult", "FitSettings", "IsoFlopResult",
           "backtest", "fit", "fit_envelope", "fit_isoflop", "fit_parametric", "select_rows"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return fit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
