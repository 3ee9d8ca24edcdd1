"""The results contract: metric rows (one per evaluation) -> checked :class:`RunRecord` rows.

A trainer (or an old log) gives rows with at least ``tokens`` (training tokens seen) and
``loss`` (held-out cross-entropy, nats/token); ``step``, ``flops``, ``n_params``, ``final``,
``lr`` and ``wall_seconds`` are optional.  :func:`rows_to_records` checks them -- tokens
strictly increasing, every loss finite and > 0, a final row -- and warns of implausible
losses (a loss above 1.3 ln V nats/token for a vocabulary of V tokens, i.e. worse than
guessing uniformly, is more likely in bits; above 25 nats/token, a percentage).

What the rows do not say comes from a :class:`RunInfo`: the plan's size and shape for a run
of a sweep (written next to the run's logs as ``scalinglab_run.json``), or the user's mapping
for imported logs.  The sweep and the importers share this one conversion, so importing a
sweep's logs gives exactly the rows its store holds.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.records import RunRecord

#: the file a sweep writes in each run directory: who owns it and what was planned
RUN_INFO_FILE = "scalinglab_run.json"
#: above this a loss is implausible in nats/token for any vocabulary (ln 4.8e8 < 20)
MAX_PLAUSIBLE_NATS = 25.0
#: a loss above this multiple of ln(V) is worse than uniform guessing: likely bits/token
BITS_SUSPICION_RATIO = 1.3
#: the last row counts as the run's end when it reaches this share of the planned tokens
FINAL_TOKEN_SHARE = 0.999


class MetricsError(ScalingLabError):
    """Metric rows that break the results contract (the run fails with this reason)."""


@dataclass
class RunInfo:
    """What is known of a run besides its metric rows (units as in :class:`RunRecord`).

    ``flops_per_token``: training FLOPs per token of the planned shape (used for C when the
    rows give none and the size is the plan's); ``planned_tokens``: D of the main schedule.
    """

    run_id: str
    n_params: float | None = None
    sweep: str = ""
    n_params_total: float = float("nan")
    flops_per_token: float | None = None
    planned_tokens: float | None = None
    lr: float = float("nan")
    batch_tokens: float = float("nan")
    seq_len: float = float("nan")
    vocab_size: float = float("nan")
    corpus: str = ""
    tokenizer: str = ""
    seed: int = 0
    schedule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_run_info(run_dir: str | Path) -> dict[str, Any] | None:
    """The ``scalinglab_run.json`` of a run directory (None if absent)."""
    path = Path(run_dir) / RUN_INFO_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise ScalingLabError(f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise ScalingLabError(f"{str(path)!r} is not a JSON object")
    return data


def _number(row: dict, name: str, where: str) -> float | None:
    if name not in row or row[name] is None:
        return None
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricsError(f"{where}: {name} is {value!r}, not a number")
    return float(value)


def _checked_rows(rows: list[dict], source: str) -> list[tuple[float, float, dict]]:
    """(tokens, loss, row) for each row, or MetricsError naming the first bad row."""
    if not rows:
        raise MetricsError(f"{source} holds no metric rows")
    out: list[tuple[float, float, dict]] = []
    for index, row in enumerate(rows, start=1):
        where = f"{source} row {index}"
        tokens, loss = _number(row, "tokens", where), _number(row, "loss", where)
        if tokens is None or loss is None:
            missing = " and ".join(n for n in ("tokens", "loss") if row.get(n) is None)
            raise MetricsError(f"{where} has no {missing} (the contract needs tokens and loss)")
        if not math.isfinite(loss):
            raise MetricsError(f"{where}: loss is {loss} (not finite) at {tokens:.0f} tokens")
        if loss <= 0:
            raise MetricsError(f"{where}: loss is {loss}, not a cross-entropy > 0 nats/token")
        if not (math.isfinite(tokens) and tokens > 0):
            raise MetricsError(f"{where}: tokens is {tokens}, not a count > 0")
        if out and tokens <= out[-1][0]:
            raise MetricsError(f"{where}: tokens {tokens:.0f} do not increase (previous row "
                               f"{out[-1][0]:.0f})")
        out.append((tokens, loss, row))
    return out


def _final_flags(checked: list[tuple[float, float, dict]], info: RunInfo,
                 source: str) -> list[bool]:
    if any("final" in row for _, _, row in checked):
        flags = [bool(row.get("final", False)) for _, _, row in checked]
        if not any(flags):
            raise MetricsError(f"{source} has no final row (every row says final: false)")
        return flags
    last = checked[-1][0]
    planned = info.planned_tokens
    if planned is not None and last < FINAL_TOKEN_SHARE * planned:
        raise MetricsError(f"{source} has no final row: the last row is at {last:.0f} of "
                           f"{planned:.0f} planned tokens (did the run end early?)")
    return [False] * (len(checked) - 1) + [True]


def plausibility_warnings(losses: list[float], vocab_size: float, source: str) -> list[str]:
    """Warnings for losses unlikely to be nats/token (bits, percentages)."""
    worst = max(losses)
    if worst > MAX_PLAUSIBLE_NATS:
        return [f"{source}: loss {worst:g} is implausible in nats/token (a percentage? an "
                f"accuracy?); the contract wants held-out cross-entropy in nats/token"]
    if math.isfinite(vocab_size) and vocab_size > 1:
        uniform = math.log(vocab_size)
        if worst > BITS_SUSPICION_RATIO * uniform:
            return [f"{source}: loss {worst:.3g} exceeds {BITS_SUSPICION_RATIO:g} x ln(V) = "
                    f"{BITS_SUSPICION_RATIO * uniform:.3g} nats/token for V = "
                    f"{vocab_size:.0f} (worse than guessing): is it in bits? the contract "
                    f"wants nats/token"]
    return []


def rows_to_records(rows: list[dict], info: RunInfo,
                    source: str = "metrics") -> tuple[list[RunRecord], list[str]]:
    """Checked records of one run and warnings; MetricsError when the rows break the contract.

    N: the row's ``n_params`` (the trainer's own count) if given, else ``info.n_params``.
    C: the row's ``flops``; else the planned shape's exact ``flops_per_token × tokens`` (the
    trainer trains that shape; its own N may count biases or norms differently); else 6ND.
    """
    checked = _checked_rows(rows, source)
    finals = _final_flags(checked, info, source)
    records = []
    for (tokens, loss, row), final in zip(checked, finals, strict=True):
        where = f"{source} row {len(records) + 1}"
        reported = _number(row, "n_params", where)
        n_params = reported if reported is not None else info.n_params
        if n_params is None or not n_params > 0:
            raise MetricsError(f"{where}: no model size (n_params) in the row or the plan")
        flops = _number(row, "flops", where)
        if flops is None:  # the planned shape's exact count, else Kaplan's C = 6ND
            flops = (info.flops_per_token * tokens if info.flops_per_token
                     else 6.0 * n_params * tokens)
        lr = _number(row, "lr", where)
        wall = _number(row, "wall_seconds", where)
        records.append(RunRecord(
            run_id=info.run_id, n_params=float(n_params), tokens=tokens, flops=float(flops),
            loss=loss, sweep=info.sweep, n_params_total=info.n_params_total, final=final,
            lr=info.lr if lr is None else lr, batch_tokens=info.batch_tokens,
            seq_len=info.seq_len, vocab_size=info.vocab_size, corpus=info.corpus,
            tokenizer=info.tokenizer, seed=info.seed, schedule=info.schedule,
            wall_seconds=float("nan") if wall is None else wall))
    return records, plausibility_warnings([r.loss for r in records], info.vocab_size, source)
