"""Guards on a fit's input: nonsense stopped before fitting, implausible units flagged.

Stopped (one-line :class:`~scalinglab.errors.FitError`, exit status 2 on the command line):

* a **flat table**: losses that vary by less than ``FLAT_LOSS_SPREAD`` (relative) carry no
  scaling to fit -- the fit returns any law through one constant (``E 3 [3, 3]``);
* a **fixed E above the data**: E is the loss no run can beat, so a fixed E at or above the
  lowest loss in the table contradicts the table itself.

Warned (each a :class:`~scalinglab.fit.guards.Guard` with action ``warn`` in the fit result):

* N whose median is below ``MIN_PLAUSIBLE_PARAMS`` (given in millions or billions?);
* tokens per parameter (median over rows) outside ``PLAUSIBLE_TOKENS_PER_PARAM`` (N or D in
  other units: the frontier of such a fit reported 6.1e7 tokens per parameter);
* a compute column that is a constant factor away from 6ND by more than
  ``COMPUTE_RATIO_LIMIT`` (a unit or convention mismatch; exact FLOP counts differ from 6ND by
  a factor that changes with N, and are left alone);
* losses above ln(vocabulary) where the table gives ``vocab_size`` (worse than uniform
  guessing: bits, percent or perplexity?), or above ``MAX_PLAUSIBLE_LOSS`` without it;
* runs of several tokenizers (``tokenizer`` names or ``vocab_size`` values) in one fit: a
  token covers a different amount of text under each, so their losses per token are not on
  one scale (GPT-NeoX's and GPT-2's tokenizers on the same Pile models, the downstream-dev
  README);
* losses measured on several evaluation sets (``eval_set`` values, or our own records'
  ``corpus``) in one fit: each set has its own irreducible loss, so one E cannot serve them
  (datablations' C4 and OSCAR runs, the scaling-dev README);
* runs of several architectures (``arch`` values) in one fit: each architecture scales with
  its own coefficients (Kaplan et al. 2020, Fig. 7: LSTMs against transformers), so a pooled
  fit's slope mixes them (the downstream-dev Pile models: GPT, Mamba and Mamba-2);
* runs that repeat their data more than ``MAX_UNIQUE_EPOCHS`` times (``tokens`` over
  ``unique_tokens``) fitted by a law without unique data U: repeated tokens are worth less
  than fresh ones, so the law reads them as more data than they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.errors import FitError
from scalinglab.fit.guards import Guard, data_range, degenerate_guard

#: Losses whose max/min - 1 is below this carry no scaling signal: the run-to-run scatter floor
#: of the run interval (``fit.intervals.MIN_SCATTER``, 0.1% in log loss) -- losses are rarely
#: reproducible to better than that, so a smaller spread is noise, not a law.
FLAT_LOSS_SPREAD = 1e-3
#: A table whose median N is below this many parameters is more likely in millions/billions:
#: Kaplan et al. 2020's smallest model has 768 non-embedding parameters.
MIN_PLAUSIBLE_PARAMS = 1e3
#: Median tokens per parameter outside this range suggests N or D in other units.  The
#: development library spans 7.9e-5 (gzip_pcfg's earliest checkpoints) to 6.4e4 (datablations'
#: many-epoch runs) per row, with medians between about 1 and 1e3.
PLAUSIBLE_TOKENS_PER_PARAM = (1e-2, 1e5)
#: A compute column more than this factor from 6ND on every row (a constant factor) is flagged.
#: Exact counts exceed 6ND by 1.2-4.7x on Pythia's and Cerebras-GPT's small models
#: (../shared/data/scaling-dev), but by a factor that falls with N; a unit slip is constant.
COMPUTE_RATIO_LIMIT = 2.0
#: The ratio counts as constant when its max/min over rows is below this.
CONSTANT_RATIO_SPREAD = 1.05
#: Epochs over the unique data beyond which repetition is flagged for a law that assumes fresh
#: tokens: Muennighoff et al. 2023 ("Scaling Data-Constrained Language Models", Sec. 5) find
#: up to about 4 epochs nearly as good as unique data, and the value of a repeated token
#: falling quickly beyond.
MAX_UNIQUE_EPOCHS = 4.0
#: Without a vocabulary: a uniform guess over a million tokens costs ln(1e6) = 13.8 nats/token,
#: more than any tokenizer in use; a final loss above it is not a cross-entropy in nats/token.
MAX_PLAUSIBLE_LOSS = float(np.log(1e6))


def check_table(frame: pd.DataFrame, n_column: str, E_fixed: float | None,
                variables: tuple[str, ...] = ()) -> list[Guard]:
    """Stop nonsense fits (raises :class:`FitError`); return warnings on implausible units.

    ``variables``: the law's inputs (a law with unique tokens ``U`` models repetition)."""
    loss = frame["loss"].to_numpy(dtype=float)
    _check_flat(loss)
    _check_fixed_E(loss, E_fixed)
    guards: list[Guard] = []
    N = _column(frame, n_column)
    D = _column(frame, "tokens")
    if N is not None:
        guards += _params_guard(N, n_column)
    if N is not None and D is not None:
        guards += _tokens_per_param_guard(D / N)
        C = _column(frame, "flops")
        if C is not None:
            guards += _compute_guard(C / (6.0 * N * D))
    guards += _loss_guard(frame, loss)
    guards += _mixed_label_guards(frame)
    if N is not None and D is not None and "U" not in variables:
        guards += _repetition_guard(frame, D)
    return guards


def _column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in frame.columns:
        return None
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values) & (values > 0)
    return values if ok.all() and values.size else None


def _check_flat(loss: np.ndarray) -> None:
    spread = float(loss.max() / loss.min() - 1.0)
    if spread < FLAT_LOSS_SPREAD:
        raise FitError(f"the losses are flat: they vary by {spread:.2%} across the table "
                       f"({loss.min():.6g}-{loss.max():.6g} nats/token), less than the "
                       f"{FLAT_LOSS_SPREAD:.1%} a law needs to be fitted; there is no scaling "
                       f"in this table to fit (check the loss column)")


def _check_fixed_E(loss: np.ndarray, E_fixed: float | None) -> None:
    if E_fixed is not None and E_fixed >= float(loss.min()):
        raise FitError(f"fixed E = {E_fixed:g} nats/token is at or above the lowest loss in "
                       f"the table ({loss.min():.4g}): E is the loss no run can beat, so it "
                       f"must lie below every loss; give a smaller E_fixed or leave E free")


def _params_guard(N: np.ndarray, n_column: str) -> list[Guard]:
    median = float(np.median(N))
    if median >= MIN_PLAUSIBLE_PARAMS:
        return []
    return [Guard("units", "N", median, "parameters", MIN_PLAUSIBLE_PARAMS, "warn",
                  f"N ({n_column}) has median {median:.3g} (largest {float(N.max()):.3g}): "
                  f"fewer than {MIN_PLAUSIBLE_PARAMS:g} parameters -- is N given in millions "
                  f"or billions? The law needs parameters (e.g. 7e7, not 70)")]


def _tokens_per_param_guard(ratio: np.ndarray) -> list[Guard]:
    median = float(np.median(ratio))
    lo, hi = PLAUSIBLE_TOKENS_PER_PARAM
    if lo <= median <= hi:
        return []
    return [Guard("units", "D/N", median, "tokens per parameter", lo if median < lo else hi,
                  "warn",
                  f"the median run has {median:.3g} tokens per parameter, outside the "
                  f"plausible {lo:g}-{hi:g}: is N or D given in other units (millions, "
                  f"billions)? The frontier and every allocation inherit the error")]


def _compute_guard(ratio: np.ndarray) -> list[Guard]:
    median = float(np.median(ratio))
    constant = float(ratio.max() / ratio.min()) < CONSTANT_RATIO_SPREAD
    if not constant or 1 / COMPUTE_RATIO_LIMIT <= median <= COMPUTE_RATIO_LIMIT:
        return []
    return [Guard("units", "C", median, "ratio to 6ND", COMPUTE_RATIO_LIMIT, "warn",
                  f"the flops column (C) is {median:.3g}x 6*N*D on every row (limit "
                  f"{COMPUTE_RATIO_LIMIT:g}x either way): a constant factor points to a unit or "
                  f"convention mismatch in N, D or C; the law uses N and D (C = 6ND), the "
                  f"column only places calibration cuts")]


def _loss_guard(frame: pd.DataFrame, loss: np.ndarray) -> list[Guard]:
    highest = float(np.max(loss))
    vocab = _column(frame, "vocab_size")
    if vocab is not None:
        limit = float(np.log(np.max(vocab)))
        what = f"ln(vocabulary {int(np.max(vocab))}) = {limit:.3g}, uniform guessing"
    else:
        limit, what = MAX_PLAUSIBLE_LOSS, (f"{MAX_PLAUSIBLE_LOSS:.3g} (uniform guessing over "
                                           f"a million tokens)")
    median = float(np.median(loss))
    if median <= limit:
        return []
    return [Guard("units", "loss", median, "nats/token", limit, "warn",
                  f"the median loss {median:.4g} (highest {highest:.4g}) is above {what}: is "
                  f"the loss in bits, percent or perplexity? The law needs cross-entropy in "
                  f"nats/token")]


def _distinct_labels(frame: pd.DataFrame, column: str) -> pd.Series:
    """Rows per label of ``column`` (empty labels and names starting "unknown" say nothing)."""
    if column not in frame.columns:
        return pd.Series(dtype=int)
    values = frame[column].dropna().astype(str).str.strip()
    values = values[(values != "") & ~values.str.lower().str.startswith("unknown")]
    return values.value_counts()


def _listed(counts: pd.Series, most: int = 4) -> str:
    shown = ", ".join(f"{name} ({n} rows)" for name, n in counts.iloc[:most].items())
    return shown + (f" and {len(counts) - most} more" if len(counts) > most else "")


#: Label columns whose several values in one fit make its losses incomparable: (guard name,
#: the columns looked at in order, what the values are, why and what to do).
MIXED_LABELS = (
    ("units", ("tokenizer", "vocab_size"), "{column}s",
     "losses per token of different tokenizers are not on one scale; fit each tokenizer's "
     "runs apart, or compare bits per byte"),
    ("eval_sets", ("eval_set", "corpus"), "{column} values",
     "losses of different evaluation sets or protocols are not on one scale (each set has its "
     "own irreducible loss); fit each {column} apart unless they are the same data"),
    ("architectures", ("arch",), "architectures",
     "each architecture scales with its own coefficients, so a law fitted to them together "
     "mixes their slopes; fit each architecture apart"),
)


def _mixed_label_guards(frame: pd.DataFrame) -> list[Guard]:
    """One warning per kind of label (tokenizer, evaluation set, architecture) of which the
    fitted rows hold several values: the first column of the kind that does."""
    guards = []
    for name, columns, what, why in MIXED_LABELS:
        for column in columns:
            counts = _distinct_labels(frame, column)
            if len(counts) > 1:
                unit = what.format(column=column)
                guards.append(Guard(name, "loss", float(len(counts)), unit, 1.0, "warn",
                                    f"the fitted rows hold {len(counts)} {unit} "
                                    f"({_listed(counts)}): {why.format(column=column)}"))
                break
    return guards


def _repetition_guard(frame: pd.DataFrame, D: np.ndarray) -> list[Guard]:
    """Warn when runs repeat their unique data more than ``MAX_UNIQUE_EPOCHS`` times."""
    if "unique_tokens" not in frame.columns:
        return []
    unique = pd.to_numeric(frame["unique_tokens"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(unique) & (unique > 0)
    epochs = np.where(known, D / np.where(known, unique, 1.0), 1.0)
    repeated = epochs > MAX_UNIQUE_EPOCHS
    if not repeated.any():
        return []
    runs = frame["run_id"][repeated].nunique() if "run_id" in frame.columns else \
        int(repeated.sum())
    return [Guard("repetition", "D", float(epochs.max()), "epochs", MAX_UNIQUE_EPOCHS, "warn",
                  f"{runs} fitted run(s) repeat their unique data more than "
                  f"{MAX_UNIQUE_EPOCHS:g} times (up to {float(epochs.max()):.3g} epochs; "
                  f"tokens / unique_tokens): repeated tokens are worth less than fresh ones, "
                  f"and this law counts them as fresh; fit law='data_constrained' (it uses "
                  f"unique_tokens) or leave those runs out")]


def attach_fit_guards(result, frame: pd.DataFrame, n_column: str,
                      table_guards: list[Guard]) -> None:
    """Record the fitted data's range and the fit's guards on ``result`` (in place).

    ``result.diagnostics["data_range"]``: N (from ``n_column``), D, C = 6ND (the flops column
    when N or D is missing) and D/N of the fitted rows -- whatever the law itself uses, so a
    reduced law still knows the line it was fitted along.  Warnings join ``result.warnings``.
    """
    inputs = {}
    for key, column in (("N", n_column), ("D", "tokens"), ("C", "flops")):
        values = _column(frame, column)
        if values is not None:
            inputs[key] = values
    result.diagnostics["data_range"] = data_range(inputs)
    result.guards = list(table_guards) + degenerate_guard(result.law.params)
    result.warnings = [g.message for g in table_guards if g.action == "warn"] + result.warnings
