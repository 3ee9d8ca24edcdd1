"""``scalinglab sweep plan|run|status|export``, ``scalinglab run CONFIG.toml`` and ``demo``.

The commands parse options and print; the work is in :mod:`scalinglab.sweep`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalinglab.cli.common import JsonOpt, console, err_console, print_json, print_table
from scalinglab.cli.terms import cli_terms
from scalinglab.errors import ScalingLabError
from scalinglab.study import DEFAULT_OUT, DemoConfig, DemoSummary, load_config_toml, run_demo
from scalinglab.sweep.plan import (
    SweepSpec,
    default_spec,
    estimate_wall,
    plan_sweep,
    prior_optimal_size,
)
from scalinglab.sweep.store import STATUSES, SQLiteRunStore, StoredRun

CorpusOpt = Annotated[str | None, typer.Option(
    "--corpus", help="kjv (built in, the default), synthetic[:key=value,...], hf:NAME or a "
                     "text path.")]
LevelsOpt = Annotated[str | None, typer.Option(
    "--levels", help="Comma-separated IsoFLOP levels in FLOPs, e.g. 2e11,6e11,2e12.")]
SizesOpt = Annotated[int | None, typer.Option("--sizes", help="Model sizes per level.")]
DesignOpt = Annotated[str | None, typer.Option(
    "--design", help="wsd (one run per size, cooldown branches) or isoflop (one run per point).")]
BatchOpt = Annotated[int | None, typer.Option("--batch-tokens", help="Tokens per step.")]
SeedOpt = Annotated[int | None, typer.Option(
    "--seed", help="Training seed (default: the config file's, else 0).")]
DemoSeedOpt = Annotated[int, typer.Option("--seed", help="Training seed.")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="TOML file with a 'sweep' table (options given here override it).")]
WorkersOpt = Annotated[int, typer.Option(
    "--workers", help="Local processes; each gets cpu_count / workers torch threads.")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local or ray.")]
RayOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="Join a Ray cluster ('auto' or an address); default: start one.")]
ThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", help="Torch threads per run (default: cpu_count / workers; use 1 on a busy "
                      "CPU, where several threads per run slow down badly).")]
RetriesOpt = Annotated[int, typer.Option("--retries", help="Retries before a run is failed.")]
DirArg = Annotated[Path, typer.Argument(help="Sweep directory (holds store.sqlite).")]
TrainerOpt = Annotated[str | None, typer.Option(
    "--trainer", help="Your own trainer: a command template such as 'python train.py "
                      "--n_layer {n_layer} --out {run_dir}' or module:function (see README).")]
RunTimeoutOpt = Annotated[float | None, typer.Option(
    "--run-timeout", help="Seconds an external run may take per attempt before it fails.")]
TbLossOpt = Annotated[str | None, typer.Option(
    "--tb-loss", help="Read the runs' TensorBoard logs: the held-out loss tag (nats/token).")]
TbTokensOpt = Annotated[str | None, typer.Option(
    "--tb-tokens", help="TensorBoard tag of tokens seen (default: step x batch_tokens).")]
TbParamsOpt = Annotated[str | None, typer.Option(
    "--tb-n-params", help="TensorBoard tag of the trainer's own parameter count.")]
RunsDirOpt = Annotated[Path | None, typer.Option(
    "--runs-dir", help="Where external runs' directories go (default: DIR/runs); on a "
                       "cluster a path every node shares.")]
GpusOpt = Annotated[int, typer.Option(
    "--gpus-per-run", help="GPUs per run: CUDA_VISIBLE_DEVICES per local worker, num_gpus "
                           "per Ray task.")]
TasksOpt = Annotated[bool, typer.Option(
    "--tasks", help="Also score the held-out task suite (continuation, cloze) at every "
                    "evaluation: records carry acc_<task> (built-in trainer only).")]
DemoTasksOpt = Annotated[bool, typer.Option(
    "--tasks/--no-tasks", help="Score the held-out task suite in every run and predict the "
                               "validation run's accuracy before it trains.")]


def register(app: typer.Typer) -> None:
    """Add ``sweep`` (plan, run, status, export), ``run`` and ``demo`` to the app."""
    sweep_app = typer.Typer(help="Plan, run, inspect and export sweeps (resumable).",
                            no_args_is_help=True)
    sweep_app.command("plan")(plan_command)
    sweep_app.command("run")(run_sweep_command)
    sweep_app.command("status")(status_command)
    sweep_app.command("export")(export_command)
    app.add_typer(sweep_app, name="sweep")
    app.command("run")(run_config_command)
    app.command("demo")(demo_command)


def _spec(config: Path | None, corpus: str | None, levels: str | None, sizes: int | None,
          design: str | None, batch_tokens: int | None, seed: int | None) -> SweepSpec:
    if config is not None:
        data = _load_config(config, corpus).spec.to_dict()
    else:
        data = default_spec(corpus or "kjv").to_dict()
    if levels is not None:
        data["levels"] = _parse_levels(levels)
    for name, value in (("sizes_per_level", sizes), ("design", design),
                        ("batch_tokens", batch_tokens), ("seed", seed)):
        if value is not None:
            data[name] = value
    return SweepSpec.from_dict(data)


def _load_config(path: Path, corpus: str | None = None) -> DemoConfig:
    """``load_config_toml`` with a one-line error for a file that is not text."""
    try:
        return load_config_toml(path, corpus)
    except UnicodeDecodeError:
        raise ScalingLabError(f"config file {str(path)!r} is not UTF-8 text (TOML)") from None


def _parse_levels(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ScalingLabError(f"--levels must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ScalingLabError("--levels is empty")
    return values


def plan_command(
    corpus: CorpusOpt = None, levels: LevelsOpt = None, sizes: SizesOpt = None,
    design: DesignOpt = None, batch_tokens: BatchOpt = None, seed: SeedOpt = None,
    config: ConfigOpt = None, workers: WorkersOpt = 2, threads: ThreadsOpt = None,
    probe: Annotated[bool, typer.Option(help="Measure throughput to estimate wall time.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Print the sweep plan: runs, points, total FLOPs and the estimated wall time here."""
    from scalinglab.corpora import load_corpus  # noqa: PLC0415

    spec = _spec(config, corpus, levels, sizes, design, batch_tokens, seed)
    source = load_corpus(spec.corpus, tokenizer=spec.tokenizer)
    plan = plan_sweep(spec, source)
    validation_flops = plan.validation_flops
    validation_n = prior_optimal_size(validation_flops, source.vocab_size, spec.seq_len,
                                      spec.tokens_per_param)
    estimate = (estimate_wall(plan, source, workers, validation_n, threads=threads)
                if probe else None)
    table = plan.table()
    out = {"spec": spec.to_dict(), "runs": table.to_dict("records"),
           "sweep_flops": plan.sweep_flops, "largest_point_flops": plan.largest_point_flops,
           "validation_flops": validation_flops, "validation_n_prior": validation_n,
           "total_flops": plan.sweep_flops + validation_flops,
           "estimate": None if estimate is None else {
               "sweep_seconds": estimate.sweep_seconds,
               "validation_seconds": estimate.validation_seconds,
               "total_seconds": estimate.total_seconds, "workers": workers,
               "flops_per_second": estimate.flops_per_second}}
    if as_json:
        print_json(out)
        return
    print_table(f"sweep plan ({spec.design}) on {source.name}",
                ["run", "N", "shape", "tokens", "levels", "seed", "FLOPs"],
                [(r["name"], r["n_params"], r["shape"], r["tokens"], r["levels"], r["seed"],
                  r["flops"]) for r in out["runs"]])
    console.print(f"sweep {plan.sweep_flops:.3g} FLOPs + validation run "
                  f"{validation_flops:.3g} FLOPs ({spec.extrapolation:g}x the largest point) "
                  f"= {out['total_flops']:.3g} FLOPs", markup=False)
    if estimate is not None:
        console.print(f"estimated wall time on this machine ({workers} worker(s)): sweep "
                      f"{estimate.sweep_seconds:.0f} s + validation "
                      f"{estimate.validation_seconds:.0f} s = {estimate.total_seconds:.0f} s",
                      markup=False)


def run_sweep_command(
    directory: DirArg, corpus: CorpusOpt = None, levels: LevelsOpt = None,
    sizes: SizesOpt = None, design: DesignOpt = None, batch_tokens: BatchOpt = None,
    seed: SeedOpt = None, config: ConfigOpt = None, workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local", ray_address: RayOpt = None, retries: RetriesOpt = 1,
    threads: ThreadsOpt = None, trainer: TrainerOpt = None, run_timeout: RunTimeoutOpt = None,
    tb_loss: TbLossOpt = None, tb_tokens: TbTokensOpt = None, tb_n_params: TbParamsOpt = None,
    runs_dir: RunsDirOpt = None, gpus_per_run: GpusOpt = 0, tasks: TasksOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train the sweep's runs that are not done (re-running never retrains what is done).

    With --trainer (or a 'trainer' table in --config) your own trainer runs them."""
    from scalinglab.corpora import load_corpus  # noqa: PLC0415
    from scalinglab.sweep.runner import SweepSettings, run_sweep  # noqa: PLC0415

    external = _external_trainer(config, trainer, run_timeout, tb_loss, tb_tokens, tb_n_params,
                                 runs_dir)
    if external is not None:
        external.check_found()
    spec = _spec(config, corpus, levels, sizes, design, batch_tokens, seed)
    plan = plan_sweep(spec, load_corpus(spec.corpus, tokenizer=spec.tokenizer))
    settings = SweepSettings(executor=executor, workers=workers, ray_address=ray_address,
                             threads=threads, retries=retries, gpus_per_run=gpus_per_run,
                             trainer=external, tasks=tasks)
    with SQLiteRunStore(directory) as store:
        store.set_meta("spec", spec.to_dict())
        run_sweep(store, directory, plan.runs, spec.corpus, spec.tokenizer, settings,
                  console=err_console if as_json else console, show_progress=not as_json)
        _print_status(store.runs(), store.counts(), as_json)


def _external_trainer(config: Path | None, command: str | None, timeout: float | None,
                      tb_loss: str | None, tb_tokens: str | None, tb_n_params: str | None,
                      runs_dir: Path | None):
    """The external trainer of the command line or the config's [trainer] table (or None)."""
    from scalinglab.sweep.external import ExternalTrainer, load_trainer_toml  # noqa: PLC0415

    base = load_trainer_toml(config) if config is not None else None
    data = base.to_dict() if base is not None else {}
    for name, value in (("command", command), ("timeout", timeout), ("tb_loss", tb_loss),
                        ("tb_tokens", tb_tokens), ("tb_n_params", tb_n_params),
                        ("runs_dir", None if runs_dir is None else str(runs_dir))):
        if value is not None:
            data[name] = value
    if "command" not in data:
        extras = [n for n, v in (("--run-timeout", timeout), ("--tb-loss", tb_loss),
                                 ("--runs-dir", runs_dir)) if v is not None]
        if extras:
            raise ScalingLabError(f"{', '.join(extras)} need(s) an external trainer (--trainer)")
        return None
    return ExternalTrainer.from_dict(data)


def status_command(directory: DirArg, as_json: JsonOpt = False) -> None:
    """Each run's status, error text, timings and FLOPs."""
    _require_store(directory)
    with SQLiteRunStore(directory) as store:
        _print_status(store.runs(), store.counts(), as_json)


def export_command(
    directory: DirArg,
    out: Annotated[Path, typer.Option("--out", help="CSV or Parquet file (by suffix).")],
    role: Annotated[str | None, typer.Option(help="Only sweep or validation runs.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the records of done runs (RunRecord columns) to CSV or Parquet."""
    _require_store(directory)
    with SQLiteRunStore(directory) as store:
        frame = store.records(role)
        path = store.export(out, role)
    if as_json:
        print_json({"path": str(path), "rows": len(frame)})
    else:
        console.print(f"wrote {len(frame)} rows to {path}", markup=False)


def _require_store(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ScalingLabError(f"{str(directory)!r} is a file, not a sweep directory "
                              f"(no run store there)")
    path = directory / "store.sqlite"
    if not path.is_file():
        raise ScalingLabError(f"no run store at {str(path)!r} (run `scalinglab sweep run` "
                              f"or `scalinglab demo` first)")


def _print_status(runs: list[StoredRun], counts: dict[str, int], as_json: bool) -> None:
    if as_json:
        print_json({"counts": counts, "runs": [
            {"key": r.key, "name": r.name, "role": r.role, "status": r.status,
             "error": r.error, "attempts": r.attempts, "checkpoint_dir": r.checkpoint_dir,
             "planned_flops": r.planned_flops, "spent_flops": r.spent_flops,
             "wall_seconds": r.wall_seconds, "stderr_tail": r.meta.get("stderr_tail"),
             "run_dir": r.meta.get("run_dir")} for r in runs]})
        return
    print_table("runs", ["run", "role", "status", "attempts", "FLOPs", "seconds", "error"],
                [(r.name, r.role, r.status, r.attempts, r.spent_flops or r.planned_flops,
                  r.wall_seconds if r.wall_seconds is not None else float("nan"),
                  r.error or "") for r in runs])
    console.print(", ".join(f"{counts[s]} {s}" for s in STATUSES), markup=False)


def demo_command(
    corpus: CorpusOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Results directory.")] = Path(DEFAULT_OUT),
    seed: DemoSeedOpt = 0, workers: WorkersOpt = 2, executor: ExecutorOpt = "local",
    ray_address: RayOpt = None, threads: ThreadsOpt = None, tasks: DemoTasksOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """The main job: plan, train the sweep, fit, predict the 10x run, train it, compare."""
    config = DemoConfig(spec=default_spec(corpus or "kjv", seed=seed), out=str(out),
                        workers=workers, executor=executor, ray_address=ray_address,
                        threads=threads, tasks=tasks)
    _finish(run_demo(config, json_mode=as_json, spell=cli_terms).summary, as_json)


def run_config_command(
    config: Annotated[Path, typer.Argument(help="TOML: run settings and a 'sweep' table.")],
    out: Annotated[Path | None, typer.Option("--out", help="Results directory.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The demo pipeline with every setting from a TOML file (see bench/README.md)."""
    settings = _load_config(config)
    from scalinglab.sweep.external import load_trainer_toml  # noqa: PLC0415

    if load_trainer_toml(config) is not None:
        raise ScalingLabError(f"{str(config)!r} has a [trainer] table: external trainers run "
                              f"with `scalinglab sweep run DIR --config {config}`; `run` trains "
                              f"with the built-in trainer")
    if out is not None:
        settings.out = str(out)
    _finish(run_demo(settings, json_mode=as_json, spell=cli_terms).summary, as_json)


def _finish(summary: DemoSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_dict())
    else:
        console.print(f"results in {summary.out}", markup=False)


__all__ = ["DemoConfig", "register"]
