"""Atomic, checksummed checkpoints: everything needed to continue a run where it stopped.

A checkpoint holds the model and optimiser states, the step count (which is also the data
position: batches are a pure function of the step, see :mod:`.data`), the records emitted so
far, the wall-clock time spent, the torch RNG state, and the config's trajectory fingerprint.

Writing: the state is serialised in memory, prefixed by a header line with its SHA-256 and
length, written to a temporary file in the same folder, flushed and fsync'ed, and renamed over
the checkpoint (``os.replace`` is atomic on POSIX); the checkpoint it replaces is kept as
``checkpoint.prev.pt``.  A run killed at any moment leaves a good checkpoint behind; a failed
write (a full disk) removes its temporary file and leaves the previous checkpoint untouched.

Reading: a file whose checksum, length or contents do not check out (a truncated copy, a bad
disk, a hand edit) is moved aside as ``*.corrupt`` and the previous checkpoint is tried, then
none: the run goes on from the last good state or restarts from scratch, with a warning --
never an error that would fail the same run again on every retry.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scalinglab.errors import ScalingLabError

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"
FORMAT_VERSION = 1
MAGIC = b"scalinglab-checkpoint"
HEADER_LIMIT = 256  # bytes: the header line is far shorter


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


@dataclass
class LoadedCheckpoint:
    """The state found (None: start afresh), the file it came from, and what went wrong."""

    state: TrainState | None
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


class CorruptCheckpoint(ScalingLabError):
    """A checkpoint file that fails its checksum or cannot be deserialised."""


def checkpoint_path(directory: str | Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def previous_path(directory: str | Path) -> Path:
    return Path(directory) / PREVIOUS_NAME


def save_checkpoint(directory: str | Path, state: TrainState) -> Path:
    """Write ``state`` atomically to ``directory/checkpoint.pt``; returns the path.

    An ``OSError`` (e.g. ``ENOSPC``) propagates after the temporary file is removed; the
    checkpoints already on disk are unchanged.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory)
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state.__dict__}, buffer)
    body = buffer.getvalue()
    header = b"%s sha256=%s bytes=%d\n" % (MAGIC, hashlib.sha256(body).hexdigest().encode(),
                                          len(body))
    temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(header)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():
            os.replace(final, previous_path(directory))
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return final


def read_checkpoint_file(path: str | Path) -> dict:
    """The payload of one checkpoint file, verified (:class:`CorruptCheckpoint` if it fails)."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(MAGIC):
        end = data.find(b"\n", 0, HEADER_LIMIT)
        fields = dict(part.split(b"=", 1) for part in data[:end].split()[1:] if b"=" in part)
        body = data[end + 1:] if end >= 0 else b""
        expected = fields.get(b"sha256", b"").decode(errors="replace")
        try:
            length = int(fields.get(b"bytes", b"-1"))
        except ValueError:
            length = -1
        if end < 0 or length != len(body):
            raise CorruptCheckpoint(f"checkpoint {str(path)!r} is truncated or damaged "
                                    f"({len(body)} of {length} bytes)")
        if hashlib.sha256(body).hexdigest() != expected:
            raise CorruptCheckpoint(f"checkpoint {str(path)!r} fails its SHA-256 check")
    else:
        body = data  # a checkpoint written before checksums: torch's own checks only
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is a corrupt checkpoint
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptCheckpoint(f"cannot read checkpoint {str(path)!r}: {text}") from None
    if not isinstance(payload, dict) or "fingerprint" not in payload:
        raise CorruptCheckpoint(f"checkpoint {str(path)!r} does not hold a training state")
    return payload


def load_checkpoint(directory: str | Path, fingerprint: dict) -> LoadedCheckpoint:
    """The newest good state in ``directory``; refuses another config's checkpoint.

    Tries ``checkpoint.pt`` then ``checkpoint.prev.pt``; a corrupt one is renamed to
    ``<name>.corrupt`` (so it is not tried again) and named in the warnings.  Leftover
    temporary files of a killed writer are removed.
    """
    directory = Path(directory)
    for leftover in directory.glob(f".{CHECKPOINT_NAME}.*.tmp"):
        leftover.unlink(missing_ok=True)
    warnings: list[str] = []
    for path in (checkpoint_path(directory), previous_path(directory)):
        if not path.exists():
            continue
        try:
            payload = read_checkpoint_file(path)
        except (CorruptCheckpoint, OSError) as exc:
            aside = path.with_name(path.name + ".corrupt")
            try:
                os.replace(path, aside)
            except OSError:
                aside = path
            warnings.append(f"{exc}; moved it to {aside.name}")
            continue
        _check_payload(path, payload, fingerprint)
        payload.pop("format_version")
        if warnings:
            warnings.append(f"resumed from the previous checkpoint {path.name} "
                            f"(step {payload['step']})")
        return LoadedCheckpoint(TrainState(**payload), path, warnings)
    if warnings:
        warnings.append("no good checkpoint left: the run restarts from scratch")
    return LoadedCheckpoint(None, None, warnings)


def _check_payload(path: Path, payload: dict, fingerprint: dict) -> None:
    if payload.get("format_version") != FORMAT_VERSION:
        raise ScalingLabError(f"checkpoint {str(path)!r} has format "
                              f"{payload.get('format_version')!r}, expected {FORMAT_VERSION}")
    saved = payload["fingerprint"]
    for key in sorted(set(saved) | set(fingerprint)):
        if saved.get(key) != fingerprint.get(key):
            raise ScalingLabError(
                f"checkpoint {str(path)!r} belongs to another run ({key}: {saved.get(key)!r} "
                f"there, {fingerprint.get(key)!r} now); use another checkpoint folder")


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
