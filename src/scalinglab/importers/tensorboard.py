"""TensorBoard event files -> metric rows of the results contract, through a tag mapping.

``loss_tag`` names the held-out loss (nats/token, e.g. ``eval/loss`` as Hugging Face's
``Trainer`` writes it); tokens come from ``tokens_tag`` or, without one, from the event step
times ``batch_tokens`` (tokens per optimiser step).  Every ``events.out.tfevents.*`` file under
the directory is read (a resumed run adds files); for a step logged twice the later write wins.
Needs the ``tensorboard`` package (the ``external`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from scalinglab.errors import ScalingLabError
from scalinglab.importers.rows import MetricsError

EVENT_GLOB = "events.out.tfevents.*"


def event_files(directory: str | Path) -> list[Path]:
    """Event files under ``directory`` (recursively), in a stable order."""
    return sorted(Path(directory).rglob(EVENT_GLOB))


def _scalars(path: Path) -> Iterator[tuple[str, int, float, float]]:
    """(tag, step, wall time, value) of every scalar in one event file."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import (  # noqa: PLC0415
            EventFileLoader,
        )
        from tensorboard.util import tensor_util  # noqa: PLC0415
    except ImportError:
        raise ScalingLabError("reading TensorBoard logs needs the tensorboard package: "
                              "pip install 'scalinglab[external]'") from None
    for event in EventFileLoader(str(path)).Load():
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                number = float(value.simple_value)
            elif kind == "tensor":
                array = tensor_util.make_ndarray(value.tensor)
                if array.size != 1 or array.dtype.kind not in "fiu":
                    continue  # text summaries, histograms
                number = float(array.reshape(-1)[0])
            else:
                continue
            yield value.tag, int(event.step), float(event.wall_time), number


def read_tag_series(directory: str | Path, tags: list[str]) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} for ``tags`` from every event file under ``directory``."""
    latest: dict[str, dict[int, tuple[float, float]]] = {tag: {} for tag in tags}
    for path in event_files(directory):
        for tag, step, wall, number in _scalars(path):
            if tag in latest:
                seen = latest[tag].get(step)
                if seen is None or wall >= seen[0]:
                    latest[tag][step] = (wall, number)
    return {tag: {s: v for s, (_, v) in sorted(series.items())}
            for tag, series in latest.items()}


def all_tags(directory: str | Path) -> list[str]:
    """Every scalar tag under ``directory`` (for error messages)."""
    return sorted({tag for path in event_files(directory) for tag, *_ in _scalars(path)})


def read_tensorboard_rows(directory: str | Path, loss_tag: str, tokens_tag: str | None = None,
                          batch_tokens: float | None = None, n_params_tag: str | None = None,
                          flops_tag: str | None = None) -> list[dict]:
    """Metric rows (tokens, loss, step[, n_params, flops]) from the event files of one run."""
    directory = Path(directory)
    if not event_files(directory):
        raise MetricsError(f"no TensorBoard event files ({EVENT_GLOB}) under {str(directory)!r}")
    wanted = [t for t in (loss_tag, tokens_tag, n_params_tag, flops_tag) if t]
    series = read_tag_series(directory, wanted)
    for tag in wanted:
        if not series[tag]:
            known = ", ".join(all_tags(directory)[:12]) or "none"
            raise MetricsError(f"TensorBoard logs under {str(directory)!r} have no scalar tag "
                               f"{tag!r} (tags: {known})")
    if tokens_tag is None and not (batch_tokens and math.isfinite(batch_tokens)):
        raise MetricsError("TensorBoard rows need a tokens tag or batch_tokens (tokens per "
                           "step) to turn steps into tokens")
    rows = []
    for step, loss in series[loss_tag].items():
        tokens = (series[tokens_tag].get(step) if tokens_tag else step * float(batch_tokens))
        if tokens is None:
            raise MetricsError(f"TensorBoard tag {tokens_tag!r} has no value at step {step}, "
                               f"where {loss_tag!r} has one")
        row = {"step": step, "tokens": float(tokens), "loss": loss}
        for name, tag in (("n_params", n_params_tag), ("flops", flops_tag)):
            if tag and step in series[tag]:
                row[name] = series[tag][step]
            elif name == "n_params" and tag and series[tag]:  # a count logged once
                row[name] = next(iter(series[tag].values()))
        rows.append(row)
    return rows
