"""The registry of law forms: the name a fit or a saved result uses -> the law class.

One table for every place that turns a name into a law (``fit --law NAME``, a saved fit's
``law`` field, the settings check).  It sits above :mod:`scalinglab.laws.forms` and
:mod:`scalinglab.laws.data_constrained`, so neither form module imports the other's registry.
"""

from __future__ import annotations

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law
from scalinglab.laws.data_constrained import DataConstrained
from scalinglab.laws.forms import Chinchilla, KaplanND, PowerLaw
from scalinglab.laws.overtrain import OverTrain, chinchilla_equivalent

LAW_FORMS: dict[str, type[Law]] = {"power": PowerLaw, "chinchilla": Chinchilla, "kaplan": KaplanND,
                                   "data_constrained": DataConstrained, "overtrain": OverTrain}


def law_from_dict(data: dict) -> Law:
    """Rebuild a law from :meth:`Law.to_dict` output."""
    name = data.get("law")
    if name not in LAW_FORMS:
        raise ScalingLabError(f"unknown law form {name!r}; known: {', '.join(LAW_FORMS)}")
    cls = LAW_FORMS[name]
    if cls is PowerLaw:
        return PowerLaw(variable=data["variables"][0], irreducible=data.get("irreducible", True),
                        **data["params"])
    return cls(**data["params"])


def as_chinchilla(law: Law, draws: pd.DataFrame | None = None
                  ) -> tuple[Chinchilla, pd.DataFrame | None]:
    """The law in Hoffmann et al.'s form E + A/N^alpha + B/D^beta, with its bootstrap draws.

    A Chinchilla law is returned as it is; Gadre et al.'s over-training law is the same form
    with tied exponents (:func:`~scalinglab.laws.overtrain.chinchilla_equivalent`), so the
    compute-optimal frontier and the planner read either.  Other forms: a one-line error.
    """
    if isinstance(law, Chinchilla):
        return law, draws
    if isinstance(law, OverTrain):
        converted = None if draws is None else pd.DataFrame(
            chinchilla_equivalent({k: draws[k].to_numpy(dtype=float) for k in draws.columns}))
        return Chinchilla(**law.chinchilla_params()), converted
    hint = ("; a law in one variable cannot say how to split compute between N and D: "
            "predict single runs with `predict`, or refit a table that varies N and D with "
            "--law chinchilla"
            if len(law.variables) == 1 else "")
    raise ScalingLabError(f"the compute-optimal frontier needs a law in N and D of the "
                          f"Chinchilla form (chinchilla or overtrain), not {law.name}{hint}")
