"""Small text helpers shared by the fit's messages and the report."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: object) -> tuple:
    """Sort key that orders the numbers inside names by value: run2 before run10.

    >>> sorted(["run10", "run2", "run1"], key=natural_key)
    ['run1', 'run2', 'run10']
    """
    parts = _DIGITS.split(str(text))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p)


def natural_sorted(items) -> list:
    """``items`` sorted by :func:`natural_key`."""
    return sorted(items, key=natural_key)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's first line (its type's name when it has no message), cut to ``limit``
    characters: what a report shows in place of what failed."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return message if len(message) < limit else message[:limit - 3] + "..."
