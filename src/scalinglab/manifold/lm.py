"""Intrinsic dimension of a sweep's language models, beside 4/alpha from its fitted law.

A sweep or demo results directory holds ``store.sqlite`` and, per run, the final checkpoint
``checkpoints/<key>/checkpoint.pt`` (the main run's state at its last step).  For each done run
with a checkpoint this module rebuilds the GPT (its shape from the config fingerprint stored
in the checkpoint and the corpus), feeds windows of the corpus's *validation* split, takes
the final-layer activations (the normalised residual stream, the input of the output layer,
d_model numbers per token) at one seeded random position in the second half of each window
(so every sampled token has at least seq_len/2 tokens of context), and estimates their
intrinsic dimension (:func:`.intrinsic_dimension`).

The exponents come from the sweep's Approach-3 Chinchilla fit, L = E + A/N^alpha + B/D^beta
(``fit_approach3.json`` when the demo wrote one, otherwise refitted from the store's records):
alpha_N = alpha, alpha_D = beta.  Kaplan et al. 2020 (arXiv:2001.08361) published
alpha_N = 0.076 (4/alpha = 52.6) and alpha_D = 0.095 (42.1).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.manifold.intrinsic import IDResult, ManifoldError, intrinsic_dimension
from scalinglab.manifold.theory import (
    KAPLAN_ALPHA_D,
    KAPLAN_ALPHA_N,
    DimensionPoint,
    theory_dimension,
)

STORE_FILE = "store.sqlite"


@dataclass
class LMRunID:
    """One run's final-layer intrinsic dimension.  ``n_params`` non-embedding parameters,
    ``tokens`` training tokens, ``loss`` its final held-out loss (nats/token)."""

    key: str
    name: str
    role: str
    n_params: float
    tokens: float
    loss: float
    d_model: int
    id: IDResult

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "role": self.role,
                "n_params": self.n_params, "tokens": self.tokens, "loss": self.loss,
                "d_model": self.d_model, "id": self.id.to_dict()}


@dataclass
class LMManifoldResult:
    """Per-run IDs and the sweep's exponents with their 4/alpha (intervals at ``level``)."""

    directory: str
    runs: list[LMRunID]
    alpha_N: tuple[float, float, float]   # (value, low, high); NaN when the fit failed
    alpha_D: tuple[float, float, float]
    fit_source: str
    level: float
    settings: dict[str, Any]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def family_run(self) -> LMRunID:
        """The run that stands for the family: the largest model (ties: most tokens)."""
        return max(self.runs, key=lambda r: (r.n_params, r.tokens))

    def points(self) -> list[DimensionPoint]:
        """The family's two points for the figure: its largest model's ID against alpha_N and
        against alpha_D."""
        best = self.family_run()
        out = []
        for name, (a, lo, hi) in (("alpha_N", self.alpha_N), ("alpha_D", self.alpha_D)):
            if np.isfinite(a):
                out.append(DimensionPoint(label=f"LM sweep ({name})", family=f"LM ({name})",
                                          dimension=best.id.dimension, dim_low=best.id.low,
                                          dim_high=best.id.high, alpha=a, alpha_low=lo,
                                          alpha_high=hi))
        return out

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.runs:
            rows.append({"run": r.name, "n_params": r.n_params, "tokens": r.tokens,
                         "loss": r.loss, "id": r.id.dimension, "id_low": r.id.low,
                         "id_high": r.id.high, "four_over_id": theory_dimension(r.id.dimension)})
        return rows

    def comparison(self) -> list[dict[str, Any]]:
        """4/alpha from this sweep and from Kaplan 2020, beside the measured ID."""
        rows = []
        for source, name, (a, lo, hi) in (
                ("this sweep", "alpha_N", self.alpha_N), ("this sweep", "alpha_D", self.alpha_D),
                ("Kaplan 2020", "alpha_N", (KAPLAN_ALPHA_N,) * 3),
                ("Kaplan 2020", "alpha_D", (KAPLAN_ALPHA_D,) * 3)):
            rows.append({"source": source, "exponent": name, "alpha": a, "alpha_low": lo,
                         "alpha_high": hi, "four_over_alpha": theory_dimension(a),
                         "four_over_alpha_low": theory_dimension(hi),
                         "four_over_alpha_high": theory_dimension(lo)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": "lm", "directory": self.directory,
                "runs": [r.to_dict() for r in self.runs], "table": self.table(),
                "comparison": self.comparison(),
                "points": [p.to_dict() for p in self.points()],
                "fit_source": self.fit_source, "level": self.level, "settings": self.settings,
                "seconds": self.seconds, "warnings": self.warnings}


def _open_store(directory: Path):
    from scalinglab.sweep.store import SQLiteRunStore  # noqa: PLC0415

    if not directory.is_dir():
        raise ManifoldError(f"results directory {str(directory)!r} does not exist")
    if not (directory / STORE_FILE).is_file():
        raise ManifoldError(f"{str(directory)!r} has no run store ({STORE_FILE}); pass a sweep "
                            f"or demo results directory")
    return SQLiteRunStore(directory)


def _corpus_source(store, corpus: str | None, tokenizer: str | None) -> tuple[str, str]:
    spec = store.get_meta("spec") or (store.get_meta("config") or {}).get("spec") or {}
    source = corpus or spec.get("corpus")
    if source is None:
        raise ManifoldError("the store does not say which corpus its runs trained on; pass "
                            "--corpus (and --tokenizer)")
    return source, tokenizer or spec.get("tokenizer") or "byte"


def _checkpoint(directory: Path, run) -> Path | None:
    candidates = [directory / "checkpoints" / run.key / "checkpoint.pt"]
    if run.checkpoint_dir:
        candidates.append(Path(run.checkpoint_dir) / "checkpoint.pt")
    return next((p for p in candidates if p.is_file()), None)


def load_model(path: Path, corpus) -> tuple[torch.nn.Module, Any]:
    """The GPT of a checkpoint (eval mode, CPU) and its resolved plan."""
    from scalinglab.train.checkpoint import read_checkpoint_file  # noqa: PLC0415
    from scalinglab.train.config import TrainConfig, resolve_plan  # noqa: PLC0415
    from scalinglab.train.model import GPT  # noqa: PLC0415

    payload = read_checkpoint_file(path)  # verified; a one-line error if corrupt
    state, fingerprint = payload["model"], payload["fingerprint"]
    plan = resolve_plan(TrainConfig.from_dict(dict(fingerprint)), corpus)
    padded = int(state["token_embedding.weight"].shape[0])
    model = GPT(plan.shape, padded_vocab=padded)
    model.load_state_dict(state)
    return model.eval(), plan


@torch.no_grad()
def final_layer_activations(model, tokens: np.ndarray, seq_len: int, n_positions: int,
                            seed: int = 0, batch: int = 64) -> np.ndarray:
    """(n, d_model) activations after the final LayerNorm at sampled validation positions."""
    from scalinglab.train.data import TokenWindows  # noqa: PLC0415

    windows = TokenWindows(tokens, seq_len, seed=0)
    rng = np.random.default_rng(seed)
    count = min(n_positions, windows.n_windows)
    ids = np.sort(rng.choice(windows.n_windows, count, replace=False))
    where = rng.integers(seq_len // 2, seq_len, size=count)
    captured: list[torch.Tensor] = []
    hook = model.norm_final.register_forward_hook(lambda m, i, o: captured.append(o))
    out = []
    try:
        for start in range(0, count, batch):
            inputs, _ = windows.gather(ids[start:start + batch])
            captured.clear()
            model(inputs)
            acts = captured[0]
            rows = torch.arange(len(inputs))
            out.append(acts[rows, torch.from_numpy(where[start:start + batch])].double().numpy())
    finally:
        hook.remove()
    return np.concatenate(out)


def _exponents(directory: Path, store, bootstrap: int, level: float, seed: int,
               warnings: list[str]) -> tuple[tuple, tuple, str]:
    from scalinglab.fit import FitResult, fit_parametric  # noqa: PLC0415

    nan = (float("nan"),) * 3
    saved = directory / "fit_approach3.json"
    try:
        if saved.is_file():
            fit, source = FitResult.load(saved), "fit_approach3.json"
        else:
            records = store.records(role="sweep")
            if records.empty:
                records = store.records()
            fit = fit_parametric(records, law="chinchilla", bootstrap=bootstrap, level=level,
                                 seed=seed)
            source = "Chinchilla Approach-3 fit of the store's records"
    except (ScalingLabError, KeyError, ValueError, json.JSONDecodeError) as exc:
        warnings.append(f"no exponents: the sweep's fit failed ({str(exc).splitlines()[0]})")
        return nan, nan, "none"
    params = fit.params
    if "alpha" not in params or "beta" not in params:
        warnings.append(f"the sweep's fit is a {fit.law.name} law without alpha and beta")
        return nan, nan, source
    try:
        ci = fit.intervals(level)
    except ScalingLabError:
        ci = {"alpha": (float("nan"),) * 2, "beta": (float("nan"),) * 2}
    warnings.extend(fit.warnings)
    return ((params["alpha"], *ci["alpha"]), (params["beta"], *ci["beta"]), source)


def lm_dimensions(results_dir: str | Path, *, corpus: str | None = None,
                  tokenizer: str | None = None, positions: int = 2000, method: str = "twonn",
                  bootstrap: int = 200, level: float = 0.9, seed: int = 0,
                  progress: bool = False) -> LMManifoldResult:
    """Final-layer ID of every done run with a checkpoint in ``results_dir``, and 4/alpha."""
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    from scalinglab.corpora import load_corpus  # noqa: PLC0415

    began = time.perf_counter()
    directory = Path(results_dir)
    if positions < 20:
        raise ManifoldError(f"positions must be >= 20, got {positions}")
    warnings: list[str] = []
    with _open_store(directory) as store:
        runs = [(r, _checkpoint(directory, r)) for r in store.runs(status="done")]
        runs = [(r, p) for r, p in runs if p is not None]
        if not runs:
            raise ManifoldError(f"{str(directory)!r} has no checkpoints of finished runs "
                                f"(checkpoints/*/checkpoint.pt)")
        source, tok = _corpus_source(store, corpus, tokenizer)
        text = load_corpus(source, tokenizer=tok)
        results = []
        with Progress(console=Console(stderr=True), disable=not progress) as bars:
            task = bars.add_task("final-layer intrinsic dimension", total=len(runs))
            for run, path in runs:
                model, plan = load_model(path, text)
                acts = final_layer_activations(model, text.val, plan.shape.seq_len, positions,
                                               seed)
                estimate = intrinsic_dimension(acts, method, bootstrap=bootstrap, level=level,
                                               seed=seed)
                records = store.run_records(run.key)
                final = [r for r in records if r.run_id == plan.run_id] or records
                last = final[-1]
                results.append(LMRunID(run.key, run.name, run.role, float(last.n_params),
                                       float(last.tokens), float(last.loss),
                                       plan.shape.d_model, estimate))
                bars.advance(task)
        alpha_N, alpha_D, fit_source = _exponents(directory, store, bootstrap, level, seed,
                                                  warnings)
    return LMManifoldResult(directory=str(directory), runs=results, alpha_N=alpha_N,
                            alpha_D=alpha_D, fit_source=fit_source, level=level,
                            settings={"positions": positions, "method": method,
                                      "bootstrap": bootstrap, "seed": seed, "corpus": source,
                                      "tokenizer": tok,
                                      "activations": "after the final LayerNorm, one random "
                                                     "position in the second half of each "
                                                     "validation window"},
                            seconds=time.perf_counter() - began, warnings=warnings)
