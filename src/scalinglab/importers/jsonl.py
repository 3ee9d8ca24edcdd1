"""JSON-lines metrics: ``metrics.jsonl``, one JSON object per evaluation (the results contract).

:class:`JsonlTail` reads a file that a running trainer is still appending to (complete lines
only); :func:`read_jsonl_rows` reads a finished one.
"""

from __future__ import annotations

import json
from pathlib import Path

from scalinglab.importers.rows import MetricsError

METRICS_FILE = "metrics.jsonl"


def _parse(line: str, path: Path, number: int) -> dict | None:
    text = line.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise MetricsError(f"{path.name} line {number} is not JSON: {text[:60]!r}") from None
    if not isinstance(value, dict):
        raise MetricsError(f"{path.name} line {number} is not a JSON object: {text[:60]!r}")
    return value


class JsonlTail:
    """Incremental reader of a growing JSON-lines file; ``rows`` holds what was read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = 0
        self.lines = 0
        self.rows: list[dict] = []
        self._partial = ""

    def poll(self, final: bool = False) -> list[dict]:
        """New complete rows since the last call (``final``: also a last unterminated line)."""
        if not self.path.is_file():
            return []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
            self.offset = handle.tell()
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = "" if final else lines.pop()
        new = []
        for line in lines:
            self.lines += 1
            row = _parse(line, self.path, self.lines)
            if row is not None:
                new.append(row)
        self.rows.extend(new)
        return new


def read_jsonl_rows(path: str | Path) -> list[dict]:
    """Every row of a finished JSON-lines file (MetricsError on a malformed line)."""
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"no {path.name} at {str(path)!r}")
    tail = JsonlTail(path)
    tail.poll(final=True)
    return tail.rows
