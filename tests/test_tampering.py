"""Results on disk that were edited, replaced or damaged are refused, never served: every file
the store writes is sealed or checksummed, and every reader (read-back, summary, figures,
export, checkpoints, ``elasticity verify``) checks it."""

import json
import shutil

import numpy as np
import pytest

from console import run_cli
from elasticity import export
from harness import engine, store
from harness.verify import verify
from toy_protocol import Toy, ToyConfig


def _finished(tmp_path):
    out = engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")
    return out.path.parent


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))


def test_an_edited_number_in_a_result_is_refused(tmp_path):
    folder = _finished(tmp_path)
    _edit(folder / "result.json", lambda d: d["metrics"].update(sum_of_squares=123))
    with pytest.raises(store.StoreError, match="does not match its checksum"):
        store.read_result(folder)
    with pytest.raises(store.StoreError, match="does not match its checksum"):
        engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")  # no read-back either


def test_an_edited_or_moved_cell_is_refused_when_the_grid_is_summarized(tmp_path):
    folder = _finished(tmp_path)
    (folder / "result.json").unlink()  # summarize again from the cells
    _edit(folder / "cells" / "v2.json", lambda d: d["record"].update(square=5))  # fingerprint kept
    with pytest.raises(store.StoreError, match="v2.json: its content does not match its checksum"):
        engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")
    shutil.copy(folder / "cells" / "v3.json", folder / "cells" / "v2.json")  # a valid cell, another key
    with pytest.raises(store.StoreError, match="holds cell 'v3', not 'v2'"):
        engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")


def test_replaced_arrays_are_refused(tmp_path):
    store.write_result(tmp_path, "theory-map", "m", config={"a": 1}, metrics={"x": 1},
                       arrays={"q": np.arange(3.0)})
    folder = tmp_path / "theory-map" / "m"
    assert store.read_arrays(folder)["q"].tolist() == [0.0, 1.0, 2.0]
    store.atomic_save_npz(folder / "arrays.npz", {"q": np.full(3, 42.0)})
    with pytest.raises(store.StoreError, match="does not match the checksum its result records"):
        store.read_arrays(folder)


def test_a_checkpoint_copied_from_another_seed_or_edited_is_refused(tmp_path):
    for seed in (0, 1):
        folder = tmp_path / f"pretrained-s{seed}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(bytes([seed]) * 64)
        store.write_manifest(folder, folder.name)
        store.check_manifest(folder)
    shutil.rmtree(tmp_path / "pretrained-s0")
    shutil.copytree(tmp_path / "pretrained-s1", tmp_path / "pretrained-s0")
    with pytest.raises(store.StoreError, match="holds 'pretrained-s1', not 'pretrained-s0'"):
        store.check_manifest(tmp_path / "pretrained-s0")
    (tmp_path / "pretrained-s1" / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(store.StoreError, match="model.safetensors does not match its checksum"):
        store.check_manifest(tmp_path / "pretrained-s1")
    (tmp_path / "pretrained-s1" / "extra.bin").write_bytes(b"1")
    with pytest.raises(store.StoreError, match="files differ from its manifest"):
        store.check_manifest(tmp_path / "pretrained-s1")


def test_verify_lists_what_is_corrupt_and_exits_1(tmp_path):
    folder = _finished(tmp_path)
    clean = run_cli("verify", str(tmp_path / "res"))
    assert clean.returncode == 0 and "all well" in clean.stdout, clean.stdout + clean.stderr
    _edit(folder / "cells" / "v1.json", lambda d: d["record"].update(value=7))
    rows = {r["path"]: r for r in verify(tmp_path / "res")}
    assert rows[str(folder / "cells" / "v1.json")]["status"] == "corrupt"
    assert rows[str(folder / "result.json")]["status"] == "ok"
    out = run_cli("verify", str(tmp_path / "res"))
    assert out.returncode == 1 and "v1.json" in out.stdout and "1 corrupt or stale" in out.stdout


def test_export_cannot_destroy_a_result(tmp_path):
    folder = _finished(tmp_path)
    before = (folder / "result.json").read_bytes()
    out = run_cli("export", str(folder), "--out", str(folder / "result.json"))
    assert out.returncode == 2 and "an export writes only" in out.stderr
    assert out.stderr.count("\n") == 1 and (folder / "result.json").read_bytes() == before
    assert run_cli("export", str(folder)).returncode == 0
    again = run_cli("export", str(folder))
    assert again.returncode == 2 and "--force" in again.stderr
    assert run_cli("export", str(folder), "--force").returncode == 0
    assert (folder / "result.json").read_bytes() == before


def test_export_refuses_a_partial_run_unless_asked_and_then_says_so(tmp_path):
    folder = _finished(tmp_path)
    (folder / "result.json").unlink()
    (folder / "cells" / "v4.json").unlink()
    with pytest.raises(store.StoreError, match="not finished .*--partial"):
        export.rows(folder)
    rows = export.rows(folder, partial=True)
    assert len(rows) == 3 and all(r["partial"] is True for r in rows)


def test_verify_reports_a_damaged_run_record_and_cannot_vouch_for_its_cells(tmp_path):
    folder = _finished(tmp_path)
    _edit(folder / "config.json", lambda d: d["config"].update(values=[9]))
    rows = {r["path"]: r for r in verify(tmp_path / "res")}
    assert rows[str(folder / "config.json")]["status"] == "corrupt"
    assert all(rows[str(c)]["status"] == "corrupt" and "no readable config.json" in rows[str(c)]["reason"]
               for c in (folder / "cells").glob("*.json"))
