"""Atomic checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model and optimiser states, the step count (which is also the data
position: batches are a pure function of the step, see :mod:`.data`), the records emitted so
far, the wall-clock time spent, the torch RNG state, and the config's trajectory fingerprint.
It is written to a temporary file in the same folder, flushed to disk, then renamed over the
previous checkpoint (``os.replace`` is atomic on POSIX), so a run killed at any moment leaves
either the old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from scalinglab.errors import ScalingLabError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


@dataclass
class TrainState:
    """What a checkpoint restores."""

    step: int
    model: dict
    optimizer: dict
    records: list[dict]
    wall_seconds: float
    train_seconds: float
    rng_state: torch.Tensor
    fingerprint: dict


def checkpoint_path(directory: str | Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def save_checkpoint(directory: str | Path, state: TrainState) -> Path:
    """Write ``state`` atomically to ``directory/checkpoint.pt``; returns the path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory)
    temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    payload = {"format_version": FORMAT_VERSION, **state.__dict__}
    with open(temporary, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    _fsync_directory(directory)
    return final


def load_checkpoint(directory: str | Path, fingerprint: dict) -> TrainState | None:
    """The state in ``directory`` (None if there is none); refuses another config's checkpoint."""
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file: say which, in one line
        raise ScalingLabError(f"cannot read checkpoint {str(path)!r}: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                              ) from None
    if payload.get("format_version") != FORMAT_VERSION:
        raise ScalingLabError(f"checkpoint {str(path)!r} has format "
                              f"{payload.get('format_version')!r}, expected {FORMAT_VERSION}")
    saved = payload["fingerprint"]
    for key in sorted(set(saved) | set(fingerprint)):
        if saved.get(key) != fingerprint.get(key):
            raise ScalingLabError(
                f"checkpoint {str(path)!r} belongs to another run ({key}: {saved.get(key)!r} "
                f"there, {fingerprint.get(key)!r} now); use another checkpoint folder")
    payload.pop("format_version")
    return TrainState(**payload)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (best effort; not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
