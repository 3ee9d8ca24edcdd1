"""The demo's settings: the sweep spec plus how to run and fit it, from code or a TOML file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from scalinglab.errors import ScalingLabError
from scalinglab.sweep.plan import SweepSpec, default_spec

DEFAULT_OUT = "scalinglab-demo"
LOSS_COLUMNS = ("auto", "loss", "exact_loss")


@dataclass
class DemoConfig:
    """The sweep spec plus how to run and fit it.

    ``fit_min_steps``: Approach 3 uses only points trained for at least this many optimiser
    steps (shorter runs sit on the early-training plateau and bend the fit: issue 5's first
    experiment; on KJV the escape from the bigram plateau lasts to ~1500 steps of 512 tokens,
    and with 1500 the three seeds' 10x predictions agreed to 0.7%, with 1000 to 2.6%:
    bench/design_subsets.py).  ``bootstrap``: resamples for both fits.  ``workers``: local
    processes for the sweep (the validation run gets every core).  ``executor``: local or ray.
    ``threads``: torch threads per run (None: cpu_count / workers for the sweep, cpu_count for
    the validation run); on a CPU that other jobs also load, use 1 -- multi-threaded runs then
    slow down by an order of magnitude (spinning OpenMP threads; measured on this machine).
    ``loss_column``: which loss the fits and the verdict use -- ``loss`` (sampled held-out
    cross-entropy), ``exact_loss`` (the synthetic language's exact expected loss, free of
    validation-sampling noise) or ``auto`` (``exact_loss`` when the corpus has one).
    ``tasks``: every run also scores the held-out task suite (:mod:`scalinglab.train.tasks`;
    about 0.3-0.6x the cost of one validation pass per evaluation, bench/task_suite_cost.py), and
    the task chain fitted on the sweep predicts the validation run's accuracy before it trains.

    The demo plans no point its fit would drop: the sweep is planned with ``min_steps`` raised
    to ``fit_min_steps`` (:meth:`planning_spec`), so a point shorter than that is not trained.
    """

    spec: SweepSpec = field(default_factory=SweepSpec)
    out: str = DEFAULT_OUT
    workers: int = 2
    executor: str = "local"
    ray_address: str | None = None
    retries: int = 1
    bootstrap: int = 400
    level: float = 0.9
    fit_min_steps: int = 1500
    n_column: str = "n_params"
    threads: int | None = None
    loss_column: str = "auto"
    tasks: bool = True

    def __post_init__(self) -> None:
        if self.loss_column not in LOSS_COLUMNS:
            raise ScalingLabError(f"loss_column must be one of {', '.join(LOSS_COLUMNS)}, "
                                  f"not {self.loss_column!r}")

    def planning_spec(self) -> SweepSpec:
        """The sweep spec the demo plans: ``spec`` with ``min_steps`` at least ``fit_min_steps``
        (points Approach 3 would drop cost compute and are not trained)."""
        return replace(self.spec, min_steps=max(self.spec.min_steps, self.fit_min_steps))

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "spec"},
                "spec": self.spec.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> DemoConfig:
        data = dict(data)
        # the corpus's default design (e.g. the synthetic language's), overridden by the file
        settings = data.pop("spec", {}) or {}
        if not isinstance(settings, dict):
            raise ScalingLabError(f"the sweep settings must be a table, got {settings!r}")
        spec = default_spec(**settings)
        known = {"out", "workers", "executor", "ray_address", "retries", "bootstrap", "level",
                 "fit_min_steps", "n_column", "threads", "loss_column", "tasks"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScalingLabError(f"unknown setting(s): {', '.join(unknown)}; known: "
                                  f"{', '.join(sorted(known | {'spec'}))}")
        return cls(spec=spec, **data)


def load_config_toml(path: str | Path, corpus: str | None = None) -> DemoConfig:
    """A :class:`DemoConfig` from TOML: top-level run settings and a ``[sweep]`` table.

    The sweep starts from the default design of its corpus (``corpus`` replaces the file's),
    and the file's settings override that design.
    """
    import tomllib  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise ScalingLabError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScalingLabError(f"cannot parse {str(path)!r}: {exc}") from None
    data.pop("trainer", None)  # an external trainer: read by `sweep run` (sweep/external.py)
    data["spec"] = data.pop("sweep", {})
    if corpus is not None and isinstance(data["spec"], dict):  # from_dict refuses a non-table
        data["spec"]["corpus"] = corpus
    return DemoConfig.from_dict(data)
