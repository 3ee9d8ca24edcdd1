"""The command line's spelling of the library's messages.

The library speaks Python (``frontier_filter=None``, ``law='power', variable='C'``,
``give cut_flops (FLOPs) or cut_params``, ``columns={'D': 'tokens_seen'}``): that is what an
API user types.  The command line rewrites those spellings into its flags
(``--frontier-filter none``, ``--law power --variable C``, ``--cut-flops``,
``--columns 'D=tokens_seen'``) before printing an error, warning or note, so neither side
reads the other's syntax.  One table, :data:`FLAGS`, maps each API setting to its flag; an
error that carries the setting it is about (``exc.field``) has that name rewritten too.
"""

from __future__ import annotations

import ast
import re
from typing import Any

#: API keyword -> command-line flag, for every setting that both spell.
FLAGS: dict[str, str] = {
    "frontier_filter": "--frontier-filter", "checkpoints_after": "--checkpoints-after",
    "law": "--law", "variable": "--variable", "n_column": "--n-column",
    "huber_delta": "--huber-delta", "method": "--method", "E_fixed": "--E-fixed",
    "E_bounds": "--E-bounds", "E_prior": "--E-prior", "bound_E_below_min_loss": "--bound-E",
    "weights": "--weights", "bootstrap": "--bootstrap", "level": "--level", "seed": "--seed",
    "approach": "--approach", "budgets": "--budgets", "profile": "--profile",
    "cut_flops": "--cut-flops", "cut_params": "--cut-params", "columns": "--columns",
    "derive_tokens": "--derive-tokens", "derive_flops": "--derive-flops",
    "drop_highest": "--drop-highest", "target_flops": "--compute",
    "calibration_cuts": "--cuts", "levels": "--levels", "irreducible": "--no-irreducible", "runs": "--runs",
    "kind": "--kind", "hparams": "--hparams", "loss_column": "--loss-column", "task": "--task",
}

#: Flags that take no value: ``name=True`` is the flag alone.
_SWITCHES = {"bound_E_below_min_loss", "derive_tokens", "derive_flops"}

_VALUE = r"""(?:'[^']*'|"[^"]*"|\([^)]*\)|\[[^\]]*\]|\{[^}]*\}|[^\s,;)]+)"""
_ASSIGNMENT = re.compile(r"\b(" + "|".join(sorted(FLAGS, key=len, reverse=True)) + r")=("
                         + _VALUE + r")?")
#: Settings whose bare name is unmistakably Python (an underscore, or E_ prefix): rewritten
#: wherever they stand as words; plain words such as "law" or "level" only with ``=``.
_BARE = re.compile(r"(?<![\w-])(" + "|".join(sorted((k for k in FLAGS if "_" in k), key=len,
                                                    reverse=True)) + r")\b(?!=)")


#: API arguments the command line has no flag for: the alternatives they offer are dropped.
_API_ONLY = [(re.compile(r"runs, an envelope or c_range\b"), "runs= or an envelope"),
             (re.compile(r"\s+or c_range=?(?: \(FLOPs\))?"), ""),
             (re.compile(r"\s+or pass drop_edge_winners=False"), ""),
             (re.compile(r"with calibrate=False or"), "without calibration or")]


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")


def _shell_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(_shell_value(v) for v in value)
    if isinstance(value, dict):
        pairs = ",".join(f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in value.items())
        return f"'{pairs}'"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag(match: re.Match[str]) -> str:
    name, raw = match.group(1), match.group(2)
    flag = FLAGS[name]
    if raw is None:  # ``runs= or c_range=``: the option itself
        return flag
    value = _literal(raw)
    if name in _SWITCHES and value is True:
        return flag
    if name == "irreducible":
        return flag if value is False else "(without --no-irreducible)"
    return f"{flag} {_shell_value(value)}"


def cli_terms(message: str, field: str | None = None) -> str:
    """``message`` with the library's Python spellings replaced by command-line flags."""
    text = message
    for pattern, replacement in _API_ONLY:
        text = pattern.sub(replacement, text)
    text = _ASSIGNMENT.sub(_flag, text)
    text = _BARE.sub(lambda m: FLAGS[m.group(1)], text)
    text = re.sub(r"(--[\w-]+ [^\s,;)]+), (?=--)", r"\1 ", text)  # one command line
    if field is not None and field in FLAGS and "_" not in field:
        text = re.sub(rf"(?<![\w-]){re.escape(field)}\b", FLAGS[field], text, count=1)
    return text
