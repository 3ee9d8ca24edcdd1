"""A synthetic language whose entropy rate is known exactly: the ground truth for a fitted E.

The source is a stationary order-``k`` Markov chain over ``V`` tokens with a *log-linear
back-off* next-token distribution (the form that trained well in the first experiment recorded
in issue 4)::

    logit(x | c_k … c_1) = -a · log(x + 1)                      Zipfian unigram term
                           + Σ_j  s_j · W_j[c_j, x]              one term per lag j = 1 … k
                           + s_int · Z[c_k, …, c_1, x]           a full-context interaction

where ``c_1`` is the most recent token, ``W_j`` and ``Z`` hold standard normal entries drawn
from ``seed``.  Token ids are frequency ranks of the unigram term, so frequencies are roughly
Zipfian (power-law), and the lag terms are shared by every context with the same token at that
lag: structure that a model can learn at several scales (Hutter 2021, "Learning curve theory";
Michaud et al. 2023, "The quantization model of neural scaling").

Exact quantities (all in nats/token):

* the stationary distribution ``μ`` of the k-gram state, by power iteration to machine precision;
* the entropy rate ``h = Σ_s μ(s) H(P(·|s))`` (Cover & Thomas, *Elements of Information
  Theory*, 2nd ed., Thm 4.2.4);
* ``E_T = best_possible_loss(T)``, the lowest mean next-token loss of *any* model that sees
  ``T`` input tokens of a window drawn at stationarity.  The ``i``-th of the ``T`` predictions
  sees ``i`` tokens (GPT convention: inputs ``x_0 … x_{T-1}``, targets ``x_1 … x_T``), so the
  first ``k - 1`` predictions have less than a full context and ``E_T > h``;
* the exact expected loss of a given model, ``E_T + mean KL(P ‖ Q)`` over validation contexts,
  which removes the noise of sampling the validation tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scalinglab.errors import ScalingLabError

# Defaults from the first experiment recorded in issue 4 (V=64, Zipf exponent 1.2, scales
# 1.5 / 1.0 / 1.0 for the previous token, the token before, and the interaction term).
DEFAULT_VOCAB_SIZE = 64
DEFAULT_ORDER = 2
DEFAULT_ZIPF_EXPONENT = 1.2
DEFAULT_LAG_SCALES = (1.5, 1.0)
DEFAULT_INTERACTION_SCALE = 1.0

# The full next-token table has V^(k+1) float64 entries, held about four times over while the
# language is built; 2^24 entries is ~128 MiB per copy.
MAX_TABLE_ENTRIES = 2**24
_POWER_ITERATION_TOL = 1e-15  # L1 change of μ between iterations
_POWER_ITERATION_MAX = 100_000


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters that define a :class:`SyntheticLanguage` (the language, not a sample of it)."""

    vocab_size: int = DEFAULT_VOCAB_SIZE
    order: int = DEFAULT_ORDER
    zipf_exponent: float = DEFAULT_ZIPF_EXPONENT
    lag_scales: tuple[float, ...] | None = None  # one per lag; None: defaults padded with 1.0
    interaction_scale: float = DEFAULT_INTERACTION_SCALE
    seed: int = 0

    def resolved_lag_scales(self) -> tuple[float, ...]:
        if self.lag_scales is not None:
            return tuple(float(s) for s in self.lag_scales)
        padded = DEFAULT_LAG_SCALES + (1.0,) * max(0, self.order - len(DEFAULT_LAG_SCALES))
        return padded[: self.order]

    def validate(self) -> None:
        if int(self.vocab_size) != self.vocab_size or self.vocab_size < 2:
            raise ScalingLabError(f"synthetic vocab_size must be an integer >= 2, "
                                  f"got {self.vocab_size!r}")
        if int(self.order) != self.order or self.order < 1:
            raise ScalingLabError(f"synthetic order must be an integer >= 1, got {self.order!r}")
        entries = float(self.vocab_size) ** (self.order + 1)
        if entries > MAX_TABLE_ENTRIES:
            raise ScalingLabError(
                f"synthetic language too large: vocab_size^(order+1) = {entries:.3g} table "
                f"entries (limit {MAX_TABLE_ENTRIES:.3g}); lower vocab_size or order")
        if len(self.resolved_lag_scales()) != self.order:
            raise ScalingLabError(f"synthetic lag_scales needs {self.order} values (one per "
                                  f"lag), got {len(self.resolved_lag_scales())}")
        numbers = (self.zipf_exponent, self.interaction_scale, *self.resolved_lag_scales())
        if not all(math.isfinite(float(v)) for v in numbers):
            raise ScalingLabError("synthetic zipf_exponent and scales must be finite numbers")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["lag_scales"] = list(self.resolved_lag_scales())
        return out


@dataclass
class ExactEvaluation:
    """A model's loss on windows of the synthetic language, exact and sampled (nats/token)."""

    exact_loss: float  # E_T + mean KL(P ‖ Q): the expected loss, free of sampling noise
    mean_kl: float  # mean over positions of KL(true next-token distribution ‖ model)
    best_possible_loss: float  # E_T for these windows' length
    window_entropy: float  # mean H(P) over these particular contexts (≈ E_T)
    sampled_loss: float | None  # mean -log Q(target), when targets were given
    positions: int


@dataclass
class SyntheticLanguage:
    """The Zipfian log-linear order-k Markov language; see the module docstring."""

    config: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        self.config.validate()
        self.vocab_size = int(self.config.vocab_size)
        self.order = int(self.config.order)
        self.n_states = self.vocab_size**self.order
        log_probs = _log_softmax(self._logits())
        self.next_token_probs = np.exp(log_probs)  # shape (V,)*k + (V,), axis 0 = oldest
        self.next_token_log_probs = log_probs
        self.stationary = _stationary_distribution(self.next_token_probs)  # shape (V,)*k
        self._context_entropies = self._exact_context_entropies()
        self._short_context_probs = self._short_context_tables()
        self._cdf_rows: np.ndarray | None = None

    @classmethod
    def from_options(cls, **options) -> SyntheticLanguage:
        """Build from keyword options (``vocab_size``, ``order``, ``zipf_exponent``, ...)."""
        return cls(SyntheticConfig(**options))

    # ---- construction -------------------------------------------------------------------
    def _logits(self) -> np.ndarray:
        cfg, vocab, order = self.config, self.vocab_size, self.order
        rng = np.random.default_rng(np.random.SeedSequence([int(cfg.seed), 0x5CA1E]))
        shape = (vocab,) * order + (vocab,)
        ranks = np.arange(1, vocab + 1, dtype=np.float64)
        logits = np.broadcast_to(-float(cfg.zipf_exponent) * np.log(ranks), shape).copy()
        for lag, scale in enumerate(cfg.resolved_lag_scales(), start=1):
            table = rng.standard_normal((vocab, vocab))  # [token at this lag, next token]
            axis = order - lag  # context axis of this lag (axis order-1 = most recent)
            view_shape = [1] * (order + 1)
            view_shape[axis], view_shape[-1] = vocab, vocab
            logits += scale * table.reshape(view_shape)
        if cfg.interaction_scale != 0.0:
            logits += float(cfg.interaction_scale) * rng.standard_normal(shape)
        return logits

    def _exact_context_entropies(self) -> np.ndarray:
        """``c[m]`` = H(X_next | m previous tokens) at stationarity, for m = 0 … k (nats)."""
        entropies = np.empty(self.order + 1)
        block = [0.0] + [_entropy(self.marginal(m)) for m in range(1, self.order + 1)]
        for m in range(self.order):
            entropies[m] = block[m + 1] - block[m]
        entropies[self.order] = self.entropy_rate()
        return entropies

    def _short_context_tables(self) -> list[np.ndarray]:
        """``P(x | last m tokens)`` for m = 1 … k-1, from stationary m-gram marginals."""
        tables = []
        for m in range(1, self.order):
            joint = self.marginal(m + 1)
            tables.append(joint / joint.sum(axis=-1, keepdims=True))
        return tables

    # ---- exact quantities ---------------------------------------------------------------
    def marginal(self, m: int) -> np.ndarray:
        """Stationary distribution of ``m`` consecutive tokens (m ≤ order), shape (V,)*m."""
        if not 0 <= m <= self.order:
            raise ScalingLabError(f"marginal order must be in [0, {self.order}], got {m}")
        return self.stationary.sum(axis=tuple(range(self.order - m)))

    def unigram(self) -> np.ndarray:
        """Stationary token frequencies, shape (V,)."""
        return self.marginal(1)

    def entropy_rate(self) -> float:
        """Exact entropy rate h = Σ_s μ(s) H(P(·|s)) in nats/token."""
        conditional = -(self.next_token_probs * self.next_token_log_probs).sum(axis=-1)
        return float((self.stationary * conditional).sum())

    def context_entropies(self, max_context: int) -> np.ndarray:
        """H(X_next | m previous tokens) for m = 0 … max_context, nats/token (m ≥ k gives h)."""
        m = np.minimum(np.arange(max_context + 1), self.order)
        return self._context_entropies[m]

    def best_possible_loss(self, seq_len: int) -> float:
        """E_T: the lowest mean loss (nats/token) of a model with context ``seq_len``.

        Windows start at stationarity and the ``i``-th of the ``seq_len`` predictions sees ``i``
        tokens, so E_T = (1/T) Σ_{i=1..T} H(X_next | i previous tokens) ≥ h.
        """
        if int(seq_len) != seq_len or seq_len < 1:
            raise ScalingLabError(f"seq_len must be an integer >= 1, got {seq_len!r}")
        return float(self.context_entropies(int(seq_len))[1:].mean())

    # ---- the true conditional distributions and exact evaluation ------------------------
    def conditional_probs(self, inputs: np.ndarray) -> np.ndarray:
        """True next-token distributions for windows ``inputs`` of shape (B, T).

        Entry ``[b, i]`` is P(x | inputs[b, :i+1]), shape (B, T, V), float64.
        """
        windows = self._check_windows(inputs)
        batch, length = windows.shape
        vocab, order = self.vocab_size, self.order
        out = np.empty((batch, length, vocab))
        for i in range(min(order - 1, length)):  # predictions with fewer than k tokens
            table = self._short_context_probs[i]
            out[:, i] = table[tuple(windows[:, j] for j in range(i + 1))]
        if length >= order:
            powers = vocab ** np.arange(order - 1, -1, -1, dtype=np.int64)
            states = sliding_window_view(windows, order, axis=1) @ powers  # (B, T-k+1)
            flat = self.next_token_probs.reshape(self.n_states, vocab)
            out[:, order - 1:] = flat[states]
        return out

    def evaluate(self, inputs: np.ndarray, model_log_probs: np.ndarray,
                 targets: np.ndarray | None = None) -> ExactEvaluation:
        """Exact expected loss of a model on windows ``inputs`` (B, T).

        ``model_log_probs`` (B, T, V) are the model's natural-log next-token probabilities.
        Returns E_T + mean KL(P ‖ Q) beside the sampled cross-entropy on ``targets``.
        """
        true_probs = self.conditional_probs(inputs)
        model_log_probs = np.asarray(model_log_probs, dtype=np.float64)
        if model_log_probs.shape != true_probs.shape:
            raise ScalingLabError(f"model_log_probs must have shape {true_probs.shape}, "
                                  f"got {model_log_probs.shape}")
        with np.errstate(divide="ignore"):
            true_log = np.log(true_probs)
        kl = (true_probs * (true_log - model_log_probs)).sum(axis=-1)
        entropy = -(true_probs * true_log).sum(axis=-1)
        best = self.best_possible_loss(true_probs.shape[1])
        sampled = None
        if targets is not None:
            targets = self._check_windows(targets)
            picked = np.take_along_axis(model_log_probs, targets[..., None], axis=-1)
            sampled = float(-picked.mean())
        return ExactEvaluation(exact_loss=best + float(kl.mean()), mean_kl=float(kl.mean()),
                               best_possible_loss=best, window_entropy=float(entropy.mean()),
                               sampled_loss=sampled, positions=int(kl.size))

    def _check_windows(self, windows: np.ndarray) -> np.ndarray:
        arr = np.asarray(windows)
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise ScalingLabError(f"windows must have shape (batch, seq_len), got {arr.shape}")
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ScalingLabError(f"token ids must be in [0, {self.vocab_size})")
        return arr

    # ---- generation ---------------------------------------------------------------------
    def sample(self, length: int, n_chains: int = 1, seed: int = 0, stream: int = 0
               ) -> np.ndarray:
        """``n_chains`` independent stationary chains of ``length`` tokens, shape (n, length).

        Vectorised across chains (one inverse-CDF lookup per step for all chains) and
        deterministic for a given ``seed`` and ``stream`` (use different streams for train and
        validation).  dtype uint16 (uint32 if V > 65536).
        """
        if length < 1 or n_chains < 1:
            raise ScalingLabError(f"sample needs length >= 1 and n_chains >= 1, "
                                  f"got {length}, {n_chains}")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), 0xDA7A]))
        vocab, order = self.vocab_size, self.order
        dtype = np.uint16 if vocab <= 2**16 else np.uint32
        out = np.empty((n_chains, length), dtype=dtype)
        start = _inverse_cdf(np.cumsum(self.stationary.ravel()), rng.random(n_chains))
        state = start.astype(np.int64)
        prefix = min(order, length)
        for i in range(prefix):  # the initial k-gram, oldest token first
            out[:, i] = (state // vocab ** (order - 1 - i)) % vocab
        cdf = self._cdf_table()
        offsets = np.arange(self.n_states, dtype=np.float64)
        chunk = 4096
        for begin in range(prefix, length, chunk):
            stop = min(length, begin + chunk)
            uniforms = rng.random((stop - begin, n_chains))
            for step, u in zip(range(begin, stop), uniforms, strict=True):
                rows = np.searchsorted(cdf, offsets[state] + u, side="right")
                token = np.minimum(rows - state * vocab, vocab - 1)
                out[:, step] = token
                state = (state * vocab) % self.n_states + token
        return out

    def _cdf_table(self) -> np.ndarray:
        """Flattened per-state CDFs, row s shifted by s so one searchsorted serves all rows."""
        if self._cdf_rows is None:
            flat = self.next_token_probs.reshape(self.n_states, self.vocab_size)
            cdf = np.cumsum(flat, axis=1)
            cdf /= cdf[:, -1:]
            self._cdf_rows = (cdf + np.arange(self.n_states)[:, None]).ravel()
        return self._cdf_rows

    def describe(self, seq_lens: tuple[int, ...] = (16, 64, 256)) -> dict:
        """Config and exact entropies (nats/token) as a plain dict."""
        return {
            "config": self.config.to_dict(),
            "entropy_rate": self.entropy_rate(),
            "unigram_entropy": float(self._context_entropies[0]),
            "best_possible_loss": {int(t): self.best_possible_loss(t) for t in seq_lens},
        }


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _entropy(probs: np.ndarray) -> float:
    p = probs[probs > 0]
    return float(-(p * np.log(p)).sum())


def _stationary_distribution(next_token_probs: np.ndarray) -> np.ndarray:
    """Stationary law of the k-gram state by power iteration (all transitions are positive,
    so the chain is ergodic and the iteration converges geometrically)."""
    order = next_token_probs.ndim - 1
    vocab = next_token_probs.shape[-1]
    mu = np.full((vocab,) * order, 1.0 / vocab**order)
    for _ in range(_POWER_ITERATION_MAX):
        # μ'(c_2 … c_k, x) = Σ_{c_1} μ(c_1 … c_k) P(x | c_1 … c_k)
        new = (mu[..., None] * next_token_probs).sum(axis=0)
        new /= new.sum()
        change = np.abs(new - mu).sum()
        mu = new
        if change < _POWER_ITERATION_TOL:
            return mu
    raise ScalingLabError("stationary distribution did not converge; the language's scales "
                          "are too extreme (lower zipf_exponent or the scales)")


def _inverse_cdf(cdf: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    index = np.searchsorted(cdf / cdf[-1], uniforms, side="right")
    return np.minimum(index, len(cdf) - 1)


ZipfMarkovLanguage = SyntheticLanguage  # the name used in DESIGN.md
