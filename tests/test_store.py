"""The result store: round trip, atomicity, schema refusal, names, finite JSON."""

import json

import numpy as np
import pytest

from harness import store


def test_round_trip_with_arrays(tmp_path):
    path = store.write_result(tmp_path, "demo", "run-1", config={"alpha": 2.0},
                              metrics={"gamma_1": 1.5}, arrays={"x": np.arange(3)}, seed=7)
    doc = store.read_result(path)
    assert doc["schema_version"] == store.SCHEMA_VERSION
    assert doc["config"] == {"alpha": 2.0} and doc["metrics"] == {"gamma_1": 1.5}
    prov = doc["provenance"]
    assert prov["seed"] == 7 and prov["device"] == "cpu" and "numpy" in prov["packages"]
    assert np.array_equal(store.read_arrays(path.parent)["x"], np.arange(3))
    assert store.finished(tmp_path, "demo", "run-1", {"alpha": 2.0}) == doc
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
    assert not (tmp_path / "demo" / "r" / "result.json").exists()


def test_failed_write_keeps_previous_result(tmp_path, monkeypatch):
    path = store.write_result(tmp_path, "demo", "r", config={}, metrics={"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError):
        store.write_result(tmp_path, "demo", "r", config={}, metrics={"v": 2})
    assert store.read_result(path)["metrics"] == {"v": 1}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_fingerprint_is_canonical_and_sensitive():
    a = {"alpha": 3.0, "k": 100.0, "nested": {"x": [1, 2]}}
    b = {"nested": {"x": [1, 2]}, "k": 100.0, "alpha": 3.0}
    assert store.fingerprint(a) == store.fingerprint(b)  # key order does not matter
    assert store.fingerprint(a) != store.fingerprint({**a, "k": 100.00004})
    assert store.fingerprint(a) != store.fingerprint({**a, "nested": {"x": [2, 1]}})


def test_default_run_ids_never_collide_on_close_numbers():
    """%g formatting made alpha=3 and alpha=3.0000004 one run id; the hash tells them apart,
    and 1e6 (once '1e+06', refused) makes a valid id."""
    a = {"alpha": 3.0, "k": 100.0, "l": 0.01}
    b = {"alpha": 3.0000004, "k": 100.00004, "l": 0.0100000004}
    ida = store.default_run_id("a3-k100-l0.01", a)
    idb = store.default_run_id("a3-k100-l0.01", b)
    assert ida != idb and ida.startswith("a3-k100-l0.01-") and len(ida.split("-")[-1]) == 10
    big = store.default_run_id(f"k{store.short_number(1e6)}", {"k": 1e6})
    assert store.check_name("run_id", big) == big and big.startswith("k1e06-")


def test_compute_once_refuses_another_configuration_under_one_run_id(tmp_path):
    calls = []

    def compute(value):
        calls.append(value)
        return {"value": value}

    first = store.compute_once(tmp_path, "demo", "X", lambda: compute(1), config={"alpha": 3.0})
    again = store.compute_once(tmp_path, "demo", "X", lambda: compute(2), config={"alpha": 3.0})
    assert first["metrics"] == again["metrics"] == {"value": 1} and calls == [1]
    with pytest.raises(store.StoreError, match=r"demo/X holds a result of another configuration "
                                               r"\(differs in: alpha\)"):
        store.compute_once(tmp_path, "demo", "X", lambda: compute(3), config={"alpha": 5.0})
    with pytest.raises(store.StoreError, match="another configuration"):
        store.compute_once(tmp_path, "demo", "X", lambda: compute(3), config={"alpha": 5.0}, force=True)
    assert calls == [1]


def test_edited_result_is_refused(tmp_path):
    path = store.write_result(tmp_path, "demo", "r", config={"alpha": 3.0}, metrics={})
    doc = json.loads(path.read_text())
    doc["config"]["alpha"] = 4.0  # the numbers no longer belong to the config they claim
    path.write_text(json.dumps(doc))
    with pytest.raises(store.StoreError, match="its content does not match its checksum"):
        store.read_result(path)
    path.write_text(json.dumps(store.sealed(doc)))  # resealed by hand: the fingerprint still tells
    with pytest.raises(store.StoreError, match="fingerprint does not match"):
        store.read_result(path)


@pytest.mark.parametrize("field", ["metrics", "config", "fingerprint", "provenance", "run_id"])
def test_missing_top_level_field_is_named(tmp_path, field):
    path = store.write_result(tmp_path, "demo", "r", config={}, metrics={})
    doc = json.loads(path.read_text())
    del doc[field]
    path.write_text(json.dumps(doc))
    with pytest.raises(store.StoreError, match=f"{path}: missing field '{field}'"):
        store.read_result(path)


def test_experiment_schema_names_the_missing_field(tmp_path):
    metrics = {"alpha": 3.0, "k": 1.0, "l": 0.0, "depth": 4, "leaves": 8, "replicates": 2,
               "exact": {}, "exact_inside_ci95": {}}
    path = store.write_result(tmp_path, "sim-check", "r", config={}, metrics=metrics)
    with pytest.raises(store.StoreError, match=r"missing field 'metrics.gamma_1'"):
        store.read_result(path, experiment="sim-check")
    with pytest.raises(store.StoreError, match="a result of 'sim-check', expected 'audit'"):
        store.read_result(path, experiment="audit")


def test_schema_walks_lists_and_names_the_element(tmp_path):
    rows = [{"claim": "a", "verdict": "holds", "evidence": "x"},
            {"claim": "b", "verdict": 3, "evidence": "y"}]
    path = store.write_result(tmp_path, "audit", "r", config={}, metrics=rows)
    with pytest.raises(store.StoreError, match=r"field 'metrics\[1\].verdict' must be str, got 3"):
        store.read_result(path, experiment="audit")


@pytest.mark.parametrize("name", ["x\n", "x\ny", "", "a b", "-lead"])
def test_run_id_must_match_whole(tmp_path, name):
    with pytest.raises(store.StoreError, match="run_id must be"):
        store.run_dir(tmp_path, "demo", name)


def test_truncated_arrays_are_refused_naming_the_file(tmp_path):
    path = store.write_result(tmp_path, "demo", "r", config={}, metrics={}, arrays={"x": np.arange(100)})
    npz = path.parent / store.ARRAYS_FILE
    npz.write_bytes(npz.read_bytes()[:40])
    with pytest.raises(store.StoreError, match=f"{npz} does not match the checksum its result records"):
        store.read_arrays(path.parent)


def test_locked_is_exclusive(tmp_path):
    with store.locked(tmp_path / "l") as held:
        assert held
        import subprocess
        import sys

        probe = ("import sys; from harness import store\n"
                 f"with store.locked({str(tmp_path / 'l')!r}, blocking=False) as held:\n"
                 "    sys.exit(0 if held else 3)")
        assert subprocess.run([sys.executable, "-c", probe]).returncode == 3
    with store.locked(tmp_path / "l", blocking=False) as held:
        assert held
