import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import RunsError
from scalinglab.records import (
    RECORD_COLUMNS,
    RunRecord,
    load_runs,
    parse_column_mapping,
    records_to_frame,
    write_runs,
)
from tests.conftest import EPOCH_COLUMNS, EPOCH_CSV, shared_file


def _table(**overrides):
    base = {"n_params": [1e6, 2e6, 4e6], "tokens": [1e8, 2e8, 4e8], "loss": [3.0, 2.9, 2.8]}
    base.update(overrides)
    return pd.DataFrame(base)


def test_epoch_csv_with_column_mapping_and_derived_tokens():
    frame = load_runs(shared_file(EPOCH_CSV), columns=EPOCH_COLUMNS, derive_tokens=True)
    assert len(frame) == 245
    assert {"n_params", "flops", "tokens", "loss", "run_id"} <= set(frame.columns)
    np.testing.assert_allclose(frame["tokens"], frame["flops"] / (6 * frame["n_params"]))
    assert "x" not in frame.columns  # unmapped columns are dropped


def test_parse_column_mapping_handles_quotes_and_aliases():
    assert parse_column_mapping('N="Model Size",C="Training FLOP",loss=loss') == {
        "n_params": "Model Size", "flops": "Training FLOP", "loss": "loss"}
    with pytest.raises(RunsError, match="unknown column"):
        parse_column_mapping("Q=foo")
    with pytest.raises(RunsError, match="NAME=SOURCE"):
        parse_column_mapping("N")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_through_files(tmp_path, suffix):
    records = [RunRecord(run_id=f"r{i}", n_params=1e5 * (i + 1), tokens=1e7, flops=6e12 * (i + 1),
                         loss=3.0 - 0.1 * i, corpus="kjv", tokenizer="byte") for i in range(3)]
    frame = records_to_frame(records)
    assert list(frame.columns) == [c for c in RECORD_COLUMNS if c in frame.columns]
    path = write_runs(frame, tmp_path / f"runs{suffix}")
    back = load_runs(path)
    pd.testing.assert_series_equal(back["loss"], frame["loss"])
    assert list(back["run_id"]) == ["r0", "r1", "r2"]


@pytest.mark.parametrize(("change", "message"), [
    ({"loss": [3.0, np.nan, 2.8]}, "NaN and inf"),
    ({"tokens": [1e8, np.inf, 4e8]}, "NaN and inf"),
    ({"n_params": [1e6, -2e6, 4e6]}, "n_params must be > 0"),
    ({"loss": [3.0, 0.0, 2.8]}, "losses must be > 0"),
    ({"loss": ["3.0", "oops", "2.8"]}, "non-numeric value 'oops'"),
])
def test_bad_values_name_the_problem(change, message):
    with pytest.raises(RunsError, match=message):
        load_runs(_table(**change))


def test_missing_columns_and_duplicates():
    with pytest.raises(RunsError, match="missing column"):
        load_runs(pd.DataFrame({"n_params": [1.0], "loss": [2.0]}))
    with pytest.raises(RunsError, match="derive_tokens=True"):
        load_runs(pd.DataFrame({"n_params": [1.0], "flops": [6.0], "loss": [2.0]}))
    dup = _table(n_params=[1e6, 1e6, 4e6], tokens=[1e8, 1e8, 4e8], loss=[3.0, 3.0, 2.8])
    with pytest.raises(RunsError, match="duplicates"):
        load_runs(dup)
    # a loss alone tells no runs apart: the unmapped size is named, with the closest column
    foreign = pd.DataFrame({"Model Size": [1e6, 2e6], "loss": [3.0, 3.0]})
    with pytest.raises(RunsError, match="missing column.*'N': 'Model Size'"):
        load_runs(foreign, require=("loss", "n_params"))
    assert len(load_runs(foreign, require=("loss",))) == 2


def test_unreadable_files(tmp_path):
    with pytest.raises(RunsError, match="does not exist"):
        load_runs(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2,3,4\n"unterminated\n')
    with pytest.raises(RunsError, match="cannot read|missing column"):
        load_runs(bad)
    with pytest.raises(RunsError, match="is not in the table"):
        load_runs(_table(), columns={"N": "Model Size"})


def test_mapped_column_replaces_a_column_with_the_canonical_name():
    table = pd.DataFrame({"run_id": ["a", "b"], "n_params": [1e3, 2e3], "tokens": [1e6, 2e6],
                          "loss": [2.0, 1.9], "exact_loss": [1.95, 1.85]})
    assert load_runs(table, columns={"loss": "exact_loss"})["loss"].tolist() == [1.95, 1.85]
    swapped = load_runs(table, columns={"loss": "exact_loss", "exact_loss": "loss"})
    assert swapped["loss"].tolist() == [1.95, 1.85]
    assert swapped["exact_loss"].tolist() == [2.0, 1.9]
    assert load_runs(table, columns={"loss": "loss"})["loss"].tolist() == [2.0, 1.9]


def test_columns_named_by_the_short_aliases_are_read_and_said():
    """A table of N, D and loss (the names the literature uses) loads without a mapping; a
    column that already bears the record's name, or a mapping, wins over an alias column."""
    table = pd.DataFrame({"N": [1e6, 2e6, 4e6], "D": [1e8, 2e8, 4e8], "loss": [3.0, 2.9, 2.8],
                          "arch": ["a", "b", "c"]})
    runs = load_runs(table)
    assert runs["n_params"].tolist() == [1e6, 2e6, 4e6] and runs["tokens"].tolist()[0] == 1e8
    assert "arch" in runs.columns                       # other columns are kept, not filtered
    assert any("'N' read as n_params" in note for note in runs.attrs["notes"])
    both = load_runs(table.assign(n_params=[5e6, 6e6, 7e6]))
    assert both["n_params"].tolist() == [5e6, 6e6, 7e6]
    mapped = load_runs(table.assign(size=[7e6, 8e6, 9e6]), columns={"N": "size"})
    assert mapped["n_params"].tolist() == [7e6, 8e6, 9e6]
    # a mapping keeps the record's columns, the task columns and the labels the guards read
    labelled = load_runs(table.assign(size=[7e6, 8e6, 9e6], eval_set="c4", other=1),
                         columns={"N": "size"})
    assert {"arch", "eval_set"} <= set(labelled.columns) and "other" not in labelled.columns
    with pytest.raises(RunsError, match="the table has 'M', 'D'"):
        load_runs(table.rename(columns={"N": "M"}))


def test_loss_curves_without_run_ids_are_flagged_and_an_isoflop_grid_is_not():
    """Rows of loss curves taken as separate finished runs are fitted and resampled as if
    independent; a grid of separate runs (one row per size and budget) is what it says."""
    sizes, steps = [1e6, 2e6, 4e6], np.geomspace(1e8, 1e10, 12)
    curves = pd.DataFrame([(n, d, 2 + 1e3 / d**0.3) for n in sizes for d in steps],
                          columns=["n_params", "tokens", "loss"])
    (warning,) = load_runs(curves).attrs["warnings"]
    assert "36 rows hold 3 model size(s), as loss curves do" in warning
    assert "run_id=COLUMN" in warning
    grid = curves[curves["tokens"].isin(steps[::3])]          # 4 budgets per size
    assert load_runs(grid).attrs["warnings"] == []
    assert load_runs(curves.assign(run_id=[f"r{n}" for n in curves["n_params"]])
                     ).attrs["warnings"] == []


def test_step_zero_rows_are_dropped_with_a_note_and_model_id_names_the_runs():
    """A checkpoint at 0 tokens (the model before training: Pythia's step 0) has no place on a
    compute scale; it is dropped and counted, not an error.  ``model_id`` identifies the runs
    of a table of Hugging Face models (two runs of the same N and D stay apart)."""
    table = pd.DataFrame({"model_id": ["a", "a", "a", "b", "b", "b"],
                          "n_params": [1e6] * 6, "tokens": [0.0, 1e8, 2e8] * 2,
                          "loss": [10.0, 3.0, 2.9, 10.0, 3.1, 3.0]})
    loaded = load_runs(table)
    assert len(loaded) == 4 and (loaded["tokens"] > 0).all()
    assert sorted(loaded["run_id"].unique()) == ["a", "b"]
    assert any("dropped 2 row(s) at 0 training tokens" in n for n in loaded.attrs["notes"])
    assert any("'model_id'" in n for n in loaded.attrs["notes"])
    with pytest.raises(RunsError, match="tokens must be > 0"):   # a negative stays an error
        load_runs(table.assign(tokens=[-1.0, 1e8, 2e8] * 2))


def test_checkpoints_without_sizes_are_not_duplicates():
    """A table of evaluations with no size columns filled (OLMo's checkpoints in
    downstream-dev): rows of one run agree on run_id and on empty N, D, C, which is no
    evidence of a duplicated row."""
    table = pd.DataFrame({"model_id": ["a"] * 3 + ["b"] * 3, "n_params": [np.nan] * 6,
                          "tokens": [np.nan] * 6, "loss_c4": [3.5, 3.3, 3.2, 3.1, 3.0, 2.9],
                          "acc_x": [0.3, 0.35, 0.4, 0.45, 0.5, 0.55]})
    assert len(load_runs(table, require=())) == 6
    with pytest.raises(RunsError, match="duplicates"):   # sizes given and equal: a duplicate
        load_runs(table.assign(n_params=1e6, tokens=1e8, loss=3.0), require=())
