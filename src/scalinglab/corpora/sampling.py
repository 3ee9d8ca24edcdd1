"""Training windows without replacement within an epoch, epochs counted, and the repeat check.

An epoch is one pass over non-overlapping windows of ``seq_len + 1`` tokens (inputs and their
shifted targets) in a seeded random order; every later epoch shifts the window grid by a seeded
random offset so windows differ between epochs.  Data repetition matters for scaling laws
(Muennighoff et al. 2023, "Scaling data-constrained language models": repeated tokens are worth
less than fresh ones), so going beyond one epoch is refused unless ``allow_repeat`` is set, and
then it warns and counts the epochs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from scalinglab.errors import ScalingLabError


class DataRepeatError(ScalingLabError):
    """A token budget that would repeat the training data without ``allow_repeat``."""


class RepeatedDataWarning(UserWarning):
    """Training repeats the data (more than one epoch)."""


def epochs_for_budget(train_tokens: int, budget_tokens: float) -> float:
    """How many passes over ``train_tokens`` a budget of ``budget_tokens`` takes."""
    if train_tokens <= 0:
        raise ScalingLabError("the training split holds no tokens")
    if not budget_tokens > 0:
        raise ScalingLabError(f"token budget must be > 0, got {budget_tokens!r}")
    return float(budget_tokens) / float(train_tokens)


def check_token_budget(train_tokens: int, budget_tokens: float, *, allow_repeat: bool = False,
                       corpus_name: str = "corpus") -> float:
    """Epochs the budget needs; raises :class:`DataRepeatError` beyond one epoch unless
    ``allow_repeat`` (then warns with :class:`RepeatedDataWarning`)."""
    epochs = epochs_for_budget(train_tokens, budget_tokens)
    if epochs > 1.0:
        message = (f"{corpus_name} holds {train_tokens:.4g} training tokens; {budget_tokens:.4g} "
                   f"tokens is {epochs:.3g} epochs")
        if not allow_repeat:
            raise DataRepeatError(f"{message}: the data would repeat (pass allow_repeat / "
                                  "--allow-repeat to accept repeated epochs, or lower the tokens)")
        warnings.warn(f"{message}: training on repeated data", RepeatedDataWarning, stacklevel=2)
    return epochs


@dataclass
class WindowBatch:
    """One batch: ``inputs`` and ``targets`` (B, T) int64, and where the sampler stands."""

    inputs: np.ndarray
    targets: np.ndarray
    epoch: int  # epoch of the last window in the batch (0-based)
    epochs_seen: float  # windows served so far / windows per epoch


class WindowSampler:
    """Batches of windows drawn without replacement within an epoch; deterministic by seed.

    With ``world_size > 1`` each rank gets its own slice of a global batch of
    ``batch_size * world_size`` windows (data-parallel sharding).  ``state_dict`` /
    ``load_state_dict`` resume exactly where a run stopped.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, *, seed: int = 0,
                 allow_repeat: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if seq_len < 1 or batch_size < 1:
            raise ScalingLabError(f"seq_len and batch_size must be >= 1, got {seq_len}, "
                                  f"{batch_size}")
        if not 0 <= rank < world_size:
            raise ScalingLabError(f"rank {rank} is not in [0, world_size={world_size})")
        if len(tokens) < seq_len + 1:
            raise ScalingLabError(f"the training split has {len(tokens)} tokens, fewer than one "
                                  f"window of seq_len + 1 = {seq_len + 1}")
        self.tokens = tokens
        self.seq_len = int(seq_len)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.allow_repeat = allow_repeat
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self.position = 0  # windows of the current epoch already served
        self.windows_served = 0
        self._starts = self._epoch_starts(0)
        self.windows_per_epoch = len(self._starts)
        self._offsets = np.arange(self.seq_len + 1)

    @property
    def tokens_per_epoch(self) -> int:
        """Target tokens in one pass (windows × seq_len)."""
        return self.windows_per_epoch * self.seq_len

    @property
    def epochs_seen(self) -> float:
        return self.windows_served / self.windows_per_epoch

    def _epoch_starts(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, 0x3A4D]))
        max_offset = min(self.seq_len - 1, len(self.tokens) - 1 - self.seq_len)
        offset = 0 if epoch == 0 else int(rng.integers(0, max_offset + 1))
        count = (len(self.tokens) - 1 - offset) // self.seq_len
        return offset + self.seq_len * rng.permutation(count).astype(np.int64)

    def _next_starts(self, count: int) -> np.ndarray:
        chosen = []
        while count > 0:
            if self.position >= len(self._starts):
                if not self.allow_repeat:
                    raise DataRepeatError(
                        f"training data exhausted after 1 epoch ({self.windows_per_epoch} "
                        f"windows of {self.seq_len} tokens); pass allow_repeat / "
                        "--allow-repeat to repeat it")
                if self.epoch == 0:
                    warnings.warn("training data repeats: starting epoch 2",
                                  RepeatedDataWarning, stacklevel=3)
                self.epoch += 1
                self.position = 0
                self._starts = self._epoch_starts(self.epoch)
            take = min(count, len(self._starts) - self.position)
            chosen.append(self._starts[self.position:self.position + take])
            self.position += take
            self.windows_served += take
            count -= take
        return np.concatenate(chosen)

    def next_batch(self) -> WindowBatch:
        """The next ``batch_size`` windows for this rank."""
        starts = self._next_starts(self.batch_size * self.world_size)
        starts = starts[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        windows = np.asarray(self.tokens[starts[:, None] + self._offsets], dtype=np.int64)
        return WindowBatch(inputs=windows[:, :-1], targets=windows[:, 1:], epoch=self.epoch,
                           epochs_seen=self.epochs_seen)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position,
                "windows_served": self.windows_served, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if int(state["seed"]) != self.seed:
            raise ScalingLabError(f"sampler state is for seed {state['seed']}, not {self.seed}")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.windows_served = int(state["windows_served"])
        self._starts = self._epoch_starts(self.epoch)


def validation_windows(tokens: np.ndarray, seq_len: int, max_windows: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, non-overlapping validation windows: (inputs, targets), each (n, seq_len) int64.

    All windows from the start of ``tokens``, or ``max_windows`` of them evenly spaced."""
    count = (len(tokens) - 1) // seq_len
    if count < 1:
        raise ScalingLabError(f"the validation split has {len(tokens)} tokens, fewer than one "
                              f"window of seq_len + 1 = {seq_len + 1}")
    index = np.arange(count)
    if max_windows is not None and max_windows < count:
        index = np.linspace(0, count - 1, max_windows).round().astype(np.int64)
    starts = index * seq_len
    windows = np.asarray(tokens[starts[:, None] + np.arange(seq_len + 1)], dtype=np.int64)
    return windows[:, :-1], windows[:, 1:]
