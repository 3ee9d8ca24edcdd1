"""Published scaling laws, as data with provenance.

Each preset records the paper, where in it the numbers are printed, what N counts, and the
dataset/tokenizer the loss is measured on -- a loss in nats/token is only comparable between
laws fitted on the same data with the same tokenizer.

Kaplan et al. 2020 (arXiv:2001.08361): Eqs. 1.1-1.3 and Table 5 (L(N): alpha_N = 0.076,
N_c = 8.8e13 non-embedding parameters; L(D): alpha_D = 0.095, D_c = 5.4e13 tokens; L(C_min):
alpha_C^min = 0.050, C_c^min = 3.1e8 PF-days), Eq. 1.5 / Table 2 for the joint L(N, D)
(alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13).  WebText2, GPT-2 BPE.

Hoffmann et al. 2022 (arXiv:2203.15556), Eq. 4 (rounded) and the unrounded values quoted by
Besiroglu et al. 2024 from the paper's TeX source.  MassiveText, SentencePiece, N = all params.

Besiroglu, Erdil, Barnett & You 2024, "Chinchilla Scaling: A replication attempt"
(arXiv:2404.10102), Eq. 4 (their refit of Hoffmann's Figure 4 data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scalinglab.constants import PF_DAY_FLOPS
from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Law
from scalinglab.laws.forms import Chinchilla, KaplanND, PowerLaw


@dataclass(frozen=True)
class Preset:
    """A published law: a factory for the law plus where its numbers come from."""

    name: str
    make: Callable[[], Law]
    paper: str
    where: str
    n_convention: str
    data: str
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def law(self) -> Law:
        return self.make()


PRESETS: dict[str, Preset] = {}


def _register(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


KAPLAN_2020 = "Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361)"
HOFFMANN_2022 = ("Hoffmann et al. 2022, Training Compute-Optimal Large Language Models "
                 "(arXiv:2203.15556)")
BESIROGLU_2024 = ("Besiroglu, Erdil, Barnett & You 2024, Chinchilla Scaling: A replication "
                  "attempt (arXiv:2404.10102)")

KAPLAN_N = _register(Preset(
    "kaplan2020-n", lambda: PowerLaw.from_critical("N", 8.8e13, 0.076), KAPLAN_2020,
    "Eq. 1.1, Table 5: alpha_N = 0.076, N_c = 8.8e13", "non-embedding parameters",
    "WebText2, GPT-2 BPE (vocab 50257)",
    "converged models (trained to early stopping); L = (N_c/N)^alpha_N"))
KAPLAN_D = _register(Preset(
    "kaplan2020-d", lambda: PowerLaw.from_critical("D", 5.4e13, 0.095), KAPLAN_2020,
    "Eq. 1.2, Table 5: alpha_D = 0.095, D_c = 5.4e13 tokens", "non-embedding parameters",
    "WebText2, GPT-2 BPE (vocab 50257)",
    "large models trained with early stopping; L = (D_c/D)^alpha_D"))
KAPLAN_CMIN = _register(Preset(
    "kaplan2020-cmin", lambda: PowerLaw.from_critical("C", 3.1e8 * PF_DAY_FLOPS, 0.050),
    KAPLAN_2020, "Eq. 1.3, Table 5: alpha_C^min = 0.050, C_c^min = 3.1e8 PF-days",
    "non-embedding parameters", "WebText2, GPT-2 BPE (vocab 50257)",
    "C_min in FLOPs here (3.1e8 PF-days x 8.64e19 FLOPs/PF-day); Kaplan's C = 6 N D "
    "excludes embedding and attention-context FLOPs"))
KAPLAN_ND = _register(Preset(
    "kaplan2020", lambda: KaplanND(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103),
    KAPLAN_2020, "Eq. 1.5 / Eq. 4.1, Table 2: alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, "
    "D_c = 1.8e13", "non-embedding parameters", "WebText2, GPT-2 BPE (vocab 50257)",
    "early-stopped test loss", aliases=("kaplan2020-nd",)))
HOFFMANN = _register(Preset(
    "hoffmann2022", lambda: Chinchilla(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28),
    HOFFMANN_2022, "Eq. 4 (Approach 3, rounded as printed)", "all parameters",
    "MassiveText, SentencePiece (vocab 32000)",
    "Approach 3 law.  Its frontier gives ~92 tokens/parameter at 5.76e23 FLOPs; the paper's "
    "Table 3 (~20 tokens/parameter) comes from Approach 1, not from this law.",
    aliases=("chinchilla", "hoffmann2022-rounded")))
HOFFMANN_UNROUNDED = _register(Preset(
    "hoffmann2022-unrounded",
    lambda: Chinchilla(E=1.69337368, A=406.401018, alpha=0.33917084, B=410.722827,
                       beta=0.2849083),
    HOFFMANN_2022, "Eq. 4, unrounded values from the paper's TeX source (as quoted by "
    "Besiroglu et al. 2024, Sec. 2)", "all parameters", "MassiveText, SentencePiece (vocab 32000)",
    "the unrounded exponents move the frontier: ~59 tokens/parameter at 5.76e23 FLOPs"))
BESIROGLU = _register(Preset(
    "besiroglu2024",
    lambda: Chinchilla(E=1.8172, A=482.01, alpha=0.3478, B=2085.43, beta=0.3658),
    BESIROGLU_2024, "Eq. 4 (refit of Hoffmann Fig. 4 data: sum of Huber, delta = 1e-3)",
    "all parameters", "MassiveText, SentencePiece (vocab 32000)",
    "consistent with Approaches 1 and 2: ~20 tokens/parameter at Chinchilla's compute",
    aliases=("epoch2024",)))


def get_preset(name: str) -> Preset:
    """Look a preset up by name or alias (case-insensitive)."""
    key = name.strip().lower()
    for preset in PRESETS.values():
        if key == preset.name or key in preset.aliases:
            return preset
    raise ScalingLabError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")


# -- Muennighoff et al. 2023 (appended with the data-constrained law) -------------------------
MUENNIGHOFF_2023 = ("Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf & Raffel 2023, "
                    "Scaling Data-Constrained Language Models (NeurIPS 2023, arXiv:2305.16264)")


def _muennighoff_2023() -> Law:
    """The paper's fitted law, at full precision.

    Values are the raw fit (e, a, b, alpha, beta, R_D*, R_N*) = (0.6254804, 6.255414, 7.3049974,
    0.3526596, 0.3526596, 15.387756, 5.309743) as published by the authors with the paper's code
    (github.com/huggingface/datablations, README "Parametric Fit"); the paper quotes them rounded:
    E = 1.87, A = 521, B = 1488, alpha = beta = 0.353, R_D* ~ 15.4, R_N* ~ 5.3.  alpha = beta is
    the fit's outcome on C4, not a constraint of the form.
    """
    import math

    from scalinglab.laws.data_constrained import DataConstrained

    return DataConstrained(E=math.exp(0.6254804), A=math.exp(6.255414),
                           alpha=0.3526596, B=math.exp(7.3049974), beta=0.3526596,
                           R_D_star=15.387756, R_N_star=5.309743)


MUENNIGHOFF = _register(Preset(
    "muennighoff2023", _muennighoff_2023, MUENNIGHOFF_2023,
    "Sec. 3 (effective data D' and parameters N', Eq. for L(N, D) with R_D*, R_N*) and the fitted "
    "constants of App. A, at the precision printed in the authors' repository README "
    "(huggingface/datablations, 'Parametric Fit')",
    "parameters as in the paper's model names (Chinchilla-style count; unverified whether "
    "embeddings are included)", "C4, GPT-2 BPE (vocab 50257)",
    "variables N, D and U (unique tokens); with one epoch (D = U) and N no larger than the "
    "compute-optimal size for U tokens it is exactly Chinchilla with E=1.87, A=521, B=1488, "
    "alpha=beta=0.353.  The authors note the absolute loss is less useful than its trends.",
    aliases=("data-constrained", "muennighoff")))
