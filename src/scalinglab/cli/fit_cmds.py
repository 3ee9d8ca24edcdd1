"""``scalinglab fit | predict | frontier | backtest | laws``: the fitting core on the command line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from scalinglab.cli.common import (
    console,
    fit_settings,
    fmt,
    parse_float,
    print_json,
    print_table,
)
from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult
from scalinglab.laws import PRESETS, Law, get_preset
from scalinglab.records import drop_highest_losses, load_runs

ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", help='Column mapping for foreign tables, e.g. N="Model Size",C="Training FLOP",'
    'loss=loss (names: N, D, C, loss or record columns).')]
DeriveOpt = Annotated[bool, typer.Option(
    "--derive-tokens", help="Compute missing tokens as D = C / (6 N).")]
DropOpt = Annotated[int, typer.Option(
    "--drop-highest", help="Drop the K rows with the highest loss first (Epoch's protocol "
    "drops 5 from the Chinchilla data).", min=0)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
FitOpt = Annotated[Path | None, typer.Option("--fit", help="A fit.json written by `fit --out`.")]
PresetOpt = Annotated[str | None, typer.Option(
    "--preset", help="A published law (see `scalinglab laws`).")]
def _check_level(value: float) -> float:
    if not 0 < value < 1:  # also refuses NaN
        raise typer.BadParameter(f"a confidence level must be in (0, 1), got {value:g}")
    return value


def _check_positive(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a finite number > 0, got {value:g}")
    return value


LevelOpt = Annotated[float, typer.Option("--level", help="Confidence level of intervals.",
                                         callback=_check_level)]


def read_runs(path: Path, columns: str | None, derive_tokens: bool, drop_highest: int = 0):
    """Load a run table (CSV/Parquet) with an optional mapping; drop the K highest losses."""
    frame = load_runs(path, columns=columns, derive_tokens=derive_tokens, require=("loss",))
    return drop_highest_losses(frame, drop_highest)


def _pair(text: str | None, name: str) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise ScalingLabError(f"{name} takes two numbers separated by a comma, got {text!r}")
    return parse_float(parts[0], name, positive=False), parse_float(parts[1], name, positive=False)


def _prior(text: str | None) -> tuple[float, float] | None:
    pair = _pair(text, "--E-prior")
    if pair is not None and not (pair[0] > 0 and pair[1] > 0):
        raise ScalingLabError(f"--E-prior takes MEAN,SD with both > 0, got {text!r}")
    return pair


def load_law(fit: Path | None, preset: str | None) -> tuple[Law, FitResult | None, str]:
    """The law to use: from a fit file (with its bootstrap) or a published preset."""
    if (fit is None) == (preset is None):
        raise ScalingLabError("give exactly one of --fit FILE or --preset NAME")
    if fit is not None:
        result = FitResult.load(fit)
        return result.law, result, str(fit)
    chosen = get_preset(preset or "")
    return chosen.law, None, chosen.name


def _rows_option(text: str) -> float | str | None:
    """--checkpoints-after: auto | final | a fraction in [0, 1)."""
    value = text.strip().lower()
    if value in ("auto", "final"):
        return None if value == "final" else "auto"
    return parse_float(value, "--checkpoints-after", positive=False)


def _optional_fraction(text: str, option: str) -> float | None:
    """A number > 0, or none/off."""
    if text.strip().lower() in ("none", "off", "0"):
        return None
    return parse_float(text, option)


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_command)
    app.command("predict")(predict_command)
    app.command("frontier")(frontier_command)
    app.command("backtest")(backtest_command)
    app.command("laws")(laws_command)


def fit_command(
    runs: Annotated[Path, typer.Argument(help="Run table: CSV or Parquet.")],
    law: Annotated[str, typer.Option(
        help="chinchilla | kaplan | power | data_constrained (needs unique_tokens)")]
    = "chinchilla",
    approach: Annotated[int, typer.Option(help="3 parametric, 2 IsoFLOP, 1 envelope.")] = 3,
    variable: Annotated[str, typer.Option(help="Power law variable: N, D or C.")] = "C",
    no_irreducible: Annotated[bool, typer.Option(
        "--no-irreducible", help="Power law without E.")] = False,
    n_column: Annotated[str, typer.Option(
        help="Parameter count to use as N: n_params (non-embedding) or n_params_total.")]
    = "n_params",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (over runs).", min=0)] = 1000,
    level: LevelOpt = 0.9,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    huber_delta: Annotated[float, typer.Option(help="Huber delta on log-loss residuals.",
                                               callback=_check_positive)] = 1e-3,
    method: Annotated[str, typer.Option(
        help="varpro (fast) or hoffmann (4500-start L-BFGS grid).")] = "varpro",
    e_fixed: Annotated[float | None, typer.Option("--E-fixed", help="Fix E (nats/token).")] = None,
    e_bounds: Annotated[str | None, typer.Option("--E-bounds", help="LOW,HIGH for E.")] = None,
    e_prior: Annotated[str | None, typer.Option(
        "--E-prior", help="MEAN,SD of a Gaussian prior on E.")] = None,
    bound_e: Annotated[bool, typer.Option(
        "--bound-E", help="Constrain E <= the lowest observed loss.")] = False,
    checkpoints_after: Annotated[str, typer.Option(
        help="Rows of loss curves: auto (rows past 0.1 of each run when curves are present, "
             "final rows otherwise), final, or a fraction such as 0.1.")] = "auto",
    frontier_filter: Annotated[str, typer.Option(
        help="Drop runs whose final loss is more than this fraction above the best final "
             "loss at the same or less compute (0.1), or none.")] = "0.1",
    weights: Annotated[str | None, typer.Option(help="Column of per-row weights.")] = None,
    hparams: Annotated[str, typer.Option(
        help="Hyperparameter columns of a sweep with several runs per (N, D), comma-separated "
             "(the fit uses the best run of each N, D): auto (lr, batch_tokens, warmup, ... "
             "when they vary at a fixed N, D), none, or names such as lr,batch.")] = "auto",
    columns: ColumnsOpt = None,
    derive_tokens: DeriveOpt = False,
    drop_highest: DropOpt = 0,
    compute: Annotated[str | None, typer.Option(
        help="Also report the compute-optimal frontier at these FLOPs (comma-separated).")]
    = None,
    budgets: Annotated[str | None, typer.Option(
        help="Approach 2: compute budgets in FLOPs (comma-separated); default: clustered.")]
    = None,
    profile: Annotated[str, typer.Option(help="Approach 2: cubic or parabola.")] = "cubic",
    out: Annotated[Path | None, typer.Option(help="Write the fit as JSON here.")] = None,
    report: Annotated[Path | None, typer.Option(
        help="Also write the self-contained HTML report of the fit here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a scaling law to a table of training runs (Approach 3, 2 or 1)."""
    from scalinglab.fit.api import fit  # noqa: PLC0415

    frame = read_runs(runs, columns, derive_tokens, drop_highest)
    options: dict[str, Any] = {}
    if approach == 3:
        settings = fit_settings(
            law=law, variable=variable, irreducible=not no_irreducible, n_column=n_column,
            huber_delta=huber_delta, method=method, E_fixed=e_fixed,
            E_bounds=_pair(e_bounds, "--E-bounds"), E_prior=_prior(e_prior),
            bound_E_below_min_loss=bound_e, checkpoints_after=_rows_option(checkpoints_after),
            frontier_filter=_optional_fraction(frontier_filter, "--frontier-filter"),
            weights=weights, hparams=hparams, bootstrap=bootstrap, level=level, seed=seed)
    elif approach == 2:
        options = {"profile": profile, "budgets": None if budgets is None else
                   [parse_float(b, "--budgets") for b in budgets.split(",")]}
    if approach != 3 and compute is not None:
        options["target_flops"] = parse_float(compute.split(",")[0], "--compute")
    if approach == 3:
        result = fit(frame, settings)
    else:
        result = fit(frame, approach=approach, bootstrap=bootstrap, level=level, seed=seed,
                     **options)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(result.to_json())
    if report is not None:
        from scalinglab.report.html import command_line, write_report  # noqa: PLC0415
        from scalinglab.report.sources import inputs_from_result  # noqa: PLC0415

        target = None if compute is None else parse_float(compute.split(",")[0], "--compute")
        write_report(report, inputs_from_result(result, frame, str(runs), target),
                     command=command_line())
    frontier = None
    if compute is not None and approach == 3:
        frontier = [result.frontier(parse_float(c, "--compute"), level) for c in compute.split(",")]
    if as_json:
        payload = result.to_dict()
        payload.pop("bootstrap_params", None)
        payload.pop("bootstrap", None)
        if frontier is not None:
            payload["frontier"] = frontier
        print_json(payload)
        return
    show_fit(result, level)
    if frontier is not None:
        show_frontier(frontier, level)
    if out is not None:
        console.print(f"wrote {out}")
    if report is not None:
        console.print(f"wrote {report}")


def show_fit(result: Any, level: float) -> None:
    """Print a fit result: the parameter table, residuals and warnings."""
    if not isinstance(result, FitResult):  # Approaches 1 and 2 render themselves
        console.print(result.summary().to_string(index=False))
        return
    summary = result.summary(level)
    pct = f"{level:.0%}"
    print_table(f"{result.law.name} law, Approach 3 ({result.n_points} points, "
                f"{result.n_runs} runs; N = {result.columns.get('N', '-')})",
                ["parameter", "value", f"{pct} low", f"{pct} high", "unit"],
                summary[["parameter", "value", "low", "high", "unit"]].to_numpy().tolist())
    res = result.residuals
    console.print(f"objective (sum Huber, delta={result.settings.huber_delta:g}) = "
                  f"{result.objective:.6g}; RMSE of log loss = {res['rmse_log']:.4g}; "
                  f"largest |residual| = {res['max_abs_log']:.4g} (run "
                  f"{res['largest'][0]['run_id']})", highlight=False)
    console.print(f"rows: {result.procedure.rows}",
                  highlight=False, markup=False)
    model = result.run_interval
    if model is not None:
        from scalinglab.fit.intervals import describe_method  # noqa: PLC0415

        console.print(f"run intervals: run-to-run scatter {model.scatter:.4f} (log loss, "
                      f"{model.scatter_source}); extrapolation term {describe_method(model)}",
                      highlight=False, markup=False)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)


def show_frontier(frontiers: list[dict[str, Any]], level: float) -> None:
    rows = []
    for f in frontiers:
        rows.append([f["C"]] + [_with_interval(f[k]) for k in
                                ("N_opt", "D_opt", "tokens_per_param", "loss")])
    print_table(f"compute-optimal frontier (C = 6ND; {level:.0%} intervals)",
                ["C (FLOPs)", "N_opt (params)", "D_opt (tokens)", "D/N", "loss (nats/token)"],
                rows)


def _with_interval(entry: dict[str, Any]) -> str:
    if "low" in entry:
        return f"{fmt(entry['value'])} [{fmt(entry['low'])}, {fmt(entry['high'])}]"
    return fmt(entry["value"])


def predict_command(
    fit: FitOpt = None,
    preset: PresetOpt = None,
    params: Annotated[str | None, typer.Option(help="N, parameters (e.g. 70e9).")] = None,
    tokens: Annotated[str | None, typer.Option(help="D, training tokens (e.g. 1.4e12).")] = None,
    compute: Annotated[str | None, typer.Option(help="C, training FLOPs.")] = None,
    level: LevelOpt = 0.9,
    kind: Annotated[str, typer.Option(
        help="run: interval for a new run's measured loss (parameters + run scatter + "
             "extrapolation, calibrated inside the fit's data); law: the mean law's "
             "parameter-only interval.")] = "run",
    as_json: JsonOpt = False,
) -> None:
    """Predict the loss (nats/token) of a run of N parameters on D tokens (or C FLOPs)."""
    from scalinglab.fit.intervals import check_kind  # noqa: PLC0415

    check_kind(kind)
    law, result, source = load_law(fit, preset)
    given = {"N": params, "D": tokens, "C": compute}
    inputs = {}
    for var in law.variables:
        if given.get(var) is None:
            flag = {"N": "--params", "D": "--tokens", "C": "--compute"}.get(var, var)
            raise ScalingLabError(f"the {law.name} law needs {flag}")
        inputs[var] = parse_float(given[var], f"--{var}")
    usable = result is not None and (
        (kind == "run" and result.run_interval is not None)
        or (kind == "law" and result.bootstrap_params is not None))
    if usable:
        out = result.predict_interval(level, kind=kind, **inputs)
    else:
        out = {"loss": law.predict(**inputs), "level": None, "kind": None}
    payload = {"source": source, "law": law.name, "inputs": inputs, **out}
    if as_json:
        print_json(payload)
        return
    text = ", ".join(f"{k}={fmt(v)}" for k, v in inputs.items())
    line = f"predicted loss at {text}: {out['loss']:.4f} nats/token"
    if "low" in out:
        what = "run interval" if kind == "run" else "law interval, parameters only"
        line += f" ({level:.0%} {what} {out['low']:.4f}-{out['high']:.4f})"
    elif result is None:
        line += " (no interval: a published preset carries no uncertainty)"
    else:
        line += (" (no interval: this fit has no run-interval calibration" if kind == "run"
                 else " (no interval: this fit has no bootstrap") + ")"
    console.print(f"{line}  [{source}]", highlight=False, markup=False)
    if "components" in out:
        from scalinglab.fit.intervals import describe_sources  # noqa: PLC0415

        console.print(describe_sources(out["components"]), highlight=False, markup=False)


def frontier_command(
    fit: FitOpt = None,
    preset: PresetOpt = None,
    compute: Annotated[str, typer.Option(help="FLOPs, comma-separated (e.g. 5.76e23).")] = "",
    level: LevelOpt = 0.9,
    as_json: JsonOpt = False,
) -> None:
    """Compute-optimal N, D, tokens per parameter and loss at given training FLOPs."""
    law, result, source = load_law(fit, preset)
    if not compute:
        raise ScalingLabError("give --compute FLOPS (comma-separated for several)")
    budgets = [parse_float(c, "--compute") for c in compute.split(",")]
    if result is not None:
        frontiers = [result.frontier(c, level) for c in budgets]
    else:
        if not hasattr(law, "frontier"):
            raise ScalingLabError(f"the {law.name} law has no N-D frontier; use a Chinchilla law")
        frontiers = [{k: ({"value": v} if k not in ("C",) else v)
                      for k, v in law.frontier(c).items()} for c in budgets]
    if as_json:
        print_json({"source": source, "frontier": frontiers})
        return
    show_frontier(frontiers, level)
    a = frontiers[0]["a"]["value"]
    console.print(f"N_opt ~ C^{a:.3f}, D_opt ~ C^{1 - a:.3f}  [{source}]", highlight=False,
                  markup=False)


def backtest_command(
    runs: Annotated[Path, typer.Argument(help="Run table: CSV or Parquet.")],
    cut_flops: Annotated[str | None, typer.Option(help="Fit on runs below these FLOPs.")] = None,
    cut_params: Annotated[str | None, typer.Option(help="Fit on runs below this N.")] = None,
    law: Annotated[str, typer.Option(help="chinchilla | kaplan | power")] = "chinchilla",
    columns: ColumnsOpt = None,
    derive_tokens: DeriveOpt = False,
    drop_highest: DropOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Fit on small runs, predict the large ones, and report the error (vs a naive baseline)."""
    from scalinglab.fit.backtest import backtest  # noqa: PLC0415

    frame = read_runs(runs, columns, derive_tokens, drop_highest)
    result = backtest(frame, cut_flops=None if cut_flops is None else
                      parse_float(cut_flops, "--cut-flops"),
                      cut_params=None if cut_params is None else
                      parse_float(cut_params, "--cut-params"), law=law)
    payload = result.to_dict()
    if as_json:
        print_json(payload)
        return
    table = result.per_run
    cols = [c for c in ("run_id", "n_params", "flops", "loss", "predicted", "covered", "are",
                        "naive_are", "extrapolation")
            if c in table.columns]
    print_table("backtest: held-out runs", cols, table[cols].to_numpy().tolist())
    console.print(" ".join(f"{k}={fmt(v)}" for k, v in payload.get("summary", {}).items()),
                  highlight=False)


def laws_command(as_json: JsonOpt = False) -> None:
    """List the published laws (presets) with their provenance."""
    rows = []
    for p in PRESETS.values():
        law = p.law
        rows.append({"name": p.name, "form": law.name, "params": law.params, "paper": p.paper,
                     "where": p.where, "N": p.n_convention, "data": p.data, "notes": p.notes})
    if as_json:
        print_json(rows)
        return
    print_table("published scaling laws", ["name", "form", "parameters", "source"],
                [[r["name"], r["form"],
                  ", ".join(f"{k}={v:.4g}" for k, v in r["params"].items()),
                  f"{r['paper'].split(',')[0]}: {r['where']}"] for r in rows])


