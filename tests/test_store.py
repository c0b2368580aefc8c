"""The result store: round trip, atomicity, schema refusal, names, finite JSON."""

import json

import numpy as np
import pytest

from elasticity import store


def test_round_trip_with_arrays(tmp_path):
    path = store.write_result(tmp_path, "demo", "run-1", config={"alpha": 2.0},
                              metrics={"gamma_1": 1.5}, arrays={"x": np.arange(3)}, seed=7)
    doc = store.read_result(path)
    assert doc["schema_version"] == store.SCHEMA_VERSION
    assert doc["config"] == {"alpha": 2.0} and doc["metrics"] == {"gamma_1": 1.5}
    prov = doc["provenance"]
    assert prov["seed"] == 7 and prov["device"] == "cpu" and "numpy" in prov["packages"]
    assert np.array_equal(store.read_arrays(path.parent)["x"], np.arange(3))
    assert store.is_finished(tmp_path, "demo", "run-1")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_unknown_schema_refused(tmp_path):
    path = store.write_result(tmp_path, "demo", "r", config={}, metrics={})
    doc = json.loads(path.read_text())
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(store.StoreError, match="schema_version 99"):
        store.read_result(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(store.StoreError, match="no result file"):
        store.read_result(tmp_path / "nothing")
    bad = tmp_path / "result.json"
    bad.write_text("{not json")
    with pytest.raises(store.StoreError, match="not valid JSON"):
        store.read_result(bad)


@pytest.mark.parametrize("name", ["../up", "a/b", "", ".hidden", "x" * 200])
def test_bad_names_refused(tmp_path, name):
    with pytest.raises(store.StoreError):
        store.write_result(tmp_path, "demo", name, config={}, metrics={})


def test_non_finite_metrics_refused_and_nothing_written(tmp_path):
    with pytest.raises(store.StoreError, match="finite JSON"):
        store.write_result(tmp_path, "demo", "r", config={}, metrics={"x": float("nan")})
    assert not store.is_finished(tmp_path, "demo", "r")


def test_failed_write_keeps_previous_result(tmp_path, monkeypatch):
    path = store.write_result(tmp_path, "demo", "r", config={}, metrics={"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError):
        store.write_result(tmp_path, "demo", "r", config={}, metrics={"v": 2})
    assert store.read_result(path)["metrics"] == {"v": 1}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
