"""A small task suite on held-out text that tiny models can learn, with known chance levels.

Two multiple-choice tasks, built from the validation split of a tokenized corpus (text the
model never trains on) and scored by the model's likelihood, as the lm-evaluation-harness
scores HellaSwag (Zellers et al. 2019): the option with the highest summed log-probability
given the context wins.

* ``continuation``: a context of ``context_tokens`` held-out tokens, then the true next
  ``option_tokens`` tokens against ``n_options - 1`` distractor spans of the same length drawn
  from elsewhere in the held-out text.  Chance = 1 / n_options (0.25 by default).
* ``cloze``: the same kind of context, then the true next token (a word or word piece) against
  distractor tokens drawn from the held-out text at random positions (so they follow the
  corpus's own token frequencies).  Chance = 1 / n_options.

Each evaluation returns ``acc_<task>`` (fraction) and ``task_loss_<task>`` (mean negative
log-likelihood of the correct option, nats per token).  Items are fixed by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scalinglab.errors import ScalingLabError

#: items per task: the continuation task reads 200 x 4 x 40 tokens, the cloze task 200 x 32
#: (its options share one forward pass): about 30% of one default validation pass (2^17 tokens;
#: measured on KJV, README).  The binomial sd of an accuracy near 0.5 over 200 items is 0.035
DEFAULT_ITEMS = 200
DEFAULT_OPTIONS = 4
DEFAULT_CONTEXT = 32
DEFAULT_OPTION_TOKENS = 8


@dataclass(frozen=True)
class ChoiceTask:
    """Multiple-choice items: contexts (items, c), options (items, k, m), answers (items,)."""

    name: str
    contexts: np.ndarray
    options: np.ndarray
    answers: np.ndarray

    @property
    def chance(self) -> float:
        """Chance accuracy: 1 / number of options."""
        return 1.0 / self.options.shape[1]


def build_suite(val_tokens: np.ndarray, seq_len: int, *, n_items: int = DEFAULT_ITEMS,
                n_options: int = DEFAULT_OPTIONS, context_tokens: int = DEFAULT_CONTEXT,
                option_tokens: int = DEFAULT_OPTION_TOKENS, seed: int = 0) -> list[ChoiceTask]:
    """The two tasks (continuation, cloze) from held-out token ids; deterministic in ``seed``."""
    tokens = np.asarray(val_tokens, dtype=np.int64)
    context_tokens = min(context_tokens, seq_len - option_tokens)
    if context_tokens < 1 or n_options < 2 or n_items < 1:
        raise ScalingLabError(f"task suite needs seq_len > {option_tokens} tokens, >= 2 options "
                              f"and >= 1 item; got seq_len {seq_len}")
    span = context_tokens + option_tokens
    if len(tokens) < 4 * span:
        raise ScalingLabError(f"held-out text of {len(tokens)} tokens is too short for a task "
                              f"suite (need {4 * span})")
    rng = np.random.default_rng(seed)
    return [_continuation(tokens, rng, n_items, n_options, context_tokens, option_tokens),
            _cloze(tokens, rng, n_items, n_options, context_tokens)]


def _continuation(tokens, rng, n_items, n_options, ctx, m) -> ChoiceTask:
    starts = rng.integers(0, len(tokens) - ctx - m, n_items)
    contexts = tokens[starts[:, None] + np.arange(ctx)]
    true = tokens[starts[:, None] + ctx + np.arange(m)]
    options = np.empty((n_items, n_options, m), dtype=np.int64)
    answers = rng.integers(0, n_options, n_items)
    for i in range(n_items):
        others = _far_positions(rng, starts[i], len(tokens) - m, n_options - 1, ctx + m)
        spans = tokens[others[:, None] + np.arange(m)]
        options[i] = np.insert(spans, answers[i], true[i], axis=0)
    return ChoiceTask("continuation", contexts, options, answers)


def _cloze(tokens, rng, n_items, n_options, ctx) -> ChoiceTask:
    starts = rng.integers(0, len(tokens) - ctx - 1, n_items)
    contexts = tokens[starts[:, None] + np.arange(ctx)]
    true = tokens[starts + ctx]
    options = np.empty((n_items, n_options, 1), dtype=np.int64)
    answers = rng.integers(0, n_options, n_items)
    for i in range(n_items):
        picks: list[int] = []
        while len(picks) < n_options - 1:         # distinct tokens, none equal to the answer
            t = int(tokens[rng.integers(0, len(tokens))])
            if t != true[i] and t not in picks:
                picks.append(t)
        options[i, :, 0] = np.insert(np.array(picks), answers[i], true[i])
    return ChoiceTask("cloze", contexts, options, answers)


def _far_positions(rng, avoid: int, limit: int, count: int, gap: int) -> np.ndarray:
    """``count`` start positions in [0, limit) at least ``gap`` tokens from ``avoid``."""
    out: list[int] = []
    while len(out) < count:
        p = int(rng.integers(0, limit))
        if abs(p - avoid) >= gap:
            out.append(p)
    return np.array(out, dtype=np.int64)


@torch.no_grad()
def option_logprobs(model: torch.nn.Module, task: ChoiceTask, device: torch.device,
                    batch: int = 256) -> np.ndarray:
    """Summed log-probability (nats) of every option given its context: (items, options)."""
    items, k, m = task.options.shape
    ctx = task.contexts.shape[1]
    if m == 1:                                  # one-token options share one forward pass
        return _next_token_logprobs(model, task, device, batch)
    seqs = np.concatenate([np.repeat(task.contexts[:, None, :], k, axis=1), task.options],
                          axis=2).reshape(items * k, ctx + m)
    out = np.empty(items * k)
    for start in range(0, len(seqs), batch):
        chunk = torch.as_tensor(seqs[start:start + batch], device=device)
        logits, _ = model(chunk[:, :-1])
        logp = F.log_softmax(logits[:, ctx - 1:].float(), dim=-1)
        picked = logp.gather(-1, chunk[:, ctx:, None]).squeeze(-1)
        out[start:start + len(chunk)] = picked.sum(dim=1).double().cpu().numpy()
    return out.reshape(items, k)


def _next_token_logprobs(model, task: ChoiceTask, device, batch: int) -> np.ndarray:
    out = np.empty(task.options.shape[:2])
    for start in range(0, len(task.contexts), batch):
        chunk = torch.as_tensor(task.contexts[start:start + batch], device=device)
        logits, _ = model(chunk)
        logp = F.log_softmax(logits[:, -1].float(), dim=-1)
        opts = torch.as_tensor(task.options[start:start + batch, :, 0], device=device)
        out[start:start + len(chunk)] = logp.gather(-1, opts).double().cpu().numpy()
    return out


def evaluate_suite(model: torch.nn.Module, suite: list[ChoiceTask],
                   device: torch.device) -> dict[str, float]:
    """``acc_<task>`` (fraction) and ``task_loss_<task>`` (nats/token) of every task."""
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    for task in suite:
        scores = option_logprobs(model, task, device)
        rows = np.arange(len(task.answers))
        out[f"acc_{task.name}"] = float(np.mean(np.argmax(scores, axis=1) == task.answers))
        m = task.options.shape[2]
        out[f"task_loss_{task.name}"] = float(-np.mean(scores[rows, task.answers]) / m)
    if was_training:
        model.train()
    return out
