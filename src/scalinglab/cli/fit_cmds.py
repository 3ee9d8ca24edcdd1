"""``scalinglab fit | predict | frontier | backtest | laws``: the fitting core on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scalinglab.cli import task_cmds
from scalinglab.cli.common import (
    DEFAULT_CHECKPOINTS,
    DEFAULT_FRONTIER,
    CheckpointsOpt,
    ColumnsOpt,
    CutsOpt,
    DeriveFlopsOpt,
    DeriveTokensOpt,
    DropOpt,
    FrontierFilterOpt,
    JsonOpt,
    LawOpt,
    LevelOpt,
    LevelsOpt,
    NColumnOpt,
    VariableOpt,
    calibration_options,
    console,
    fit_settings,
    fmt,
    parse_float,
    print_guards,
    print_json,
    print_table,
    print_warnings,
    read_runs,
    row_options,
)
from scalinglab.cli.selection_view import show_selection
from scalinglab.cli.terms import cli_terms
from scalinglab.errors import ScalingLabError
from scalinglab.fit.auto import law_label
from scalinglab.fit.result import FitResult
from scalinglab.laws import PRESETS, Law, get_preset

FitOpt = Annotated[Path | None, typer.Option("--fit", help="A fit.json written by `fit --out`.")]
PresetOpt = Annotated[str | None, typer.Option(
    "--preset", help="A published law (see `scalinglab laws`).")]
#: predict's flag for each variable of a law
VARIABLE_FLAGS = {"N": "--params", "D": "--tokens", "C": "--compute"}


AllowFarOpt = Annotated[bool, typer.Option(
    "--allow-far", help="Answer even past the refusal distance from the fitted data (10^2x in "
    "N, D or D/N, 10^4x in C; see scalinglab.fit.guards); the answer still warns.")]

#: backtest summary keys whose plain spelling would mislead ("rel error" is signed, "are" not)
SUMMARY_LABELS = {"mean_rel_error": "mean signed rel error"}


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


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_command)
    app.command("predict")(predict_command)
    app.command("frontier")(frontier_command)
    app.command("backtest")(backtest_command)
    app.command("laws")(laws_command)


def fit_command(
    runs: Annotated[Path, typer.Argument(help="Run table: CSV or Parquet.")],
    law: LawOpt = "auto",
    approach: Annotated[int, typer.Option(help="3 parametric, 2 IsoFLOP, 1 envelope.")] = 3,
    variable: VariableOpt = None,
    no_irreducible: Annotated[bool, typer.Option(
        "--no-irreducible", help="Power law without E.")] = False,
    n_column: NColumnOpt = "n_params",
    bootstrap: Annotated[int | None, typer.Option(
        help="Bootstrap resamples (over runs); default 1000 (64 joint ones with --task).",
        min=0)] = None,
    level: LevelOpt = 0.9,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    huber_delta: Annotated[str, typer.Option(
        help="Huber delta on log-loss residuals: a number > 0 (Hoffmann et al. and Epoch use "
             "1e-3) or auto (1.345 x the robust sd of the fit's residuals, kept between 1e-3 "
             "and 1e-2).")] = "auto",
    method: Annotated[str, typer.Option(
        help="varpro (fast) or hoffmann (4500-start L-BFGS grid).")] = "varpro",
    e_fixed: Annotated[float | None, typer.Option("--E-fixed", help="Fix E (nats/token).")] = None,
    e_bounds: Annotated[str | None, typer.Option("--E-bounds", help="LOW,HIGH for E.")] = None,
    e_prior: Annotated[str | None, typer.Option(
        "--E-prior", help="MEAN,SD of a Gaussian prior on E.")] = None,
    bound_e: Annotated[bool, typer.Option(
        "--bound-E", help="Constrain E <= the lowest observed loss.")] = False,
    checkpoints_after: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    frontier_filter: FrontierFilterOpt = DEFAULT_FRONTIER,
    weights: Annotated[str | None, typer.Option(help="Column of per-row weights.")] = None,
    hparams: Annotated[str, typer.Option(
        help="Hyperparameter columns of a sweep with several runs per (N, D), comma-separated "
             "(the fit uses the best run of each N, D): auto (lr, batch_tokens, warmup, ... "
             "when they vary at a fixed N, D), none, or names such as lr,batch.")] = "auto",
    columns: ColumnsOpt = None,
    derive_tokens: DeriveTokensOpt = False,
    derive_flops: DeriveFlopsOpt = False,
    drop_highest: DropOpt = 0,
    compute: Annotated[str | None, typer.Option(
        help="Also report the compute-optimal frontier at these FLOPs (comma-separated).")]
    = None,
    budgets: Annotated[str | None, typer.Option(
        help="Approach 2: compute budgets in FLOPs (comma-separated); default: clustered.")]
    = None,
    profile: Annotated[str, typer.Option(help="Approach 2: cubic or parabola.")] = "cubic",
    cuts: CutsOpt = None,
    levels: LevelsOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write the fit as JSON here.")] = None,
    report: Annotated[Path | None, typer.Option(
        help="Also write the self-contained HTML report of the fit here.")] = None,
    allow_far: AllowFarOpt = False,
    as_json: JsonOpt = False,
    task: task_cmds.TaskOpt = None,
    chance: task_cmds.ChanceOpt = None,
    via: task_cmds.ViaOpt = "auto",
    loss_column: task_cmds.LossColumnOpt = "loss",
) -> None:
    """Fit a scaling law to a table of runs; with --task, the chain to a task's accuracy.

    Approach 3 (default), 2 or 1; the task chain is compute -> loss -> task accuracy."""
    from scalinglab.fit.api import fit  # noqa: PLC0415

    task_cmds.check_task_options(fit_command, dict(locals()))
    if task is not None:
        task_cmds.fit_task_command(runs, task, chance, via, loss_column, bootstrap, level, seed,
                                   columns, derive_tokens,
                                   {} if law == "chinchilla" else {"law": law}, out, as_json)
        return
    bootstrap = 1000 if bootstrap is None else bootstrap
    calibration = calibration_options(cuts, levels)
    if calibration and approach != 3:
        raise ScalingLabError("--cuts and --levels calibrate Approach 3's run intervals; "
                              "Approach 2 takes --budgets")
    frame = read_runs(runs, columns, derive_tokens, drop_highest, derive_flops, n_column,
                      as_json)
    options: dict[str, Any] = {}
    if approach == 3:
        settings = fit_settings(  # law=auto: the selection sets the law (fit/auto.py)
            law="chinchilla" if law == "auto" else law, variable=variable,
            irreducible=not no_irreducible,
            huber_delta=huber_delta, method=method, E_fixed=e_fixed,
            E_bounds=_pair(e_bounds, "--E-bounds"), E_prior=_prior(e_prior),
            bound_E_below_min_loss=bound_e,
            **row_options(checkpoints_after, frontier_filter, n_column),
            weights=weights, hparams=hparams, bootstrap=bootstrap, level=level, seed=seed,
            **calibration)
    elif approach == 2:
        options = {"profile": profile, "budgets": None if budgets is None else
                   [parse_float(b, "--budgets") for b in budgets.split(",")]}
    if approach != 3 and compute is not None:
        options["target_flops"] = parse_float(compute.split(",")[0], "--compute")
    if approach == 3:
        result = fit(frame, settings, **({"law": "auto"} if law == "auto" else {}))
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
                     command=command_line(), spell=cli_terms)
    frontier = None
    if compute is not None and approach == 3:
        frontier = [result.frontier(parse_float(c, "--compute"), level, allow_far=allow_far)
                    for c in compute.split(",")]
    if as_json:
        payload = result.to_dict()
        payload.pop("bootstrap_params", None)
        payload.pop("bootstrap", None)
        if frontier is not None:
            payload["frontier"] = frontier
        print_json(payload)
        return
    show_fit(result, level, compute)
    if frontier is not None:
        show_frontier(frontier, level)
    if out is not None:
        console.print(f"wrote {out}")
    if report is not None:
        console.print(f"wrote {report}")


def show_fit(result: Any, level: float, compute: str | None = None) -> None:
    """Print a fit result: the parameter table, residuals and warnings."""
    if not isinstance(result, FitResult):  # Approaches 1 and 2
        show_power_frontier(result, level)
        return
    summary = result.summary(level)
    pct = f"{level:.0%}"
    print_table(f"{law_label(result)} law, Approach 3 ({result.n_points} points, "
                f"{result.n_runs} runs; N = {result.columns.get('N', '-')})",
                ["parameter", "value", f"{pct} low", f"{pct} high", "unit"],
                summary[["parameter", "value", "low", "high", "unit"]].to_numpy().tolist())
    res = result.residuals
    console.print(f"objective (sum Huber, delta={result.settings.huber_delta:g}) = "
                  f"{result.objective:.6g}; RMSE of log loss = {res['rmse_log']:.4g}; "
                  f"largest |residual| = {res['max_abs_log']:.4g} (run "
                  f"{res['largest'][0]['run_id']})", highlight=False, markup=False)
    console.print(f"rows: {result.procedure.rows}",
                  highlight=False, markup=False)
    model = result.run_interval
    if model is not None:
        from scalinglab.fit.interval_text import describe_method  # noqa: PLC0415

        console.print(f"run intervals: run-to-run scatter {model.scatter:.4f} (log loss, "
                      f"{model.scatter_source}); extrapolation term {describe_method(model)}",
                      highlight=False, markup=False)
    show_selection(result.diagnostics.get("selection"))  # law=auto: the backtest table
    print_warnings(result.warnings)


#: What Approaches 1 and 2 are called in their table's title.
_APPROACH_TITLES = {"IsoFlopResult": "Approach 2, IsoFLOP profiles",
                    "EnvelopeResult": "Approach 1, envelope of loss curves"}


def show_power_frontier(result: Any, level: float) -> None:
    """Approach 1 or 2: the exponents of N_opt ~ C^a and D_opt ~ C^b in a table, and warnings."""
    summary = result.summary(level)
    pct = f"{level:.0%}"
    what = _APPROACH_TITLES.get(type(result).__name__, type(result).__name__)
    if hasattr(result, "budgets"):
        used = result.budgets["used"].astype(bool) if "used" in result.budgets else None
        count = f"{len(result.budgets) if used is None else int(used.sum())} budgets, "
    else:
        count = f"{int(result.envelope['used'].astype(bool).sum())} envelope points, "
    draws = 0 if result.bootstrap is None else len(result.bootstrap)
    print_table(f"compute-optimal allocation, {what} ({count}{result.n_runs} runs; "
                f"{draws} bootstrap draws)",
                ["quantity", "value", f"{pct} low", f"{pct} high", "unit"],
                summary[["quantity", "value", "low", "high", "unit"]].to_numpy().tolist())
    print_warnings(result.warnings)


def show_frontier(frontiers: list[dict[str, Any]], level: float) -> None:
    rows = []
    for f in frontiers:
        rows.append([f["C"]] + [_with_interval(f[k]) for k in
                                ("N_opt", "D_opt", "tokens_per_param", "loss")])
    print_table(f"compute-optimal frontier (C = 6ND; {_frontier_kinds(frontiers[0])})",
                ["C (FLOPs)", "N_opt (params)", "D_opt (tokens)", "D/N", "loss (nats/token)"],
                rows)
    for f in frontiers:
        print_guards(f.get("guards", []))


def _frontier_kinds(frontier: dict[str, Any]) -> str:
    """Which kind of interval each column carries, e.g. 'N_opt, D_opt, D/N: 90% parameter
    intervals; loss: 90% run interval'."""
    n_label, loss_label = frontier["N_opt"].get("label"), frontier["loss"].get("label")
    if n_label is None and loss_label is None:
        return "no intervals"
    parts = []
    if n_label is not None:
        parts.append(f"N_opt, D_opt, D/N: {n_label}s")
    if loss_label is not None:
        parts.append(f"loss: {loss_label}")
    return "; ".join(parts)


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
    allow_far: AllowFarOpt = False,
    as_json: JsonOpt = False,
    loss: task_cmds.AtLossOpt = None,
) -> None:
    """Predict the loss of a run of N parameters on D tokens (or C FLOPs), or a task's accuracy.

    Loss in nats/token; with a task fit, the accuracy and its run interval."""
    from scalinglab.fit.intervals import check_kind  # noqa: PLC0415

    if task_cmds.is_task_fit(fit):
        if kind != "run":
            raise ScalingLabError(f"--kind {kind}: a task fit gives run intervals only (a new "
                                  f"run's measured accuracy); drop --kind")
        task_cmds.predict_task_command(fit, params, tokens, compute, loss, level, as_json,
                                       allow_far)
        return
    check_kind(kind)
    law, result, source = load_law(fit, preset)
    given = {"N": params, "D": tokens, "C": compute}
    inputs = {}
    for var in law.variables:
        if given.get(var) is None:
            hint = ("; for the compute-optimal run at that compute, ask `scalinglab frontier "
                    "--compute C`" if compute is not None and "C" not in law.variables else "")
            raise ScalingLabError(f"the {law.name} law needs "
                                  f"{VARIABLE_FLAGS.get(var, var)}{hint}")
        inputs[var] = parse_float(given[var], VARIABLE_FLAGS.get(var, f"--{var}"))
    # inputs the law does not use are not dropped silently: the guards say so
    question = {k: parse_float(v, VARIABLE_FLAGS[k]) for k, v in given.items() if v is not None}
    question.update(inputs)
    usable = result is not None and (
        (kind == "run" and result.run_interval is not None)
        or (kind == "law" and result.bootstrap_params is not None))
    if usable:
        out = result.predict_interval(level, kind=kind, allow_far=allow_far, **question)
    else:
        from scalinglab.fit.guards import preset_range, question_guards  # noqa: PLC0415

        ranges = result.data_ranges() if result is not None else preset_range(source)
        out = {"loss": law.predict(**inputs), "level": None, "kind": None,
               "guards": question_guards(law, question, ranges, allow_far)}
    payload = {"source": source, "law": law.name, "inputs": question, **out}
    if as_json:
        print_json(payload)
        return
    text = ", ".join(f"{k}={fmt(v)}" for k, v in inputs.items())
    line = f"predicted loss at {text}: {out['loss']:.4f} nats/token"
    if "low" in out:
        line += f" ({out['label']} {out['low']:.4f}-{out['high']:.4f})"
    elif result is None:
        line += " (no interval: a published preset carries no uncertainty)"
    else:
        line += (" (no interval: this fit has no run-interval calibration" if kind == "run"
                 else " (no interval: this fit has no bootstrap") + ")"
    console.print(f"{line}  [{source}]", highlight=False, markup=False)
    if "components" in out:
        from scalinglab.fit.interval_text import describe_sources  # noqa: PLC0415

        console.print(describe_sources(out["components"]), highlight=False, markup=False)
    print_guards(out.get("guards", []))


def frontier_command(
    fit: FitOpt = None,
    preset: PresetOpt = None,
    compute: Annotated[str, typer.Option(help="FLOPs, comma-separated (e.g. 5.76e23).")] = "",
    level: LevelOpt = 0.9,
    allow_far: AllowFarOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Compute-optimal N, D, tokens per parameter and loss at given training FLOPs."""
    law, result, source = load_law(fit, preset)
    if not compute:
        raise ScalingLabError("give --compute FLOPS (comma-separated for several)")
    budgets = [parse_float(c, "--compute") for c in compute.split(",")]
    if result is not None:
        frontiers = [result.frontier(c, level, allow_far=allow_far) for c in budgets]
    else:
        if not hasattr(law, "frontier"):
            raise ScalingLabError(f"the {law.name} law has no N-D frontier; use a Chinchilla law")
        from scalinglab.fit.guards import preset_range, question_guards  # noqa: PLC0415

        frontiers = []
        for c in budgets:
            point = law.frontier(c)
            frontiers.append({**{k: ({"value": v} if k not in ("C",) else v)
                                 for k, v in point.items()},
                              "guards": question_guards(law, {"N": point["N_opt"],
                                                              "D": point["D_opt"]},
                                                        preset_range(source), allow_far)})
    if as_json:
        print_json({"source": source, "frontier": frontiers})
        return
    show_frontier(frontiers, level)
    a = frontiers[0]["a"]["value"]
    console.print(f"N_opt ~ C^{a:.3f}, D_opt ~ C^{1 - a:.3f}  [{source}]", highlight=False,
                  markup=False)


def backtest_command(
    runs: Annotated[Path, typer.Argument(help="Run table: CSV or Parquet.")],
    cut_flops: Annotated[str | None, typer.Option(
        help="Fit on runs below these FLOPs (default without --cut-params: hold out the top "
             "compute level, or about the largest quarter of the runs).")] = None,
    cut_params: Annotated[str | None, typer.Option(help="Fit on runs below this N.")] = None,
    law: LawOpt = "auto",
    variable: VariableOpt = None,
    checkpoints_after: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    frontier_filter: FrontierFilterOpt = DEFAULT_FRONTIER,
    n_column: NColumnOpt = "n_params",
    columns: ColumnsOpt = None,
    derive_tokens: DeriveTokensOpt = False,
    derive_flops: DeriveFlopsOpt = False,
    drop_highest: DropOpt = 0,
    cuts: CutsOpt = None,
    levels: LevelsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit on small runs, predict the large ones, and report the error (vs a naive baseline)."""
    from scalinglab.fit.backtest import backtest  # noqa: PLC0415

    calibration = calibration_options(cuts, levels)
    frame = read_runs(runs, columns, derive_tokens, drop_highest, derive_flops, n_column,
                      as_json)
    result = backtest(frame, cut_flops=None if cut_flops is None else
                      parse_float(cut_flops, "--cut-flops"),
                      cut_params=None if cut_params is None else
                      parse_float(cut_params, "--cut-params"), law=law,
                      fit_kwargs={**row_options(checkpoints_after, frontier_filter, n_column,
                                                variable), **calibration})
    payload = result.to_dict()
    if as_json:
        print_json(payload)
        return
    table = result.per_run
    cols = [c for c in ("run_id", n_column, "flops", "loss", "predicted", "covered", "are",
                        "naive_are", "extrapolation")
            if c in table.columns]
    print_table(f"backtest: held-out runs ({result.fit.law.name} law fitted below the cut)",
                cols, table[cols].to_numpy().tolist())
    print_table("backtest summary (ARE: absolute relative error of the loss)",
                ["quantity", "value"],
                [(SUMMARY_LABELS.get(key, key.replace("_", " ")), value)
                 for key, value in payload["summary"].items()])
    if result.settings["cut_rule"] != "given":
        print_warnings([f"cut at C < {result.settings['cut_flops']:.3g} FLOPs "
                        f"({result.settings['cut_rule']}); --cut-flops or --cut-params "
                        f"chooses another"], label="note:")
    print_warnings(result.warnings)      # the fit's own warnings are among them ("fit: ...")


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


