"""The self-contained HTML report: one file, figures inlined as SVG, nothing fetched.

:func:`write_report` renders :class:`~scalinglab.report.sources.ReportInputs` through the
Jinja2 template ``templates/report.html.j2``: a summary (fitted parameters with intervals, the
frontier at the target compute, the prediction and verdict when present), the figures with a
one-line caption each, the fit's warnings, the run table, the environment and the command that
reproduces the report.  A figure that cannot be drawn (its function missing, or raising because
the source lacks what it needs) is left out with a sentence saying why.  The file has no
``<script>``, no external stylesheet, font or image: the SVGs carry their glyphs as paths
(``svg.fonttype = "path"``) and their element ids are made unique per figure.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import math
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.auto import law_label
from scalinglab.report.figures import dropped_rows
from scalinglab.report.figures.compute import runs_at_six_nd
from scalinglab.report.frontier_section import frontier_section, isoflop_rows
from scalinglab.report.selection import selection_section
from scalinglab.report.sources import ReportInputs
from scalinglab.report.task_section import task_section
from scalinglab.text import one_line

#: packages whose versions the environment section lists
PACKAGES = ("scalinglab", "numpy", "scipy", "pandas", "matplotlib", "torch", "jinja2")
#: the reproduce command is wrapped (between arguments) at this many characters a line
COMMAND_WIDTH = 88
#: the run table shows at most this many rows (the rest are counted)
MAX_TABLE_ROWS = 400
TABLE_COLUMNS = ("run_id", "n_params", "n_params_total", "tokens", "flops", "loss",
                 "exact_loss", "final", "seed")
TABLE_HEADERS = {"run_id": "run", "n_params": "N (params)", "n_params_total": "N total (params)",
                 "tokens": "D (tokens)", "flops": "C (FLOPs)", "loss": "loss (nats/token)",
                 "exact_loss": "exact loss (nats/token)", "final": "final", "seed": "seed"}


@dataclass
class Figure:
    """One figure of the report: inline SVG, or the reason it is missing."""

    key: str
    title: str
    caption: str
    svg: str | None = None
    reason: str | None = None
    #: True when the figure function failed with an unexpected error (a bug), not with a
    #: :class:`ScalingLabError` saying the source lacks what the figure needs
    failed: bool = False


@dataclass
class ReportWritten:
    """What :func:`write_report` wrote: the path, the figures drawn and those left out."""

    path: Path
    figures: list[str] = field(default_factory=list)
    omitted: dict[str, str] = field(default_factory=dict)


def write_report(path: str | Path, inputs: ReportInputs, command: str | None = None,
                 title: str | None = None,
                 spell: Callable[[str], str] | None = None) -> ReportWritten:
    """Render the report of ``inputs`` to ``path`` (one self-contained HTML file).

    ``command`` is the exact command line that reproduces the report (shown verbatim).
    ``spell`` rewrites the warnings and notes (the command line passes its own spelling of the
    settings they name, ``--E-fixed`` for ``E_fixed``); the library's spelling without it.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: PLC0415

    figures = build_figures(inputs)
    env = Environment(loader=PackageLoader("scalinglab.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = fmt_number
    env.filters["pct"] = fmt_percent
    template = env.get_template("report.html.j2")
    context = _context(inputs, figures, command, title)
    if spell is not None:
        for key in ("warnings", "frontier_warnings", "notes"):
            context[key] = [spell(text) for text in context[key]]
    html = template.render(**context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return ReportWritten(path=path, figures=[f.key for f in figures if f.svg is not None],
                         omitted={f.key: f.reason or "" for f in figures if f.svg is None})


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def _loss_vs_compute_missing(runs, fit) -> str | None:
    if runs is None:
        return None if fit is not None else "the source has no runs and no fit"
    if "loss" not in runs.columns:      # a task table (Pythia's) may have scores and no loss
        return "the run table has no loss column (nats/token) and the source no loss law"
    return None


def build_figures(inputs: ReportInputs) -> list[Figure]:
    """Every figure the report can show, drawn as SVG or with the reason it is left out."""
    from scalinglab import report  # noqa: PLC0415  (the figure functions, looked up by name)

    fit, runs, fit_runs = inputs.fit, inputs.runs, inputs.rows_for_fit
    no_fit = "the source has no parametric (Approach 3) fit"
    no_rows = "the source carries no run table (pass --runs TABLE with a fit file)"
    target = inputs.target_compute
    specs: list[tuple[str, str, str, str | None, Callable[[Any], Any]]] = [
        ("loss_vs_compute", "Loss against compute",
         _compute_caption(fit, inputs.envelope) + _dropped_caption(inputs),
         _loss_vs_compute_missing(runs, fit),
         lambda f: f(runs=runs, fit=fit, envelope=inputs.envelope)),
        ("isoflop_profiles", "IsoFLOP profiles",
         "Loss against model size at each compute budget; the diamonds are each budget's best "
         "size, and they should move right as compute grows.",
         None if inputs.isoflop is not None else
         f"no IsoFLOP (Approach 2) result: {inputs.isoflop_error or 'none in the source'}",
         lambda f: f(inputs.isoflop, runs=runs)),
        ("optimal_allocation", "Compute-optimal allocation",
         "Compute-optimal parameters, tokens and tokens per parameter against compute, "
         "extrapolated to the target with bootstrap bands; compare the slopes with the "
         "published laws.",
         None if fit is not None or inputs.isoflop is not None else no_fit,
         lambda f: f(fit if fit is not None else inputs.isoflop, target_compute=target,
                     runs=fit_runs)),
        ("loss_contours", "Contours of the fitted loss",
         "The fitted L(N, D) with the runs coloured by measured loss; a run's colour should "
         "match the contour it sits on, and the efficient frontier cuts each iso-FLOP line "
         "at its lowest contour.",
         None if fit is not None else no_fit,
         lambda f: f(fit, runs=fit_runs)),
        ("prediction_vs_measurement", "Prediction before training against measurement",
         "The law fitted on the sweep, extrapolated to the validation run before it was "
         "trained; the measured loss should fall inside the predicted interval.",
         None if fit is not None and inputs.prediction is not None and runs is not None else
         "the source has no frozen prediction of a validation run (only `scalinglab demo` "
         "makes one)",
         lambda f: f(fit, fit_runs, inputs.prediction, measured=inputs.measured)),
        ("residuals", "Residuals of the fit",
         f"Log-loss residuals of the fitted rows against {_residual_axes(fit)}; a trend in "
         "the binned median means the law's form misses something.",
         no_fit if fit is None else no_rows if fit_runs is None else None,
         lambda f: f(fit, fit_runs)),
        ("backtest", "Backtest",
         "Error of held-out runs against how far the law was extrapolated, beside the naive "
         "baseline; the law should beat the baseline and its error grow slowly.",
         None if inputs.backtest is not None else
         "no backtest result in the source (`scalinglab backtest` makes one)",
         lambda f: f(inputs.backtest)),
    ]
    from scalinglab.report.task_figures import task_figure_specs  # noqa: PLC0415

    specs.extend(task_figure_specs(inputs))
    out = []
    for key, title, caption, missing, call in specs:
        figure = Figure(key, title, caption)
        func = getattr(report, key, None)
        if missing is not None:
            figure.reason = missing
        elif func is None:
            figure.reason = f"this scalinglab has no figure function report.{key}"
        else:
            try:
                figure.svg = figure_svg(call(func), key)
            except Exception as exc:  # noqa: BLE001  (a figure that fails is left out, not fatal)
                figure.reason = one_line(exc)
                figure.failed = not isinstance(exc, ScalingLabError)
        out.append(figure)
    return out


def _compute_caption(fit, envelope=None) -> str:
    """What Figure "loss against compute" shows: a frontier over sizes, or a law in C alone."""
    if fit is not None and tuple(fit.law.variables) == ("C",):
        return ("Each run's loss against its training compute, with the fitted L(C) and its "
                "band; the runs should scatter about the curve without a trend.")
    at = " (C = 6ND, the compute the law counts)" if runs_at_six_nd(fit, envelope) else ""
    return (f"Each run's loss against its training compute{at}, coloured by model size; the "
            f"fitted compute-optimal frontier should be the lower envelope that no run "
            f"crosses.")


def _residual_axes(fit) -> str:
    """The variables the residuals figure plots against (N and D, else the law's own)."""
    if fit is None:
        return "the law's inputs"
    variables = [v for v in ("N", "D") if v in fit.law.variables] or list(fit.law.variables)
    names = {"N": "N (parameters)", "D": "D (tokens)", "C": "C (FLOPs)"}
    return " and ".join(names.get(v, v) for v in variables)


def _dropped_caption(inputs: ReportInputs) -> str:
    dropped = _dropped(inputs)
    if dropped is None:
        return ""
    return (f" The fit used {dropped['used']} of {dropped['total']} rows; the "
            f"{dropped['count']} it dropped ({'; '.join(dropped['reasons'])}) are crosses.")


def figure_svg(fig: Any, prefix: str) -> str:
    """A matplotlib Figure as an inline ``<svg>`` element with ids prefixed by ``prefix``.

    Glyphs are drawn as paths (no font files), the date stamp is dropped and the id hash is
    salted with ``prefix`` so the same figure gives the same bytes.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": prefix}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    # at most its drawn size, narrower on a narrow page; the viewBox keeps the aspect ratio
    return re.sub(r'<svg([^>]*?)\swidth="([^"]+)"\s+height="[^"]+"',
                  r'<svg\1 class="figure" role="img" style="max-width: \2"', text, count=1)



# ------------------------------------------------------------------------------------------------
# the rest of the page
# ------------------------------------------------------------------------------------------------
def _context(inputs: ReportInputs, figures: list[Figure], command: str | None,
             title: str | None) -> dict[str, Any]:
    fit = inputs.fit
    level = fit.level if fit is not None else (inputs.isoflop.level if inputs.isoflop else 0.9)
    frontier = frontier_section(inputs, level)     # rows and the warnings of one answer
    return {
        "title": title or _default_title(inputs),
        "source": inputs.source,
        "kind": inputs.kind,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "level": level,
        "fit": _fit_section(fit, level),
        "selection": selection_section(fit),
        "task": task_section(inputs.task_fit),
        "frontier": frontier[0],
        "frontier_warnings": frontier[1],
        "target_compute": inputs.target_compute,
        "target_note": inputs.target_note,
        "isoflop": isoflop_rows(inputs.isoflop, level),
        "verdict": _verdict(inputs),
        "figures": [f for f in figures if f.svg is not None],
        "omitted": [f for f in figures if f.svg is None],
        "warnings": _warnings(inputs),
        "notes": inputs.notes,
        "table": _run_table(inputs.runs),
        "environment": _environment(inputs),
        "command": None if command is None else format_command(command),
        "dropped": _dropped(inputs),
    }


def _default_title(inputs: ReportInputs) -> str:
    name = Path(inputs.source).name or inputs.source
    if inputs.kind == "demo":
        corpus = inputs.summary.corpus if inputs.summary is not None else None
        return f"Scaling-law study: {corpus}" if corpus else f"Scaling-law study: {name}"
    return f"Scaling-law fit: {name}"


def _fit_section(fit: Any, level: float) -> dict[str, Any] | None:
    if fit is None:
        return None
    table = fit.summary(level)
    rows = [{"name": r["parameter"], "value": r["value"], "low": r["low"], "high": r["high"],
             "unit": r["unit"]} for r in table.to_dict("records")]
    res = fit.residuals or {}
    return {"law": law_label(fit), "n_points": fit.n_points, "n_runs": fit.n_runs,
            "n_column": fit.columns.get("N", "-"), "rows": rows,
            "formula": _formula(fit.law.name),
            "rmse": res.get("rmse_log"), "max_abs": res.get("max_abs_log"),
            "objective": fit.objective, "huber_delta": fit.settings.huber_delta,
            "bootstrap": 0 if fit.bootstrap_params is None else len(fit.bootstrap_params)}


def _formula(name: str) -> str:
    return {"chinchilla": "L(N, D) = E + A / N^alpha + B / D^beta"}.get(name, "")


def _verdict(inputs: ReportInputs) -> dict[str, Any] | None:
    summary, prediction = inputs.summary, inputs.prediction
    if prediction is None and summary is None:
        return None
    frozen = prediction or {}
    pred = (dataclasses.asdict(summary.prediction)
            if summary is not None and summary.prediction is not None else frozen)
    out: dict[str, Any] = {"loss": pred.get("loss"), "low": pred.get("low"),
                           "high": pred.get("high"), "level": pred.get("level"),
                           "kind": pred.get("kind", "law"), "measured": inputs.measured,
                           "flops": frozen.get("flops"), "n_params": frozen.get("n_params"),
                           "tokens": frozen.get("tokens"), "relative_error": None,
                           "inside": None, "factor": None, "loss_column": "loss",
                           "backtest": {}}
    if summary is None:
        return out
    out.update({"relative_error": summary.relative_error, "inside": summary.inside_interval,
                "factor": summary.extrapolation_factor,
                "flops": out["flops"] or summary.validation_flops,
                "loss_column": summary.loss_column,
                "backtest": summary.within_sweep_backtest or {},
                "tasks": [dataclasses.asdict(t) for t in summary.tasks or []]})
    if summary.exact is not None:
        out.update({"exact_best_loss": summary.exact.exact_best_loss,
                    "fitted_E": summary.exact.fitted_E,
                    "fitted_E_interval": summary.exact.fitted_E_interval})
    return out


def _dropped(inputs: ReportInputs) -> dict[str, Any] | None:
    """The rows the parametric fit dropped and why (run ids in natural order), or None."""
    if inputs.fit is None:
        return None
    rows = dropped_rows(inputs.fit)
    if rows.empty:
        return None
    return {"count": len(rows), "used": inputs.fit.n_points, "marked": inputs.runs is not None,
            "total": inputs.fit.n_points + len(rows),
            "reasons": list(dict.fromkeys(rows["reason"])),
            "rows": rows.to_dict("records")}


def _warnings(inputs: ReportInputs) -> list[str]:
    out: list[str] = []
    if inputs.fit is not None:
        out += [f"Approach 3: {w}" for w in inputs.fit.warnings]
    if inputs.isoflop is not None:
        out += [f"Approach 2: {w}" for w in inputs.isoflop.warnings]
    summary = inputs.summary
    validation = (summary.validation.warnings or []) if summary and summary.validation else []
    out += [f"validation run: {w}" for w in validation]
    return list(dict.fromkeys(out))


def _run_table(runs: pd.DataFrame | None) -> dict[str, Any] | None:
    if runs is None or runs.empty:
        return None
    cols = [c for c in TABLE_COLUMNS if c in runs.columns]
    frame = runs[cols]
    if "flops" in frame.columns:
        frame = frame.sort_values(["flops"] + (["n_params"] if "n_params" in cols else []),
                                  kind="stable")
    shown = frame.head(MAX_TABLE_ROWS)
    rows = []
    for record in shown.to_dict("records"):
        rows.append([_cell(record[c], c) for c in cols])
    return {"headers": [TABLE_HEADERS[c] for c in cols], "rows": rows,
            "numeric": [c not in ("run_id",) for c in cols],
            "total": len(frame), "shown": len(shown)}


def _cell(value: Any, column: str) -> str:
    if column in ("run_id",):
        return str(value)
    if column == "final":
        return "yes" if bool(value) else "no"
    if column == "seed":
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else f"{int(value)}"
    if column == "loss" or column == "exact_loss":
        return fmt_number(value, 5)
    return fmt_number(value)


def _environment(inputs: ReportInputs) -> list[tuple[str, str]]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    rows = [("packages", ", ".join(versions)),
            ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
            ("hardware", f"{_cpu_name()}, {os.cpu_count()} logical CPUs; "
                         f"{platform.system()} {platform.release()} {platform.machine()}")]
    if inputs.seeds:
        rows.append(("seeds", ", ".join(f"{k} {v}" for k, v in inputs.seeds.items())))
    if inputs.wall_seconds is not None:
        what = "the demo, end to end" if inputs.kind == "demo" else "the fits behind this report"
        rows.append(("wall time", f"{inputs.wall_seconds:.1f} s ({what})"))
    rows.append(("source", inputs.source))
    return rows


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ------------------------------------------------------------------------------------------------
# number formatting (Jinja filters)
# ------------------------------------------------------------------------------------------------
def fmt_number(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; '–' for missing or non-finite values."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not np.isfinite(x):
        return "–"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{x:.{digits}g}"


def fmt_percent(value: Any, digits: int = 2) -> str:
    """A fraction as a signed percentage (0.0068 -> '+0.68%')."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{x * 100:+.{digits}f}%" if np.isfinite(x) else "–"


def format_command(command: str, width: int = COMMAND_WIDTH) -> str:
    """``command`` as shell lines of at most ``width`` characters, broken only between
    arguments (a flag stays with its value) and continued with a backslash, so it still
    pastes into a shell; a command that does not parse as shell words is returned as it is."""
    import shlex  # noqa: PLC0415

    try:
        words = shlex.split(command)
    except ValueError:
        return command
    units: list[str] = []
    for word in words:
        quoted = shlex.quote(word)
        if units and not word.startswith("-") and units[-1].startswith("-") \
                and " " not in units[-1]:
            units[-1] += " " + quoted  # a flag and its value
        else:
            units.append(quoted)
    lines = [""]
    for unit in units:
        if lines[-1] and len(lines[-1]) + 1 + len(unit) > width:
            lines.append("")
        lines[-1] = f"{lines[-1]} {unit}" if lines[-1] else unit
    return " \\\n    ".join(lines)


def command_line(argv: list[str] | None = None) -> str:
    """The command that was run, as the user would type it (program name ``scalinglab``)."""
    import shlex  # noqa: PLC0415

    argv = list(sys.argv if argv is None else argv)
    return shlex.join(["scalinglab", *argv[1:]])
