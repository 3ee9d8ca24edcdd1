"""Thread settings that survive a busy CPU (issue 13, item 5; bench/busy_threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scalinglab.train.threads import choose_threads

PROBE = ("import os, sys; import scalinglab.cli; "
         "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")


def _probe(**env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env={**base, **env}, check=True)
    return out.stdout.split()


def test_the_cli_sets_a_passive_wait_policy_before_torch_loads():
    # set at import, while torch is not loaded yet (a command that trains loads it later)
    assert _probe() == ["PASSIVE", "False"]


def test_the_cli_keeps_a_wait_policy_the_user_chose():
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "False"]


@pytest.mark.parametrize(("idle", "cap", "expected"), [(2.0, 2, 2), (1.1, 2, 1), (0.8, 2, 1),
                                                       (0.1, 2, 1), (1.9, 4, 2), (None, 3, 3)])
def test_choose_threads_counts_the_idle_cores(idle, cap, expected, monkeypatch):
    if idle is None:
        monkeypatch.setattr("scalinglab.train.threads.idle_cores", lambda seconds=0.3: None)
    assert choose_threads(None, cap=cap, idle=idle) == expected
    assert choose_threads(5, cap=cap, idle=idle) == 5
