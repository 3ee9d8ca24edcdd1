"""What one training run is: an explicit :class:`TrainConfig`, and its resolved :class:`RunPlan`.

Size-aware defaults (used when a field is left ``None``), with their sources:

* **learning rate** ``lr = 6e-3 · min(1, (N / 3e5)^(-1/3))``: flat 6e-3 for tiny models, the
  best rate of this project's first CPU experiment (byte-level English, T = 128, ~1k-token
  batches, up to 3e5 non-embedding parameters; 1.2e-2 diverged at 3e5), then falling with
  size as tuned rates do (Porian et al. 2024; GPT-3's hand-tuned rates, Brown et al. 2020,
  Table 2.1, fall with a slope between −0.3 and −0.5 from 125M to 13B).  This rule gives
  9e-4 at 85M and 4e-4 at 1.2B non-embedding parameters, within 2× of GPT-3's 6e-4 and 2e-4.
  A batch rescales it by ``sqrt(batch / B(N))`` with ``B(N)`` the smooth batch rule below
  before its rounding (Adam's square-root rule, Malladi et al. 2022), so at the default batch
  the rate is within 2^(±1/4) of this formula and at a fixed batch it is continuous in N; in
  our ladder test, 256-token batches at 6e-3 gave erratic seeds and at 3e-3 steady ones.
* **batch** ``batch_tokens = 1024`` up to N = 3e5 (the first experiment's best), then
  ``2^round(log2(1024 · sqrt(N / 3e5)))`` up to 2^20, and at least one sequence: small
  models want small batches (Porian et al. 2024), and the useful batch grows with size.
* **warmup** ``max(N tokens, 100 steps)``, at most a quarter of the run: Porian et al. (2024)
  show Kaplan's fixed 3000-step warmup is far too long for small models and use a warmup of
  about N tokens; tiny models still need a few hundred steps to leave the bigram plateau, so at
  least 100 warmup steps.
* **context** 128 tokens (the first experiment's setting), the same for every size of a ladder.

Runs shorter than 1000 optimiser steps are flagged: tiny models sit near the bigram loss for
their first ~250–450 steps, so such a run's loss reflects the step count more than N or D.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.errors import ScalingLabError
from scalinglab.train.schedules import (
    COSINE_FINAL_FRACTION,
    WSD_COOLDOWN_FRACTION,
    Schedule,
)
from scalinglab.train.shape import ModelShape

DEFAULT_SEQ_LEN = 128
DEFAULT_EVALS = 8
DEFAULT_EVAL_TOKENS = 1 << 17
MIN_WARMUP_STEPS = 100
MAX_WARMUP_SHARE = 0.25
SHORT_RUN_STEPS = 1000
LR_ANCHOR, LR_ANCHOR_PARAMS, LR_SLOPE = 6e-3, 3e5, -1.0 / 3.0
BATCH_ANCHOR_TOKENS, BATCH_ANCHOR_PARAMS, MAX_BATCH_TOKENS = 1024, 3e5, 1 << 20

#: Fields that do not change the trajectory (a checkpoint may be resumed with others).
RUN_CONTROL_FIELDS = ("checkpoint_dir", "checkpoint_every", "threads", "peak_flops", "run_id",
                      "sweep", "log_every")


def default_lr(n_params: float, batch_tokens: int | None = None) -> float:
    """Peak AdamW learning rate for N non-embedding parameters (see the module docstring).

    With ``batch_tokens`` the rate follows the square-root scaling rule for Adam (Malladi et
    al. 2022), ``lr ∝ sqrt(batch)``, relative to the *smooth* batch rule
    :func:`reference_batch_tokens` rather than its power-of-two rounding: at a fixed batch the
    rate is then continuous in N (against the rounded default it fell by 1/sqrt(2) wherever
    the default batch doubled, e.g. from 2.5e-3 at N = 5e5 to 1.55e-3 at 7.4e5 with 512-token
    batches, so a ladder's 10x run was trained off its ladder's rule).
    """
    lr = LR_ANCHOR * min(1.0, (n_params / LR_ANCHOR_PARAMS) ** LR_SLOPE)
    if batch_tokens is None:
        return lr
    return lr * math.sqrt(batch_tokens / reference_batch_tokens(n_params))


def reference_batch_tokens(n_params: float) -> float:
    """The smooth batch rule (tokens per step) that :func:`default_batch_tokens` rounds."""
    growth = math.sqrt(max(1.0, n_params / BATCH_ANCHOR_PARAMS))
    return min(float(MAX_BATCH_TOKENS), BATCH_ANCHOR_TOKENS * growth)


def default_batch_tokens(n_params: float, seq_len: int) -> int:
    """Tokens per optimiser step for N non-embedding parameters, a multiple of ``seq_len``."""
    tokens = min(MAX_BATCH_TOKENS, 2 ** round(math.log2(reference_batch_tokens(n_params))))
    return max(1, round(tokens / seq_len)) * seq_len


def default_warmup_steps(n_params: float, batch_tokens: int, total_steps: int) -> int:
    """Warmup steps: about N tokens, at least 100 steps, at most a quarter of the run."""
    steps = max(MIN_WARMUP_STEPS, math.ceil(n_params / batch_tokens))
    return max(1, min(steps, int(MAX_WARMUP_SHARE * total_steps))) if total_steps > 1 else 0


@dataclass
class TrainConfig:
    """Everything that defines one training run.  ``None`` means a size-aware default.

    Units: ``params`` non-embedding parameters (a target for the size ladder), ``tokens``
    training tokens of the main run (D), ``batch_tokens`` / ``micro_batch_tokens`` tokens per
    optimiser step / per forward pass on one process, ``cooldown_at`` and ``eval_at`` training
    token counts, ``lr`` the peak learning rate, ``peak_flops`` the hardware's FLOP/s for MFU.
    ``threads`` sets torch's intra-op threads for the whole process (None: leave as is); on a
    shared or busy CPU prefer 1 thread per process.  ``device`` is auto, cpu or cuda[:i];
    ``compile`` None means torch.compile on CUDA only.
    """

    params: float
    tokens: float
    seq_len: int = DEFAULT_SEQ_LEN
    shape: dict | None = None  # explicit {"n_layer", "d_model", "n_heads"} instead of params
    batch_tokens: int | None = None
    micro_batch_tokens: int | None = None
    lr: float | None = None
    warmup_tokens: float | None = None
    schedule: str = "cosine"
    cosine_final_fraction: float = COSINE_FINAL_FRACTION
    cooldown_fraction: float = WSD_COOLDOWN_FRACTION
    cooldown_at: tuple[float, ...] = ()
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 0
    eval_at: tuple[float, ...] | None = None
    n_evals: int = DEFAULT_EVALS
    eval_tokens: int = DEFAULT_EVAL_TOKENS
    allow_repeat: bool = False
    device: str = "auto"
    compile: bool | None = None
    threads: int | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None
    peak_flops: float | None = None
    run_id: str | None = None
    sweep: str = ""
    log_every: int | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["cooldown_at"] = list(self.cooldown_at)
        data["eval_at"] = None if self.eval_at is None else list(self.eval_at)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["cooldown_at"] = tuple(kwargs.get("cooldown_at") or ())
        if kwargs.get("eval_at") is not None:
            kwargs["eval_at"] = tuple(kwargs["eval_at"])
        return cls(**kwargs)

    def trajectory_fingerprint(self, plan: RunPlan) -> dict:
        """The fields that determine the numbers (a run's key; compared when resuming a
        checkpoint), with the learning rate as ``plan`` resolved it: a run left at the
        size-aware default is known by the rate it trains at, so a change of that rule cannot
        reuse or resume a run trained at another rate, and an explicit rate equal to the
        default names the same run."""
        fields_ = {k: v for k, v in self.to_dict().items() if k not in RUN_CONTROL_FIELDS}
        return {**fields_, "lr": plan.lr}


@dataclass(frozen=True)
class Branch:
    """A WSD cooldown branch: forks from the stable run at ``fork_step``, ends at ``end_step``."""

    fork_step: int
    end_step: int
    schedule: Schedule


@dataclass(frozen=True)
class RunPlan:
    """A config resolved against a corpus and a process count: every number the loop needs."""

    shape: ModelShape
    batch_tokens: int
    batch_sequences: int
    micro_sequences: int  # per process per forward pass
    accumulation_steps: int
    world_size: int
    lr: float
    schedule: Schedule
    branches: tuple[Branch, ...]
    eval_steps: tuple[int, ...]
    eval_sequences: int
    run_id: str
    warnings: tuple[str, ...]

    @property
    def total_steps(self) -> int:
        return self.schedule.total_steps

    @property
    def total_tokens(self) -> int:
        return self.total_steps * self.batch_tokens

    def describe(self) -> str:
        return (f"{self.shape.describe()}; N={self.shape.n_params:,} "
                f"(total {self.shape.n_params_total:,}); {self.total_steps} steps x "
                f"{self.batch_tokens} tokens; lr {self.lr:.3g}; {self.schedule.kind}")


def resolve_plan(config: TrainConfig, corpus: TokenizedCorpus, world_size: int = 1) -> RunPlan:
    """Fill the size-aware defaults and validate the config against the corpus."""
    shape = _shape(config, corpus)
    seq_len = shape.seq_len
    batch_tokens = (default_batch_tokens(shape.n_params, seq_len) if config.batch_tokens is None
                    else _positive_int(config.batch_tokens, "batch_tokens"))
    if batch_tokens % seq_len:
        raise ScalingLabError(f"batch_tokens={batch_tokens} is not a multiple of the context "
                              f"length {seq_len}")
    batch_sequences = batch_tokens // seq_len
    micro_sequences, accumulation = _micro_batches(config, batch_sequences, seq_len, world_size)
    total_steps = _steps_for(config.tokens, batch_tokens, "tokens")
    _check_corpus_size(config, corpus, total_steps * batch_tokens, seq_len)
    warmup_steps = (default_warmup_steps(shape.n_params, batch_tokens, total_steps)
                    if config.warmup_tokens is None
                    else round(float(config.warmup_tokens) / batch_tokens))
    schedule = Schedule(config.schedule, total_steps, warmup_steps,
                        config.cosine_final_fraction, config.cooldown_fraction)
    branches = _branches(config, schedule, batch_tokens)
    lr = (default_lr(shape.n_params, batch_tokens) if config.lr is None
          else float(config.lr))
    if not (math.isfinite(lr) and lr > 0):
        raise ScalingLabError(f"learning rate must be a finite number > 0, got {config.lr!r}")
    if config.checkpoint_every is not None and (not config.checkpoint_dir
                                                or int(config.checkpoint_every) < 1):
        raise ScalingLabError("checkpoint_every needs a checkpoint folder (checkpoint_dir) and "
                              f"a step count >= 1, got {config.checkpoint_every!r}")
    eval_sequences = max(1, int(config.eval_tokens) // seq_len)
    if (corpus.val_tokens - 1) // seq_len < 1:
        raise ScalingLabError(f"corpus {corpus.name!r}: the validation split "
                              f"({corpus.val_tokens} tokens) is shorter than one context")
    warnings = []
    if total_steps < SHORT_RUN_STEPS:
        warnings.append(f"only {total_steps} optimiser steps: tiny models stay near the bigram "
                        f"loss for their first few hundred steps, so this run's loss may "
                        f"reflect the step count more than N or D")
    run_id = config.run_id or (f"gpt-N{shape.n_params}-D{total_steps * batch_tokens}-"
                               f"{config.schedule}-s{config.seed}")
    return RunPlan(shape, batch_tokens, batch_sequences, micro_sequences, accumulation,
                   world_size, lr, schedule, branches,
                   _eval_steps(config, total_steps, batch_tokens), eval_sequences, run_id,
                   tuple(warnings))


# --------------------------------------------------------------------------- helpers
def _positive_int(value: float, name: str) -> int:
    if isinstance(value, bool) or not math.isfinite(float(value)) or float(value) < 1 or \
            float(value) != int(value):
        raise ScalingLabError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _shape(config: TrainConfig, corpus: TokenizedCorpus) -> ModelShape:
    seq_len = _positive_int(config.seq_len, "seq_len")
    if config.shape:
        try:
            return ModelShape(int(config.shape["n_layer"]), int(config.shape["d_model"]),
                              int(config.shape["n_heads"]), corpus.vocab_size, seq_len)
        except KeyError as exc:
            raise ScalingLabError(f"explicit shape misses {exc.args[0]!r}") from None
    return ModelShape.for_params(config.params, corpus.vocab_size, seq_len)


def _steps_for(tokens: float, batch_tokens: int, name: str) -> int:
    tokens = float(tokens)
    if not math.isfinite(tokens) or tokens < batch_tokens:
        raise ScalingLabError(f"{name}={tokens:.6g} must be at least one batch "
                              f"({batch_tokens} tokens)")
    return max(1, round(tokens / batch_tokens))


def _micro_batches(config: TrainConfig, batch_sequences: int, seq_len: int,
                   world_size: int) -> tuple[int, int]:
    if batch_sequences % world_size:
        raise ScalingLabError(f"a batch of {batch_sequences} sequences cannot be split evenly "
                              f"over {world_size} processes")
    per_process = batch_sequences // world_size
    if config.micro_batch_tokens is None:
        return per_process, 1
    micro = _positive_int(config.micro_batch_tokens, "micro_batch_tokens")
    if micro % seq_len or per_process % (micro // seq_len):
        raise ScalingLabError(
            f"micro_batch_tokens={micro} must be a multiple of the context ({seq_len}) that "
            f"divides the per-process batch ({per_process * seq_len} tokens)")
    return micro // seq_len, per_process // (micro // seq_len)


def _check_corpus_size(config: TrainConfig, corpus: TokenizedCorpus, tokens: int,
                       seq_len: int) -> None:
    if corpus.vocab_size < 2:
        raise ScalingLabError(f"corpus {corpus.name!r} has vocab_size {corpus.vocab_size}")
    available = corpus.tokens_available(seq_len)
    if available < seq_len:
        raise ScalingLabError(f"corpus {corpus.name!r}: the training split ({corpus.train_tokens} "
                              f"tokens) is shorter than one context of {seq_len + 1} tokens")
    if tokens > available and not config.allow_repeat:
        raise ScalingLabError(
            f"{tokens:,} training tokens exceed the {available:,} that corpus {corpus.name!r} "
            f"holds without repeating; train fewer tokens or allow repeats (--allow-repeat)")


def _branches(config: TrainConfig, schedule: Schedule, batch_tokens: int) -> tuple[Branch, ...]:
    if not config.cooldown_at:
        return ()
    if schedule.kind != "wsd":
        raise ScalingLabError("cooldown branches (cooldown_at) need the 'wsd' schedule")
    ends = sorted({_steps_for(d, batch_tokens, "cooldown_at") for d in config.cooldown_at})
    branches = []
    for end in ends:
        if end > schedule.total_steps:
            raise ScalingLabError(f"cooldown at {end * batch_tokens:,} tokens lies beyond the "
                                  f"run's {schedule.total_steps * batch_tokens:,} tokens")
        if end == schedule.total_steps:
            continue  # the main run's own cooldown
        branch_schedule = schedule.with_total(end)
        branches.append(Branch(branch_schedule.cooldown_start, end, branch_schedule))
    return tuple(branches)


def _eval_steps(config: TrainConfig, total_steps: int, batch_tokens: int) -> tuple[int, ...]:
    if config.eval_at is not None:
        steps = {_steps_for(d, batch_tokens, "eval_at") for d in config.eval_at}
        beyond = [s for s in steps if s > total_steps]
        if beyond:
            raise ScalingLabError(f"evaluation at {beyond[0] * batch_tokens:,} tokens lies beyond "
                                  f"the run's {total_steps * batch_tokens:,} tokens")
    else:
        count = max(1, int(config.n_evals))
        first = max(1, total_steps // 32)
        grid = [round(first * (total_steps / first) ** (i / max(1, count - 1)))
                for i in range(count)]
        steps = set(grid)
    steps.add(total_steps)
    return tuple(sorted(steps))
