"""Tidy export: one row per measured point, configuration fields as columns, csv and parquet."""

import json
from pathlib import Path

import pandas as pd
import pytest

from console import run_cli
from elasticity import export
from harness import engine
from toy_protocol import Toy, ToyConfig


def test_nested_records_become_rows_with_one_column_per_axis():
    record = {"arm": "f0.2", "pretrain": {"score": 0.2, "code_length_nats": {"pre": 1.1}},
              "align": {"points": [{"q": 16, "score": 0.6}], "target": {"q1": 16}},
              "perturb": [{"alignment": "dose", "second_lr": 0.001,
                           "points": [{"q": 0, "score": 0.9}, {"q": 16, "score": 0.7}]},
                          {"alignment": "target", "second_lr": 0.003, "points": [{"q": 0, "score": 0.8}]}],
              "anchor": [{"anchor_beta": 30.0, "points": [{"q": 32, "score": 0.5}]}],
              "spring": [{"spring": 3.0, "points": [{"q": 64, "score": 0.4}]}],
              "replay": [{"q": 128, "score": 0.3}]}
    config = {"primary_endpoint": {"alignment": "target", "second_lr": 0.001}}
    got = [export._labelled(export.AXES["counterfactual"], row, config) for row in export._explode(record)]
    axes = ("stage", "variant", "second_lr", "control", "anchor_beta", "spring", "q1", "q2", "score")
    assert [tuple(r.get(a) for a in axes) for r in got] == [
        ("align", None, None, None, None, None, 16, None, 0.6),
        ("perturb", "dose", 0.001, None, None, None, None, 0, 0.9),
        ("perturb", "dose", 0.001, None, None, None, None, 16, 0.7),
        ("perturb", "target", 0.003, None, None, None, None, 0, 0.8),  # the lr read as a number, not a key
        ("perturb", "target", 0.001, "anchor", 30.0, None, None, 32, 0.5),
        ("perturb", "target", 0.001, "spring", None, 3.0, None, 64, 0.4),
        ("perturb", "target", 0.001, "replay", None, None, None, 128, 0.3)]
    assert all(r["arm"] == "f0.2" and r["pretrain.code_length_nats.pre"] == 1.1 and "q" not in r for r in got)
    assert all(r["align.target.q1"] == 16 for r in got)  # a scalar of the record repeats on every row


def test_a_run_exports_one_row_per_cell_and_the_config_on_request(tmp_path):
    out = engine.run(Toy(ToyConfig(values=(1, 2, 3)), tmp_path / "log"), tmp_path / "res", "r")
    folder = out.path.parent
    frame = export.table(folder)
    assert list(frame["square"]) == [1, 4, 9] and list(frame["cell"]) == ["v1", "v2", "v3"]
    assert not any(c.startswith("config.") for c in frame.columns)
    with_config = export.table(folder, with_config=True)
    assert list(with_config["config.values"]) == [[1, 2, 3]] * 3  # a list stays a list
    path = export.write(folder, "parquet", with_config=True)
    back = pd.read_parquet(path)
    assert path == folder / "cells.parquet" and back["square"].tolist() == [1, 4, 9]
    assert [list(v) for v in back["config.values"]] == [[1, 2, 3]] * 3
    csv = export.write(folder, "csv", with_config=True)
    assert [json.loads(v) for v in pd.read_csv(csv)["config.values"]] == [[1, 2, 3]] * 3  # JSON text in csv
    with pytest.raises(ValueError, match="--with-config applies to --table cells"):
        export.write(folder, "csv", what="summary", with_config=True, force=True)


def test_cli_export_and_its_errors(tmp_path):
    engine.run(Toy(ToyConfig(values=(1, 2)), tmp_path / "log"), tmp_path / "res", "r")
    folder = tmp_path / "res" / "toy" / "r"
    done = run_cli("export", str(folder), "--out", str(tmp_path / "t.csv"))
    assert done.returncode == 0 and pd.read_csv(tmp_path / "t.csv")["value"].tolist() == [1, 2]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run_cli("export", str(empty))
    assert bad.returncode == 2 and "nothing to export" in bad.stderr and "Traceback" not in bad.stderr
    assert run_cli("export", str(folder), "--format", "xlsx").returncode == 2


def test_a_result_without_cells_exports_its_metrics(tmp_path):
    from harness import store

    store.write_result(tmp_path, "demo", "r", config={"alpha": 3.0}, metrics=[{"a": 1}, {"a": 2}])
    frame = export.table(tmp_path / "demo" / "r", with_config=True)
    assert frame["a"].tolist() == [1, 2] and frame["config.alpha"].tolist() == [3.0, 3.0]
    assert "series" not in frame  # a list of rows is rows, not a series
    assert json.loads((tmp_path / "demo" / "r" / "result.json").read_text())["metrics"][0] == {"a": 1}


def test_write_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="--format must be one of"):
        export.write(tmp_path, "xlsx")


FIXTURES = Path(__file__).parent / "fixtures" / "results"


def test_the_summary_holds_the_results_numbers_as_numbers(tmp_path):
    """The counterfactual fixture's summary: the primary effect's mean and interval are the
    result's, in float columns, through csv and parquet alike."""
    from harness import store

    (folder,) = (FIXTURES / "counterfactual").glob("cpu-standard-*")
    doc = store.read_result(folder, experiment="counterfactual")
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        done = run_cli("export", str(folder), "--table", "summary", "--format", fmt, "--out",
                       str(tmp_path / f"s.{fmt}"))
        assert done.returncode == 0, done.stderr
        frame = read(tmp_path / f"s.{fmt}")
        primary = frame[frame["quantity"] == "primary effect"].iloc[0]
        assert (primary["mean"], primary["ci95_low"], primary["ci95_high"]) == (
            doc["effect"]["mean"], *doc["effect"]["ci95"])
        assert primary["n_seeds"] == doc["effect"]["n_seeds"] and primary["verdict"] == doc["verdict"]
        assert all(str(frame[c].dtype) in ("float64", "Float64") for c in ("mean", "ci95_low", "ci95_high"))
        anchors = frame[frame["quantity"] == "in-window control: anchor"]
        assert anchors["anchor_beta"].tolist() == [row["anchor_beta"] for row in doc["positive_controls"]["in_window"]]


def test_a_theory_map_exports_one_row_per_point(tmp_path):
    from harness import store

    folder = FIXTURES / "theory-map" / "small"
    doc, grids = store.read_result(folder), store.read_arrays(folder)
    frame = export.table(folder)
    m = doc["metrics"]
    assert len(frame) == len(m["alpha"]) * len(m["k"]) and set(m["arrays"]) < set(frame.columns)
    row = frame.iloc[len(m["k"]) + 2]  # alpha index 1, k index 2
    assert (row["alpha"], row["k"]) == (m["alpha"][1], m["k"][2])
    assert row["gamma_1"] == grids["gamma_1"][1, 2] and row["N_2"] == grids["N_2"][1, 2]
    assert all(frame[c].dtype == "float64" for c in frame.columns)


def test_summary_refuses_what_it_cannot_summarize(tmp_path):
    from harness import store

    with pytest.raises(ValueError, match="no summary table for 'sim-check'"):
        export.summary(FIXTURES / "sim-check" / "a3-k100-l0-d14-r30-s0-d635cbc7c2")
    (tmp_path / "rebound" / "half").mkdir(parents=True)
    with pytest.raises(store.StoreError, match="not finished"):
        export.summary(tmp_path / "rebound" / "half")
    with pytest.raises(ValueError, match="--table must be one of"):
        export.write(tmp_path, "csv", what="everything")


SUMMARIZED = sorted(p.parent for e in export.SUMMARIES for p in (FIXTURES / e).glob("*/result.json"))


@pytest.mark.parametrize("folder", SUMMARIZED, ids=[f"{p.parent.name}/{p.name}" for p in SUMMARIZED])
def test_every_summary_table_loads_with_numeric_columns(folder, tmp_path):
    """Written as parquet and read back: numbers in float columns, counts in integer columns,
    whatever the rows hold (an undefined interval is NaN, not a string)."""
    path = export.write(folder, "parquet", out=tmp_path / "s.parquet", what="summary")
    frame = pd.read_parquet(path)
    assert len(frame) > 0 and {"quantity", "verdict", "run_id"} <= set(frame.columns)
    for column in set(frame.columns) & set(export.SUMMARY_NUMBERS):
        assert str(frame[column].dtype) == "float64", column
    for column in set(frame.columns) & set(export.SUMMARY_INTEGERS):
        assert str(frame[column].dtype) == "Int64", column
    if folder.parent.name != "audit":
        assert frame["mean"].notna().any()


def test_a_finished_result_without_cells_keeps_its_metric_paths(tmp_path):
    """The fixtures hold result.json only: their metrics are labelled by path, never read as if
    they were a cell's trajectories (a counterfactual's "effects" is not a control)."""
    (folder,) = (FIXTURES / "counterfactual").glob("cpu-standard-*")
    frame = export.table(folder)
    assert "control" not in frame and "series" in frame
    rows = frame[frame["series"] == "effects.by_q2"]  # an effect's numbers sit beside its own values
    assert ((rows["alignment"] == "target") & (rows["second_lr"] == 0.001) & (rows["units"] == "logit")).any()
