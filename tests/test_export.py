"""Tidy export: one row per measured point, configuration fields as columns, csv and parquet."""

import json
from pathlib import Path

import pandas as pd
import pytest

from console import run_cli
from elasticity import export
from harness import engine
from toy_protocol import Toy, ToyConfig


def test_nested_records_become_rows_with_their_series():
    record = {"arm": "f0.2", "pretrain": {"score": 0.2, "code_length_nats": {"pre": 1.1}},
              "perturb": {"dose": {"0.001": [{"q": 0, "score": 0.9}, {"q": 16, "score": 0.7}]},
                          "target": {"0.001": [{"q": 0, "score": 0.8}]}},
              "replay": [{"q": 0, "score": 0.5}]}
    rows = export._explode(record)
    assert [(r["series"], r["q"], r["score"]) for r in rows] == [
        ("perturb.dose.0.001", 0, 0.9), ("perturb.dose.0.001", 16, 0.7), ("perturb.target.0.001", 0, 0.8),
        ("replay", 0, 0.5)]
    assert all(r["arm"] == "f0.2" and r["pretrain.code_length_nats.pre"] == 1.1 for r in rows)


def test_a_run_exports_one_row_per_cell_with_the_config(tmp_path):
    out = engine.run(Toy(ToyConfig(values=(1, 2, 3)), tmp_path / "log"), tmp_path / "res", "r")
    folder = out.path.parent
    frame = export.table(folder)
    assert list(frame["square"]) == [1, 4, 9] and list(frame["config.values"]) == ["1,2,3"] * 3
    assert list(frame["cell"]) == ["v1", "v2", "v3"]
    path = export.write(folder, "parquet")
    assert path == folder / "cells.parquet" and pd.read_parquet(path)["square"].tolist() == [1, 4, 9]


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

    store.write_result(tmp_path, "demo", "r", config={"alpha": 3.0}, metrics={"rows": [{"a": 1}, {"a": 2}]})
    frame = export.table(tmp_path / "demo" / "r")
    assert frame["a"].tolist() == [1, 2] and frame["config.alpha"].tolist() == [3.0, 3.0]
    assert json.loads((tmp_path / "demo" / "r" / "result.json").read_text())["metrics"]["rows"][0] == {"a": 1}


def test_write_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="--format must be one of"):
        export.write(tmp_path, "xlsx")


FIXTURES = Path(__file__).parent / "fixtures" / "results"


def test_summary_export_is_the_reports_table(tmp_path):
    """The counterfactual fixture's summary: the same (title, headers, rows) the report shows,
    and the CSV holds those rows, numbers included (the primary effect's interval)."""
    from elasticity import report
    from harness import store

    (folder,) = (FIXTURES / "counterfactual").glob("cpu-standard-*")
    title, headers, body = export.summary(folder)
    assert (title, headers, body) in report.tables(FIXTURES, [])
    doc = store.read_result(folder, experiment="counterfactual")
    effect = doc["effect"]
    primary = next(r for r in body if r[0].startswith("primary effect"))
    assert primary[1].startswith(f"{effect['mean']:.4f} [{effect['ci95'][0]:.4f}, {effect['ci95'][1]:.4f}]")
    done = run_cli("export", str(folder), "--table", "summary", "--out", str(tmp_path / "s.csv"))
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert list(frame.columns) == headers and frame.values.tolist() == body


def test_summary_refuses_what_it_cannot_summarize(tmp_path):
    from harness import store

    with pytest.raises(ValueError, match="no summary table for 'sim-check'"):
        export.summary(FIXTURES / "sim-check" / "a3-k100-l0-d14-r30-s0")
    (tmp_path / "rebound" / "half").mkdir(parents=True)
    with pytest.raises(store.StoreError, match="not finished"):
        export.summary(tmp_path / "rebound" / "half")
    with pytest.raises(ValueError, match="--table must be one of"):
        export.write(tmp_path, "csv", what="everything")
