"""The command line starts without loading what only some commands need.

Every ``scalinglab`` call pays its imports: PyTorch (~2 s here) is for training, matplotlib
for figures, :mod:`scipy.stats` was for three quantile functions.  Timing lives in
bench/startup.py; this checks which modules a start loads.
"""

import subprocess
import sys

HEAVY = ("torch", "matplotlib", "scipy.stats", "sklearn", "ray")


def loaded_after(statement: str) -> list[str]:
    code = (f"import sys; {statement}; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    return [m for m in out.split(",") if m]


def test_the_command_line_and_the_fit_api_start_without_torch_or_matplotlib():
    assert loaded_after("import scalinglab.cli") == []
    assert loaded_after("import scalinglab; scalinglab.fit") == []


def test_lazy_package_exports_still_resolve():
    from scalinglab import report, train

    assert callable(train.train_run) and train.TrainConfig.__name__ == "TrainConfig"
    assert callable(report.loss_vs_compute) and callable(report.accuracy_vs_loss)
    for package in (report, train):          # every name the package exports resolves
        assert all(getattr(package, name) is not None for name in package.__all__)
