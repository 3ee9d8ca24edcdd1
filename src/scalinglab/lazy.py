"""A package's exports loaded on first use (PEP 562 module ``__getattr__``).

Every ``scalinglab`` command pays for what its packages import at start: PyTorch (2 s) is for
training, matplotlib (0.4 s) for figures.  A package lists ``{name: submodule}`` and sets
``__getattr__ = lazy_exports(__name__, exports)``; ``from package import name`` and
``package.name`` then import the submodule the first time the name is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` that resolves ``exports`` on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)      # the next lookup is a plain attribute
        return value

    return __getattr__
