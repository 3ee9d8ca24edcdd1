"""Shared fixtures: locate ../shared beside the repository and skip cleanly without it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHINCHILLA_DIR = SHARED / "data" / "chinchilla"
CORPORA_DIR = SHARED / "data" / "corpora"
EPOCH_CSV = CHINCHILLA_DIR / "epoch_svg_extracted_data.csv"
EPOCH_COLUMNS = 'N="Model Size",C="Training FLOP",loss=loss'


def shared_file(path: Path) -> Path:
    """Return ``path`` or skip the test, naming what is missing."""
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (expected ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def epoch_runs() -> pd.DataFrame:
    """Epoch AI's 245 Chinchilla runs with D = C/(6N) and the 5 highest losses dropped (240)."""
    from scalinglab.records import load_runs

    frame = load_runs(shared_file(EPOCH_CSV), columns=EPOCH_COLUMNS, derive_tokens=True)
    cutoff = sorted(frame["loss"])[-5]
    return frame[frame["loss"] < cutoff].reset_index(drop=True)


@pytest.fixture
def one_thread():
    """Run a training test on one torch thread (tests share 2 cores; see the trainer issue)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
