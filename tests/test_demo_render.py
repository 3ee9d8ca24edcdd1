"""The demo's fit lines: an Approach 2 exponent outside the credible band is labelled as such."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scalinglab.laws import get_preset
from scalinglab.study.fits import SweepFits
from scalinglab.study.render import DemoConsole, print_fits


def fits_with_approach2(a: float) -> SweepFits:
    law = get_preset("hoffmann2022").law
    approach3 = SimpleNamespace(params=law.params, warnings=[])
    return SweepFits(approach3=approach3, approach2=SimpleNamespace(a=a, b=1 - a),
                     points_used=17, points_total=17,
                     backtest={"error": "too few levels (stand-in)"})


@pytest.mark.parametrize(("a", "credible"), [(0.52, True), (1.288, False), (0.1, False)])
def test_approach2_line_says_when_its_exponent_is_not_credible(a, credible, capsys):
    print_fits(DemoConsole(quiet_stdout=False), fits_with_approach2(a), 1500, 0.9)
    out = " ".join(capsys.readouterr().out.split())
    assert f"N_opt ~ C^{a:.3f}" in out
    assert ("not credible (a outside 0.3-0.8" in out) is not credible
