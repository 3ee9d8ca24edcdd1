"""Fitting one route of the task chain, and choosing the route by nested in-data backtests.

A route is ``loss`` or ``task_loss`` (step 1: the loss law on N, D; step 2: the link in that
loss) or ``compute`` (the link in log10 compute, no step 1).  :func:`choose_route` fits every
available route below compute cuts inside the data, predicts the rows above each cut and keeps
the route with the lowest mean absolute error -- the same kind of in-data backtest that scores
the loss laws (:mod:`scalinglab.fit.intervals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.fit.linkfit import fit_link_params, free_parameters, link_scatter
from scalinglab.fit.tasktable import has_scale, log10_compute, task_loss_column
from scalinglab.laws.links import LINK_FORMS, TaskLink

#: Huber's delta (log loss) at which the summed Huber loss is least squares for any residual
#: under 100%
LEAST_SQUARES_DELTA = 1.0
#: nested backtests: cut at these quantiles of the rows' log10 compute, fit below, score above
SELECTION_QUANTILES = (0.6, 0.8)
#: routes in order of preference when the backtests cannot tell (all fail, or ties)
ROUTE_ORDER = ("loss", "task_loss", "compute")
#: what each route passes through, in words (the fit's summary and the report)
ROUTE_WORDS = {"loss": "the validation loss", "task_loss": "the task loss",
               "compute": "nothing: accuracy against log10 compute directly"}
#: step-1 laws tried for a loss route when the caller does not name one: ``via`` alone is the
#: Chinchilla L(N, D); ``via:C`` the single-variable L(C) = E + A C^-alpha, which a ladder
#: whose runs share one token count (final models of a family) determines where L(N, D) is
#: degenerate (scalinglab.fit's own remedy for that warning); ``via:C-lsq`` the same L(C)
#: fitted by least squares.  The default Huber fit caps delta at 1e-2 (scalinglab.fit.huber),
#: so where the rows scatter by several percent around one law -- a table pooling
#: architectures or tokenizers -- it is in effect a least-absolute-deviations fit, which a
#: three-parameter law satisfies through three of the rows: on the Pile's eight small final
#: models (three architectures) it put E at 0 and predicted GPT-NeoX-20B's loss 26% low, where
#: least squares (E = 3.06) is 2.4% off on average over the larger models.  Which estimator a
#: table gets is left to the backtests, as the route is (bench/README.md, downstream.py).
STEP1_LAWS: dict[str, dict[str, Any]] = {
    "": {}, "C": {"law": "power", "variable": "C"},
    "C-lsq": {"law": "power", "variable": "C", "huber_delta": LEAST_SQUARES_DELTA}}
#: each step-1 law of :data:`STEP1_LAWS`, in words
STEP1_WORDS = {"": "the loss law's default (chosen by its own backtests)",
               "C": "power law in C (Huber fit)", "C-lsq": "power law in C (least squares)"}


def split_label(label: str, loss_options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"loss:C"`` -> ("loss", the loss options with the power law in C)."""
    via, _, law = label.partition(":")
    return via, {**loss_options, **STEP1_LAWS[law]}


def route_labels(routes: list[str], loss_options: dict[str, Any], has_scale: bool) -> list[str]:
    """Every (route, step-1 law) candidate: L(N, D), L(C) and L(C) by least squares for loss
    routes unless a law (or Huber's delta) is given."""
    out = []
    for via in routes:
        out.append(via)
        if via != "compute" and has_scale and loss_options.get("law", "auto") == "auto":
            out.append(f"{via}:C")
            if "huber_delta" not in loss_options:   # an estimator the user chose is kept
                out.append(f"{via}:C-lsq")
    return out


@dataclass
class RouteFit:
    """One fitted route: the link, its scatter, step 1 (or None) and the step-2 rows."""

    via: str
    link: TaskLink
    scatter: float
    loss_fit: Any
    intermediate: str | None
    x: np.ndarray
    acc: np.ndarray
    groups: np.ndarray
    units: np.ndarray
    step1_frame: pd.DataFrame | None


def intermediate_column(via: str, column: str, loss_column: str) -> str | None:
    return {"loss": loss_column, "task_loss": task_loss_column(column), "compute": None}[via]


def step1_table(frame: pd.DataFrame, intermediate: str) -> pd.DataFrame:
    """Rows usable by the loss law: positive loss, parameters and tokens; loss in ``loss``."""
    out = frame.copy()
    for col in (intermediate, "n_params", "tokens"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    out = out[(out[intermediate] > 0) & (out["n_params"] > 0) & (out["tokens"] > 0)]
    if intermediate != "loss":
        out = out.drop(columns=["loss"], errors="ignore").rename(columns={intermediate: "loss"})
    if "run_id" not in out.columns:
        out["run_id"] = [f"row{i}" for i in range(len(out))]
    if "flops" not in out.columns:                  # for the L(C) step-1 law: C = 6 N D
        out["flops"] = 6.0 * out["n_params"] * out["tokens"]
    return out.reset_index(drop=True)


def step2_rows(frame: pd.DataFrame, column: str, via: str, intermediate: str | None):
    """(x, acc, mask) of the rows the link is fitted to."""
    acc = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    if via == "compute":
        x = log10_compute(frame)
    else:
        x = pd.to_numeric(frame[intermediate], errors="coerce").to_numpy(dtype=float)
        x = np.where(x > 0, x, np.nan)
    mask = np.isfinite(x) & np.isfinite(acc)
    return x[mask], acc[mask], mask


#: step-1 fits are shared by the tasks of one table (same rows, weights and options): a small
#: cache keyed by the content of the columns the loss law reads
_STEP1_CACHE: dict[tuple, Any] = {}
STEP1_CACHE_SIZE = 512


def fit_loss_law(table: pd.DataFrame, loss_options: dict[str, Any], **extra: Any):
    """Step 1 through the public entry point (keyword overrides only); cached by content."""
    import copy  # noqa: PLC0415

    from scalinglab.fit.auto import fit_auto  # noqa: PLC0415
    from scalinglab.fit.parametric import fit_parametric  # noqa: PLC0415

    options = {**loss_options, **extra}
    cols = [c for c in ("run_id", "n_params", "n_params_total", "tokens", "flops", "loss",
                        "final", "_boot_weight") if c in table.columns]
    key = (tuple(pd.util.hash_pandas_object(table[cols], index=False).tolist()),
           repr(sorted(options.items())))
    if key not in _STEP1_CACHE:
        if len(_STEP1_CACHE) >= STEP1_CACHE_SIZE:
            _STEP1_CACHE.pop(next(iter(_STEP1_CACHE)))
        # the loss fit of scalinglab.fit (law="auto" by default) without the API module, so
        # that the API's task hook and this step do not import each other
        auto = options.get("law", "auto") == "auto"
        rest = {k: v for k, v in options.items() if not (auto and k == "law")}
        _STEP1_CACHE[key] = fit_auto(table, None, **rest) if auto else fit_parametric(table,
                                                                                     **rest)
    return copy.deepcopy(_STEP1_CACHE[key])


def fit_route(frame: pd.DataFrame, column: str, chance: float, via: str, form: str,
              loss_column: str, loss_options: dict[str, Any], calibrate: bool) -> RouteFit:
    """Fit step 1 (for loss routes) and the link of ``via`` to ``frame``."""
    intermediate = intermediate_column(via, column, loss_column)
    x, acc, mask = step2_rows(frame, column, via, intermediate)
    if len(x) < free_parameters(form, chance) + 1:
        raise ScalingLabError(f"{column}: only {len(x)} rows have both the accuracy and "
                              f"{intermediate or 'compute'}; the link needs at least "
                              f"{free_parameters(form, chance) + 1}")
    loss_fit, table = None, None
    if via != "compute" and has_scale(frame):
        table = step1_table(frame, intermediate)
        loss_fit = fit_loss_law(table, loss_options, calibrate=calibrate, bootstrap=0)
    units = frame["_unit"].to_numpy()[mask] if "_unit" in frame.columns else np.arange(len(x))
    params = fit_link_params(x, acc, chance, form, decreasing=via != "compute", units=units)
    link = TaskLink(form=form, variable="log10_flops" if via == "compute" else "loss",
                    chance=chance, ceiling=float(params[0]), slope=float(params[1]),
                    midpoint=float(params[2]), floor=float(params[3]))
    scatter = link_scatter(x, acc, params, chance, free_parameters(form, chance))
    groups = (pd.factorize(frame["run_id"].astype(str))[0][mask] if "run_id" in frame.columns
              else np.arange(len(x)))
    return RouteFit(via, link, scatter, loss_fit, intermediate, x, acc, groups, units, table)


def law_inputs(loss_fit, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The step-1 law's inputs (N, D or C) read from ``frame`` by the fit's column mapping."""
    return {v: pd.to_numeric(frame[loss_fit.columns[v]], errors="coerce").to_numpy(dtype=float)
            for v in loss_fit.law.variables}


def route_predictions(route: RouteFit, frame: pd.DataFrame) -> np.ndarray:
    """Predicted accuracy of ``route`` at the rows of ``frame`` (from N, D or compute alone)."""
    if "flops" not in frame.columns and {"n_params", "tokens"} <= set(frame.columns):
        frame = frame.assign(flops=6.0 * frame["n_params"] * frame["tokens"])
    if route.via == "compute":
        x = log10_compute(frame)
    elif route.loss_fit is None:
        raise ScalingLabError("this link has no loss law (no n_params/tokens): give a loss")
    else:
        x = np.asarray(route.loss_fit.predict(**law_inputs(route.loss_fit, frame)), dtype=float)
    return np.asarray(route.link.predict(x), dtype=float)


def backtest_axis(frame: pd.DataFrame, loss_column: str) -> tuple[np.ndarray, str]:
    """The direction the backtests hold out along: log10 compute where the table has it, else
    minus the validation loss (a table without scale is cut by its losses: fit the higher
    losses, predict the lowest, as the link alone is used there)."""
    logc = log10_compute(frame) if has_scale(frame) or "flops" in frame.columns else None
    if logc is not None and np.isfinite(logc).sum() >= 3:
        return logc, "log10_flops"
    if loss_column in frame.columns:
        loss = pd.to_numeric(frame[loss_column], errors="coerce").to_numpy(dtype=float)
        return -np.where(loss > 0, loss, np.nan), f"-{loss_column}"
    return np.full(len(frame), np.nan), "none"


def choose_route(frame: pd.DataFrame, column: str, chance: float, routes: list[str], form: str,
                 loss_column: str, loss_options: dict[str, Any]) -> dict[str, Any]:
    """Score route labels (``via`` or ``via:C``) by nested backtests (MAE in accuracy points);
    pick the lowest.  Also records the chosen route's normalised backtest errors (for the
    interval's calibration) and the routes the backtests cannot tell from it
    (:mod:`scalinglab.fit.chaincalib`)."""
    from scalinglab.fit.chaincalib import backtest_record  # noqa: PLC0415

    axis, axis_name = backtest_axis(frame, loss_column)
    acc = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    usable = np.isfinite(axis) & np.isfinite(acc)
    cuts = np.quantile(axis[usable], SELECTION_QUANTILES) if usable.any() else []
    runs: dict[str, list[Backtest | None]] = {r: [] for r in routes}
    for cut in cuts:
        below, above = frame[usable & (axis < cut)], frame[usable & (axis >= cut)]
        for r in routes:
            runs[r].append(backtest_route(below, above, column, chance, r, form, loss_column,
                                          loss_options))
    table = np.array([[b.mae_points if b is not None else np.nan for b in runs[r]]
                      for r in routes]).reshape(len(routes), len(cuts))   # routes x cuts
    viable = np.all(np.isfinite(table), axis=1) if len(cuts) else np.zeros(len(routes), bool)
    if len(routes) == 1:
        chosen, method = routes[0], "only route available"
        mae = {routes[0]: float(np.mean(table[0])) if viable[0] else float("nan")}
    elif viable.any():
        mae = {r: float(np.mean(table[i])) if viable[i] else float("inf")
               for i, r in enumerate(routes)}
        chosen = min(routes, key=lambda r: (mae[r], ROUTE_ORDER.index(r.partition(":")[0]),
                                            r))
        method = f"lowest MAE over {len(cuts)} nested backtests"
    else:
        mae = {r: float("nan") for r in routes}
        chosen = min(routes, key=lambda r: (ROUTE_ORDER.index(r.partition(":")[0]), r))
        method = "backtests failed; preference order loss > task_loss > compute"
    n_backtests = len(cuts) if viable.any() else 0
    reach = link_reach(frame, column, chosen.partition(":")[0], loss_column,
                       np.where(usable, axis, np.nan), cuts)
    out = {"chosen": chosen, "mae_points": mae if len(routes) > 1 or viable.any() else {},
           "n_backtests": n_backtests, "cuts_log10_flops": [float(c) for c in cuts]
           if axis_name == "log10_flops" else [], "backtest_axis": axis_name,
           "method": method, "link_reach": reach}
    out.update(backtest_record(runs, chosen, viable.any()))
    out["_tests"] = runs[chosen]          # for choose_link; not kept in the fit
    return out


#: link forms the backtests choose between when ``link="auto"``: the first (the floor at
#: chance) unless the second (the floor fitted below it, one parameter more) is clearly better
LINK_CANDIDATES = ("sigmoid_pm", "sigmoid_pm_floor")
#: ... and only when its backtests' mean |error| is lower by at least this many items of the
#: benchmark (1/n each): a benchmark of n questions scores in steps of one item, and a gain
#: below that step is not one its scores can show.  On the downstream development data the
#: floor's gains of 0.01-0.02 points (OLMo's ARC-Easy and PIQA, Pythia's ARC-Easy; an item is
#: 0.04-0.05 points there) were many standard errors from zero in the smooth, correlated
#: errors of one run's checkpoints, and each cost 0.3-0.4 points at the targets
#: (bench/downstream.py --floor-margin, bench/README.md).
FLOOR_MARGIN_ITEMS = 1.0


def choose_link(frame: pd.DataFrame, column: str, chance: float, routes: list[str], link: str,
                loss_column: str, loss_options: dict[str, Any], items: int | None = None
                ) -> tuple[str, dict[str, Any]]:
    """The link form and route, by the same nested backtests (:func:`choose_route`).

    ``link="auto"`` scores both forms of :data:`LINK_CANDIDATES` (each with its own best route)
    and takes the fitted floor only when its backtest errors beat the chance floor's by more
    than one paired standard error (:func:`scalinglab.fit.chaincalib.clearly_better`, the rule
    that also decides which routes the backtests cannot tell apart) and, on a benchmark of
    ``items`` questions, by at least one item (:func:`floor_margin`).  A named form is kept
    as it is.  The selection records each form's MAE (``link_forms``, accuracy points)."""
    from scalinglab.fit.chaincalib import clearly_better  # noqa: PLC0415

    if link != "auto" and link not in LINK_FORMS:
        raise ScalingLabError(f"link must be auto or one of {', '.join(LINK_FORMS)}, "
                              f"got {link!r}")
    forms = LINK_CANDIDATES if link == "auto" else (link,)
    selections = {f: choose_route(frame, column, chance, routes, f, loss_column, loss_options)
                  for f in forms}
    tests = {f: sel.pop("_tests") for f, sel in selections.items()}
    chosen = forms[0]
    for form in forms[1:]:
        if clearly_better(tests[form], tests[chosen], margin=floor_margin(items)):
            chosen = form
    selection = selections[chosen]
    selection["link_forms"] = {f: sel["mae_points"].get(sel["chosen"], float("nan"))
                               for f, sel in selections.items()}
    selection["link_method"] = ("the fitted floor where its backtests are better by more than "
                                "one paired standard error and one item"
                                if len(forms) > 1 else "given")
    return chosen, selection


def floor_margin(items: int | None) -> float:
    """The least mean |error| gain (fraction) for which the fitted floor is worth its parameter:
    :data:`FLOOR_MARGIN_ITEMS` items of an ``items``-question benchmark (0 when the table shows
    no item grid)."""
    return 0.0 if not items else FLOOR_MARGIN_ITEMS / items


def link_reach(frame: pd.DataFrame, column: str, via: str, loss_column: str,
               axis: np.ndarray, cuts) -> float | None:
    """How far the backtests carried the link beyond the rows they fitted: the largest step of a
    held-out row's x past the fitted rows' best x, over the cuts (nats of loss below the
    lowest fitted loss, or decades of compute past the largest); None without a usable cut."""
    intermediate = intermediate_column(via, column, loss_column)
    if intermediate is not None and intermediate not in frame.columns:
        return None
    x, _, rows = step2_rows(frame, column, via, intermediate)   # the link's own rows and x
    x, axis = (x if intermediate is None else -x), axis[rows]   # larger x: further out
    ok = np.isfinite(axis)
    steps = [float(np.max(x[ok & (axis >= c)]) - np.max(x[ok & (axis < c)]))
             for c in cuts if (ok & (axis < c)).any() and (ok & (axis >= c)).any()]
    return max(max(steps), 0.0) if steps else None


@dataclass
class Backtest:
    """One route fitted below a cut and scored above it: signed errors (pred - true, fraction)
    at the held-out rows (NaN where it could not predict) and the fit's run scatter (fraction)."""

    errors: np.ndarray
    scatter: float

    @property
    def mae_points(self) -> float:
        ok = np.isfinite(self.errors)
        return float(100 * np.mean(np.abs(self.errors[ok]))) if ok.any() else float("nan")


def backtest_route(below: pd.DataFrame, above: pd.DataFrame, column: str, chance: float,
                   via: str, form: str, loss_column: str, loss_options: dict[str, Any]
                   ) -> Backtest | None:
    """Fit route label ``via`` on ``below``, predict ``above`` (None where the fit fails).

    A table without scale (no step 1) predicts from the held-out rows' measured intermediate,
    as the link alone is used there."""
    if len(above) == 0:
        return None
    via, options = split_label(via, loss_options)
    try:
        route = fit_route(below, column, chance, via, form, loss_column, options,
                          calibrate=False)
        if route.via != "compute" and route.loss_fit is None:
            x = pd.to_numeric(above[route.intermediate], errors="coerce").to_numpy(dtype=float)
            pred = np.asarray(route.link.predict(np.where(x > 0, x, np.nan)), dtype=float)
        else:
            pred = route_predictions(route, above)
    except (ScalingLabError, ValueError, FloatingPointError):
        return None
    truth = pd.to_numeric(above[column], errors="coerce").to_numpy(dtype=float)
    errors = pred - truth
    if not np.isfinite(errors).any():
        return None
    return Backtest(errors=errors, scatter=float(route.scatter))


def _backtest_error(below: pd.DataFrame, above: pd.DataFrame, column: str, chance: float,
                    via: str, form: str, loss_column: str, loss_options: dict[str, Any]
                    ) -> float:
    """MAE (accuracy points) of ``via`` fitted on ``below`` at the rows of ``above``."""
    bt = backtest_route(below, above, column, chance, via, form, loss_column, loss_options)
    return float("nan") if bt is None else bt.mae_points
