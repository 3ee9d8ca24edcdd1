"""``scalinglab fit RUNS --task acc_<task>`` and ``predict --fit TASKFIT``: accuracy on the CLI.

The options live here; ``fit_cmds`` hands over to :func:`fit_task_command` when ``--task`` is
given and to :func:`predict_task_command` when ``--fit`` names a task fit.
"""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from scalinglab.cli.common import (
    console,
    fmt,
    parse_float,
    print_guards,
    print_json,
    print_table_notes,
)
from scalinglab.cli.terms import cli_terms
from scalinglab.errors import ScalingLabError

TaskOpt = Annotated[str | None, typer.Option(
    "--task", help="Fit the chain to this accuracy column (acc_<task>, fractions in [0, 1]) "
    "and predict accuracy instead of loss.")]
ChanceOpt = Annotated[str | None, typer.Option(
    "--chance", help="Chance accuracy of the task (fraction, e.g. 0.25 for 4 options); known "
    "for standard tasks (README).")]
ViaOpt = Annotated[str, typer.Option(
    "--via", help="With --task: loss (the validation loss), task_loss (task_loss_<task>), "
    "compute (accuracy against log10 compute) or auto (scored by nested backtests).")]
LossColumnOpt = Annotated[str, typer.Option(
    "--loss-column", help="With --task: the validation-loss column (nats/token).")]
AtLossOpt = Annotated[str | None, typer.Option(
    "--loss", help="Task fits: the target's measured loss (nats), to use the link alone.")]


#: ``scalinglab fit`` options the task chain uses; the others configure a loss fit only.
TASK_FIT_OPTIONS = frozenset({"runs", "task", "chance", "via", "loss_column", "bootstrap",
                              "level", "seed", "columns", "derive_tokens", "law", "out",
                              "as_json"})
#: Options that mean something only with --task.
TASK_ONLY_OPTIONS = frozenset({"chance", "via", "loss_column"})


def _declared_flags(command) -> dict[str, str]:
    """{parameter: its long flag} as the command's typer options declare them (``e_fixed`` is
    ``--E-fixed``, ``as_json`` is ``--json``)."""
    flags = {}
    for name, hint in typing.get_type_hints(command, include_extras=True).items():
        for info in getattr(hint, "__metadata__", ()):
            decls = list(getattr(info, "param_decls", None) or ())
            default = getattr(info, "default", None)   # typer.Option("--flag", ...) puts it here
            decls += [default] if isinstance(default, str) else []
            long = [d for d in decls if d.startswith("--")]
            if long:
                flags[name] = long[0]
    return flags


def check_task_options(command, given: dict) -> None:
    """Refuse options that a ``fit`` with (or without) ``--task`` would silently ignore.

    ``given``: the command's arguments; those equal to their defaults count as not given."""
    params = inspect.signature(command).parameters
    changed = [n for n, v in given.items() if n in params and v != params[n].default]
    declared = _declared_flags(command)
    flags = [declared.get(n, "--" + n.replace("_", "-")) for n in changed]
    if given.get("task") is None:
        only = [f for n, f in zip(changed, flags, strict=True) if n in TASK_ONLY_OPTIONS]
        if only:
            verb = "applies" if len(only) == 1 else "apply"
            raise ScalingLabError(f"{', '.join(only)} {verb} only to a task fit: add --task "
                                  f"acc_<task> (the accuracy column to predict)")
        return
    unused = [f for n, f in zip(changed, flags, strict=True) if n not in TASK_FIT_OPTIONS]
    if unused:
        verb, pronoun = ("configures", "it") if len(unused) == 1 else ("configure", "them")
        raise ScalingLabError(f"{', '.join(unused)} {verb} a loss fit, not used with --task "
                              f"(its step 1 is the loss law with its defaults); drop {pronoun}, "
                              f"or fit the loss alone without --task")


def is_task_fit(path: Path | None) -> bool:
    """Whether ``path`` holds a task fit (format scalinglab.taskfit)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        return json.loads(Path(path).read_text()).get("format") == "scalinglab.taskfit"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def fit_task_command(runs: Path, task: str, chance: str | None, via: str, loss_column: str,
                     bootstrap: int | None, level: float, seed: int, columns: str | None,
                     derive_tokens: bool, loss_options: dict[str, Any], out: Path | None,
                     as_json: bool) -> None:
    """Fit the task chain and print (or --json) what was fitted."""
    from scalinglab.fit.chain import DEFAULT_BOOTSTRAP, fit_task  # noqa: PLC0415
    from scalinglab.records import load_runs  # noqa: PLC0415

    frame = load_runs(runs, columns=columns, derive_tokens=derive_tokens, require=())
    print_table_notes(frame, as_json)
    level_chance = None if chance is None else parse_float(chance, "--chance", positive=False)
    result = fit_task(frame, task, chance=level_chance, via=via, loss_column=loss_column,
                      bootstrap=DEFAULT_BOOTSTRAP if bootstrap is None else bootstrap,
                      level=level, seed=seed, **loss_options)
    if out is not None:
        result.save(out)
    if as_json:
        payload = result.to_dict()
        for key in ("link_draws", "step1_draws"):
            payload.pop(key, None)
        if payload.get("loss_fit"):
            payload["loss_fit"].pop("bootstrap_params", None)
        print_json(payload)
        return
    for line in result.summary_lines():
        console.print(cli_terms(line), highlight=False, markup=False)
    if out is not None:
        console.print(f"wrote {out}", highlight=False, markup=False)


def predict_task_command(fit: Path, params: str | None, tokens: str | None,
                         compute: str | None, loss: str | None, level: float,
                         as_json: bool, allow_far: bool = False) -> None:
    """Predicted accuracy and its run interval at N, D (or C, or a measured loss)."""
    from scalinglab.fit.chain import TaskFit  # noqa: PLC0415

    result = TaskFit.load(fit)
    inputs: dict[str, float] = {}
    for name, value, flag in (("N", params, "--params"), ("D", tokens, "--tokens"),
                              ("C", compute, "--compute"), ("loss", loss, "--loss")):
        if value is not None:
            inputs[name] = parse_float(value, flag)
    if not inputs:
        raise ScalingLabError("give the target: --params and --tokens (or --compute, or --loss)")
    out = result.predict_interval(level, allow_far=allow_far, **inputs)
    if as_json:
        print_json({"source": str(fit), "inputs": inputs, **out})
        return
    where = ", ".join(f"{k}={fmt(v)}" for k, v in inputs.items())
    console.print(f"predicted {out['task']} at {where}: {out['accuracy']:.3f} "
                  f"({level:.0%} run interval {out['low']:.3f}-{out['high']:.3f}; chance "
                  f"{out['chance']:.3g})  [{fit}]", highlight=False, markup=False)
    if out["loss"] is not None:
        lo = out["loss"]
        console.print(f"through {lo['column']} {lo['loss']:.4f} nats ({level:.0%} run interval "
                      f"{lo['low']:.4f}-{lo['high']:.4f})", highlight=False, markup=False)
    elif out["via"] == "compute":
        console.print(f"direct fit in log10 compute: log10 C = {out['x']:.3f}",
                      highlight=False, markup=False)
    print_guards(out.get("guards", []))
