"""Errors that scalinglab raises on bad input.

Every user-facing problem (malformed tables, impossible sizes, missing files) is raised as a
:class:`ScalingLabError` with a one-line message naming the problem; the CLI turns it into
``error: <message>`` on stderr and exit status 2.
"""

from __future__ import annotations


class ScalingLabError(ValueError):
    """A problem with the user's input, reported in one line."""


class RunsError(ScalingLabError):
    """A run table that cannot be used (missing columns, NaN, non-positive sizes, ...)."""


class FitError(ScalingLabError):
    """A fit that cannot be carried out (too few points, degenerate data, ...)."""
