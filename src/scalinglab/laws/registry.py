"""The registry of law forms: the name a fit or a saved result uses -> the law class.

One table for every place that turns a name into a law (``fit --law NAME``, a saved fit's
``law`` field, the settings check).  It sits above :mod:`scalinglab.laws.forms` and
:mod:`scalinglab.laws.data_constrained`, so neither form module imports the other's registry.
"""

from __future__ import annotations

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law
from scalinglab.laws.data_constrained import DataConstrained
from scalinglab.laws.forms import Chinchilla, KaplanND, PowerLaw

LAW_FORMS: dict[str, type[Law]] = {"power": PowerLaw, "chinchilla": Chinchilla, "kaplan": KaplanND,
                                   "data_constrained": DataConstrained}


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
