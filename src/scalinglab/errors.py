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


class SettingError(ScalingLabError):
    """A fit setting out of range: ``field`` is its API name, ``problem`` what is wrong.

    The message reads ``<field> <problem>`` (e.g. ``checkpoints_after must be a fraction in
    [0, 1), "auto" or "final", got 1.5``); the CLI says the same with the flag's name instead
    (``--checkpoints-after must be ...``, :data:`scalinglab.cli.common.SETTING_FLAGS`).
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem

    def spelled(self, name: str) -> str:
        """The message with the setting called ``name`` (a CLI flag, say)."""
        return f"{name} {self.problem}"
