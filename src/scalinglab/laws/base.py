"""What a scaling law is: a named functional form with parameters, units and a predict method.

Every law predicts held-out cross-entropy in nats/token from some of these input variables:

* ``N`` -- parameters (which convention -- non-embedding or total -- is the fit's choice),
* ``D`` -- training tokens,
* ``C`` -- training FLOPs,
* ``U`` -- unique training tokens (data-constrained law only).

For fitting, each form maps its parameters to an unconstrained-ish *raw* vector ``theta`` and
gives ``log L`` and its Jacobian in those raw coordinates, vectorised over rows; the fitters
(:mod:`scalinglab.fit`) only ever see that interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from scalinglab.errors import ScalingLabError

#: Record column holding each law variable.
VARIABLE_COLUMNS: dict[str, str] = {"N": "n_params", "D": "tokens", "C": "flops", "U": "unique_tokens"}
VARIABLE_UNITS: dict[str, str] = {"N": "parameters", "D": "tokens", "C": "FLOPs", "U": "tokens"}


class Law:
    """Base class of the law forms: parameters are plain attributes in ``self.params``."""

    name: ClassVar[str] = "law"
    param_names: ClassVar[tuple[str, ...]] = ()
    raw_names: ClassVar[tuple[str, ...]] = ()
    units: ClassVar[dict[str, str]] = {}
    variables: tuple[str, ...] = ()

    def __init__(self, **params: float) -> None:
        unknown = set(params) - set(self.param_names)
        missing = set(self.param_names) - set(params)
        if unknown or missing:
            raise ScalingLabError(
                f"{self.name} law takes parameters {', '.join(self.param_names)}; "
                f"got {', '.join(sorted(params)) or 'none'}")
        self.params: dict[str, float] = {k: float(params[k]) for k in self.param_names}

    # -- user API -----------------------------------------------------------------------------
    def predict(self, **inputs: float | np.ndarray) -> np.ndarray | float:
        """Predicted loss in nats/token for the given input variables (see :attr:`variables`)."""
        X = self._inputs(inputs)
        out = np.exp(self.log_predict_raw(self.to_raw(self.params), X))
        return float(out) if np.ndim(out) == 0 else out

    def __call__(self, **inputs: float | np.ndarray) -> np.ndarray | float:
        return self.predict(**inputs)

    def to_dict(self) -> dict:
        return {"law": self.name, "variables": list(self.variables), "params": dict(self.params)}

    def with_params(self, params: Mapping[str, float]) -> Law:
        """A copy of this law with other parameter values (same form and variables)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.params = {k: float(params[k]) for k in self.param_names}
        return clone

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return f"{type(self).__name__}({body})"

    def _inputs(self, inputs: Mapping[str, float | np.ndarray]) -> dict[str, np.ndarray]:
        missing = [v for v in self.variables if v not in inputs]
        if missing:
            raise ScalingLabError(f"{self.name} law needs {', '.join(self.variables)}; "
                                  f"missing {', '.join(missing)}")
        X = {}
        for v in self.variables:
            arr = np.asarray(inputs[v], dtype=float)
            if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ScalingLabError(f"{v} ({VARIABLE_UNITS.get(v, '')}) must be finite and > 0")
            X[v] = arr
        return X

    # -- fitting interface (raw coordinates) ----------------------------------------------------
    @classmethod
    def to_raw(cls, params: Mapping[str, float]) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def from_raw(cls, theta: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def log_predict_raw(self, theta: np.ndarray, X: Mapping[str, np.ndarray]) -> np.ndarray:
        """log L for raw parameters ``theta`` of shape (k,) or (m, k); returns (n,) or (m, n)."""
        raise NotImplementedError

    def log_jacobian_raw(self, theta: np.ndarray, X: Mapping[str, np.ndarray]) -> np.ndarray:
        """d log L / d theta, shape (n, k).  Default: central finite differences."""
        theta = np.asarray(theta, dtype=float)
        k = theta.size
        eps = 1e-6 * np.maximum(1.0, np.abs(theta))
        steps = np.eye(k) * eps
        up = self.log_predict_raw(theta + steps, X)
        down = self.log_predict_raw(theta - steps, X)
        return ((up - down) / (2 * eps[:, None])).T

    def default_starts(self, X: Mapping[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        """A grid of raw starting points (m, k) for multi-start fitting."""
        raise NotImplementedError


def logsumexp_terms(terms: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """log(sum exp(t)) over a list of broadcastable arrays, and the softmax weight of each term."""
    stacked = np.stack(np.broadcast_arrays(*terms))
    top = stacked.max(axis=0)
    w = np.exp(stacked - top)
    total = w.sum(axis=0)
    return top + np.log(total), list(w / total)
