"""External trainers: run each planned run with the user's own training command or function.

A trainer is a command template (``python train.py --n_layer {n_layer} ... --out {run_dir}``)
or a Python callable ``module:function`` (called in a child process with a dict of the same
values).  Every run gets its own directory ``{run_dir}`` (``<sweep>/runs/<run name>`` or
``--runs-dir``); the trainer writes its evaluations there as ``metrics.jsonl`` (JSON lines
with ``tokens`` and ``loss`` in nats/token) or as TensorBoard events (``tb_loss`` names the
tag).  While it runs the rows are tailed for progress; when it exits they are checked against
the results contract (:mod:`scalinglab.importers.rows`) and become the run's records.

Failures -- a non-zero exit, a timeout, missing or malformed metrics -- fail the attempt with
the reason; the tail of the trainer's stderr is kept in the store.  Resume: a run directory
holding an earlier attempt is continued with ``{resume}`` = 1 when the template uses
``{resume}`` (the trainer loads its own latest checkpoint from ``{run_dir}``); otherwise it is
emptied and the run starts from scratch.  The trainer runs in its own process group and dies
with its worker (``PR_SET_PDEATHSIG`` on Linux), so a killed sweep leaves no orphans.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import re
import shlex
import shutil
import string
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.importers.jsonl import METRICS_FILE
from scalinglab.importers.rows import RUN_INFO_FILE, RunInfo

#: Placeholders of a trainer template and what they expand to (units as in RunRecord).
PLACEHOLDERS: dict[str, str] = {
    "run_id": "the run's name in the plan, e.g. N36288-D2457600-wsd-s0",
    "run_dir": "the run's own directory: write metrics.jsonl (or TensorBoard logs) and "
               "checkpoints there",
    "metrics": "the metrics file to write, {run_dir}/metrics.jsonl",
    "n_params": "planned non-embedding parameters N",
    "n_params_total": "planned parameters with embeddings",
    "tokens": "training tokens D of the main schedule",
    "steps": "optimiser steps, tokens / batch_tokens",
    "flops": "planned training FLOPs, cooldown branches included",
    "n_layer": "layers", "d_model": "model width", "n_head": "attention heads",
    "seq_len": "context length, tokens", "vocab_size": "vocabulary size of the plan's tokenizer",
    "batch_tokens": "tokens per optimiser step", "lr": "peak learning rate",
    "warmup_tokens": "linear warmup length, tokens",
    "schedule": "learning-rate schedule: wsd or cosine",
    "cooldown_fraction": "share of a WSD run (or branch) spent cooling down",
    "cooldown_tokens": "comma-separated token counts where WSD cooldown branches fork (empty "
                       "if none); each branch ends with a final evaluation",
    "eval_tokens": "held-out tokens per evaluation", "seed": "random seed",
    "corpus": "the plan's corpus", "tokenizer": "the plan's tokenizer",
    "resume": "1 when the run directory holds an earlier attempt (continue from your own "
              "checkpoint there if you have one), else 0",
}
CALLABLE_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: how much of a failed trainer's stderr the store keeps
STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 4000
#: seconds a trainer gets to exit after SIGTERM / SIGINT before it is killed
KILL_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover -- not Linux
    _LIBC = None


@dataclass
class ExternalTrainer:
    """How to run an external trainer.  ``timeout``: seconds per attempt (None: no limit).

    ``tb_loss`` switches the metrics to TensorBoard events (the held-out loss tag);
    ``tb_tokens`` / ``tb_n_params`` optional tags (tokens default to step × batch_tokens).
    ``runs_dir``: where run directories go (default ``<sweep>/runs``); on a cluster a path all
    nodes share.  ``poll_seconds``: how often the driver tails the metrics for progress.
    """

    command: str
    timeout: float | None = None
    tb_loss: str | None = None
    tb_tokens: str | None = None
    tb_n_params: str | None = None
    runs_dir: str | None = None
    poll_seconds: float = 1.0
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.command, str) or not self.command.strip():
            raise ScalingLabError("the trainer command is empty")
        if self.timeout is not None and not self.timeout > 0:
            raise ScalingLabError(f"--run-timeout must be > 0 seconds, got {self.timeout}")
        self.placeholders()  # unknown placeholders fail here, before anything runs

    @property
    def is_callable(self) -> bool:
        return bool(CALLABLE_PATTERN.match(self.command.strip()))

    @property
    def resumable(self) -> bool:
        return "resume" in self.placeholders()

    def tokens(self) -> list[str]:
        if self.is_callable:
            return [self.command.strip()]
        try:
            parts = shlex.split(self.command)
        except ValueError as exc:
            raise ScalingLabError(f"cannot parse the trainer command: {exc}") from None
        if not parts:
            raise ScalingLabError("the trainer command is empty")
        return parts

    def placeholders(self) -> set[str]:
        """Placeholder names used by the template (ScalingLabError for an unknown one)."""
        used: set[str] = set()
        for part in ([] if self.is_callable else self.tokens()):
            try:
                parsed = list(string.Formatter().parse(part))
            except ValueError as exc:
                raise ScalingLabError(f"trainer template: {exc} in {part!r}") from None
            for _, name, _, _ in parsed:
                if name is None:
                    continue
                if name not in PLACEHOLDERS:
                    raise ScalingLabError(f"unknown placeholder {{{name}}} in the trainer "
                                          f"template; known: "
                                          f"{', '.join(sorted(PLACEHOLDERS))}")
                used.add(name)
        return used

    def argv(self, values: dict[str, Any]) -> list[str]:
        """The command line of one attempt (each token formatted, no shell)."""
        if self.is_callable:
            return [sys.executable, "-m", "scalinglab.sweep.call_trainer", self.command.strip(),
                    json.dumps(values)]
        try:
            return [part.format(**values) for part in self.tokens()]
        except (ValueError, KeyError) as exc:
            raise ScalingLabError(f"trainer template: cannot format it: {exc}") from None

    def check_found(self) -> None:
        """One-line error if the trainer program, script or module does not exist."""
        if self.is_callable:
            module = self.command.strip().split(":")[0]
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ScalingLabError(f"trainer module {module!r} not found (is it on "
                                      f"PYTHONPATH or in the current directory?)")
            return
        parts = self.tokens()
        program = parts[0]
        if "{" in program:
            return
        if os.sep in program:
            if not (Path(program).is_file() and os.access(program, os.X_OK)):
                raise ScalingLabError(f"trainer program {program!r} not found or not "
                                      f"executable")
        elif shutil.which(program) is None:
            raise ScalingLabError(f"trainer program {program!r} not found on PATH")
        if Path(program).name.startswith("python"):
            script = next((p for p in parts[1:] if not p.startswith("-")), None)
            if script and script.endswith(".py") and "{" not in script \
                    and not Path(script).is_file():
                raise ScalingLabError(f"trainer script {script!r} not found")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "trainer") -> ExternalTrainer:
        if not isinstance(data, dict):
            raise ScalingLabError(f"{where} must be a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScalingLabError(f"unknown {where} setting(s): {', '.join(unknown)}; known: "
                                  f"{', '.join(sorted(known))}")
        if "command" not in data:
            raise ScalingLabError(f"{where} needs a command")
        return cls(**data)


def load_trainer_toml(path: str | Path) -> ExternalTrainer | None:
    """The ``[trainer]`` table of a sweep config file (None when it has none)."""
    import tomllib  # noqa: PLC0415

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # the sweep config reader reports these
    table = data.get("trainer")
    return None if table is None else ExternalTrainer.from_dict(table, f"[trainer] of {path}")


# ------------------------------------------------------------------------------ driver side
def plan_values(run, run_dir: Path, corpus: str, tokenizer: str) -> dict[str, Any]:
    """Placeholder values of a stored run (``run``: :class:`~scalinglab.sweep.StoredRun`)."""
    from scalinglab.train.config import default_lr, default_warmup_steps  # noqa: PLC0415
    from scalinglab.train.shape import ModelShape  # noqa: PLC0415

    config = run.config
    shape = ModelShape.from_dict(run.meta["shape"])
    batch = int(config["batch_tokens"])
    tokens = int(config["tokens"])
    steps = max(1, round(tokens / batch))
    lr = config.get("lr") or default_lr(shape.n_params, batch)
    warmup = config.get("warmup_tokens")
    if warmup is None:
        warmup = default_warmup_steps(shape.n_params, batch, steps) * batch
    return {"run_id": run.name, "run_dir": str(run_dir),
            "metrics": str(run_dir / METRICS_FILE), "n_params": shape.n_params,
            "n_params_total": shape.n_params_total, "tokens": tokens, "steps": steps,
            "flops": float(run.planned_flops), "n_layer": shape.n_layer,
            "d_model": shape.d_model, "n_head": shape.n_heads, "seq_len": shape.seq_len,
            "vocab_size": shape.vocab_size, "batch_tokens": batch, "lr": float(lr),
            "warmup_tokens": int(warmup), "schedule": config.get("schedule", "cosine"),
            "cooldown_fraction": float(config.get("cooldown_fraction", 0.2)),
            "cooldown_tokens": ",".join(str(int(t)) for t in config.get("cooldown_at", ())),
            "eval_tokens": int(config.get("eval_tokens", 0)), "seed": int(config["seed"]),
            "corpus": corpus, "tokenizer": tokenizer, "resume": 0}


def plan_info(run, values: dict[str, Any]) -> RunInfo:
    """What the plan says of a run, for the columns its metric rows do not give."""
    from scalinglab.train.shape import ModelShape  # noqa: PLC0415

    shape = ModelShape.from_dict(run.meta["shape"])
    return RunInfo(run_id=run.name, n_params=float(shape.n_params),
                   sweep=run.config.get("sweep", ""), n_params_total=float(shape.n_params_total),
                   flops_per_token=shape.flops_per_token(), planned_tokens=float(values["tokens"]),
                   lr=values["lr"], batch_tokens=float(values["batch_tokens"]),
                   seq_len=float(shape.seq_len), vocab_size=float(shape.vocab_size),
                   corpus=values["corpus"], tokenizer=values["tokenizer"], seed=values["seed"],
                   schedule=values["schedule"])


def _owner(sweep_dir: Path, key: str) -> dict[str, str]:
    return {"sweep_dir": os.path.realpath(sweep_dir), "key": key}


def check_run_dir(run_dir: Path, sweep_dir: Path, key: str) -> None:
    """One-line error when ``run_dir`` belongs to another sweep or another run."""
    from scalinglab.importers.rows import read_run_info  # noqa: PLC0415

    data = read_run_info(run_dir)
    if data is None:
        return
    owner = data.get("owner", {})
    if owner != _owner(sweep_dir, key):
        raise ScalingLabError(f"run directory {str(run_dir)!r} belongs to another sweep "
                              f"({owner.get('sweep_dir', '?')}, run {owner.get('key', '?')}); "
                              f"give this sweep its own --runs-dir")


def claim_run_dir(run_dir: Path, sweep_dir: Path, key: str, values: dict, info: RunInfo) -> None:
    """Write ``scalinglab_run.json`` (owner, plan values, run info) into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"owner": _owner(sweep_dir, key), "info": info.to_dict(),
                       "values": values}, indent=1, sort_keys=True)
    temporary = run_dir / (RUN_INFO_FILE + ".tmp")
    temporary.write_text(text)
    temporary.replace(run_dir / RUN_INFO_FILE)


def claim_runs(runs: list, trainer: ExternalTrainer, sweep_dir: Path, corpus: str,
               tokenizer: str) -> list[tuple[str, dict[str, Any]]]:
    """(run directory, worker payload) of each run; checks every directory before claiming
    any, so a refusal leaves everything as it was."""
    trainer.check_found()
    base = Path(trainer.runs_dir) if trainer.runs_dir else Path(sweep_dir) / "runs"
    prepared = []
    for run in runs:
        run_dir = (base / run.name).absolute()
        check_run_dir(run_dir, Path(sweep_dir), run.key)
        values = plan_values(run, run_dir, corpus, tokenizer)
        prepared.append((run, run_dir, values, plan_info(run, values)))
    claimed = []
    for run, run_dir, values, info in prepared:
        claim_run_dir(run_dir, Path(sweep_dir), run.key, values, info)
        claimed.append((str(run_dir), {"spec": trainer.to_dict(), "values": values,
                                       "info": info.to_dict()}))
    return claimed
