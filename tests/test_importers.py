"""Importers (issue 23): TensorBoard, JSON lines and W&B CSV logs -> run rows that fit reads;
bad logs give one-line errors naming the problem."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.importers import parse_mapping, read_jsonl, read_tensorboard, read_wandb_csv
from scalinglab.importers.rows import RunInfo, rows_to_records
from tests.clihelp import assert_one_line_error, run_script


def _chinchilla(n: float, d: float) -> float:
    """Hoffmann et al. 2022's fitted law (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)."""
    return 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28


def _ladder() -> pd.DataFrame:
    """Twelve runs on three IsoFLOP levels, curves of four rows each, a little noise."""
    rng = np.random.default_rng(0)
    rows = []
    for c in (1e18, 3e18, 1e19):
        for n in np.geomspace(c ** 0.5 / 30, c ** 0.5 / 3, 4):
            d_final = c / (6 * n)
            for share in (0.25, 0.5, 0.75, 1.0):
                d = d_final * share
                rows.append({"Name": f"C{c:.0e}-N{n:.3g}", "params": float(n), "tok": d,
                             "val/loss": _chinchilla(n, d) * (1 + 0.002 * rng.normal()),
                             "_step": round(d / 1e6)})
    return pd.DataFrame(rows)


def test_rows_contract_checks():
    info = RunInfo(run_id="r", n_params=1e6, flops_per_token=6e6, planned_tokens=200.0)
    records, warnings = rows_to_records([{"tokens": 100, "loss": 3.0},
                                         {"tokens": 200, "loss": 2.5}], info)
    assert [r.final for r in records] == [False, True] and warnings == []
    assert records[1].flops == 6e6 * 200
    own = rows_to_records([{"tokens": 200, "loss": 2.5, "n_params": 2e6}], info)[0][0]
    assert own.n_params == 2e6 and own.flops == 6e6 * 200  # the planned shape's FLOPs
    alone = rows_to_records([{"tokens": 200, "loss": 2.5, "n_params": 2e6}],
                            RunInfo(run_id="x"))[0][0]
    assert alone.flops == 6 * 2e6 * 200  # no plan: Kaplan's C = 6ND
    for rows, fragment in (([{"tokens": 100}], "no loss"),
                           ([{"tokens": 100, "loss": math.inf}], "not finite"),
                           ([{"tokens": 100, "loss": -1.0}], "> 0"),
                           ([{"tokens": 100, "loss": "x"}], "not a number"),
                           ([{"tokens": 100, "loss": 3.0}], "no final row")):
        with pytest.raises(ScalingLabError, match=fragment):
            rows_to_records(rows, info)
    bits = rows_to_records([{"tokens": 200, "loss": 8.3}],
                           RunInfo(run_id="b", n_params=1.0, vocab_size=256))[1]
    assert "in bits" in bits[0]


def test_wandb_history_and_summary_give_the_same_fit(tmp_path):
    import scalinglab

    history = _ladder()
    history.to_csv(tmp_path / "history.csv", index=False)
    mapping = parse_mapping("N=params,D=tok,loss=val/loss")
    frame, warnings = read_wandb_csv(str(tmp_path / "history.csv"), mapping)
    assert len(frame) == 48 and frame["run_id"].nunique() == 12 and warnings == []
    assert frame.groupby("run_id")["final"].sum().eq(1).all()
    summary = history.groupby("Name", sort=False).tail(1)
    summary.to_csv(tmp_path / "summary.csv", index=False)
    finals, _ = read_wandb_csv(str(tmp_path / "summary.csv"), mapping)
    pd.testing.assert_frame_equal(finals, frame[frame["final"]].reset_index(drop=True))
    fit_history = scalinglab.fit(frame[frame["final"]], bootstrap=0)
    fit_summary = scalinglab.fit(finals, bootstrap=0)
    assert fit_history.params == fit_summary.params
    assert abs(fit_summary.params["E"] - 1.69) < 0.2


def test_cli_wandb_import_then_fit_reads_it(tmp_path):
    _ladder().to_csv(tmp_path / "export.csv", index=False)
    out = tmp_path / "runs.csv"
    result = run_script("import", "wandb", str(tmp_path / "export.csv"), "--map",
                        "N=params,D=tok,loss=val/loss", "--out", str(out))
    assert result.code == 0, result.stderr
    assert "imported 12 run(s), 48 row(s) (12 final)" in result.stdout
    fitted = run_script("fit", str(out), "--bootstrap", "0", "--json")
    assert fitted.code == 0, fitted.stderr
    assert abs(json.loads(fitted.stdout)["law"]["params"]["E"] - 1.69) < 0.2


def test_cli_wandb_without_the_mapped_columns(tmp_path):
    _ladder().to_csv(tmp_path / "export.csv", index=False)
    result = run_script("import", "wandb", str(tmp_path / "export.csv"), "--map",
                        "N=params,D=tokens_seen,loss=val/loss", "--out", str(tmp_path / "o.csv"))
    assert_one_line_error(result, "no column(s) for tokens='tokens_seen'")
    assert not (tmp_path / "o.csv").exists()


def test_jsonl_with_a_mapping_and_a_config_file(tmp_path):
    for name, n in (("small", 1e5), ("large", 4e5)):
        run = tmp_path / "logs" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"n_params": n, "lr": 1e-3}))
        (run / "metrics.jsonl").write_text(
            "".join(json.dumps({"seen": t, "val": _chinchilla(n, t)}) + "\n"
                    for t in (1e8, 2e8, 4e8)))
    frame, _ = read_jsonl(tmp_path / "logs", parse_mapping("N=config:n_params,D=seen,loss=val"))
    assert sorted(frame["run_id"].unique()) == ["large", "small"]
    assert set(frame["n_params"]) == {1e5, 4e5} and frame["final"].sum() == 2
    with pytest.raises(ScalingLabError, match="has no key 'width'"):
        read_jsonl(tmp_path / "logs", parse_mapping("N=config:width,D=seen,loss=val"))


def test_tensorboard_import_and_missing_tag(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for name, n in (("a", 2e5), ("b", 8e5)):
        with SummaryWriter(str(tmp_path / "tb" / name)) as writer:
            writer.add_scalar("model/n_params", n, 0)
            for step in (100, 200, 300):
                writer.add_scalar("eval/loss", _chinchilla(n, step * 4096.0), step)
    frame, _ = read_tensorboard(tmp_path / "tb", parse_mapping(
        "loss=eval/loss,N=model/n_params,batch_tokens=4096"))
    assert len(frame) == 6 and list(frame["tokens"][:3]) == [409600.0, 819200.0, 1228800.0]
    assert frame["loss"].iloc[0] == pytest.approx(_chinchilla(2e5, 409600.0), rel=1e-6)
    result = run_script("import", "tensorboard", str(tmp_path / "tb"), "--map",
                        "loss=val/loss,batch_tokens=4096,N=model/n_params", "--out",
                        str(tmp_path / "o.csv"))
    assert_one_line_error(result, "no scalar tag 'val/loss'", "eval/loss")
    assert not (tmp_path / "o.csv").exists()


def test_import_into_a_store(tmp_path):
    from scalinglab.importers import write_imported
    from scalinglab.sweep import SQLiteRunStore

    frame, _ = read_wandb_csv(str(_write(tmp_path)), parse_mapping("N=params,D=tok,loss=val/loss"))
    path = write_imported(frame, tmp_path / "store", "export.csv")
    with SQLiteRunStore(path) as store:
        assert store.counts()["done"] == 12
        pd.testing.assert_frame_equal(store.records(), frame)


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    _ladder().to_csv(path, index=False)
    return path
