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
    result = rows[str(folder / "result.json")]  # the result lists its cells' checksums: it no longer matches
    assert result["status"] == "corrupt" and "v1.json does not match the checksum its result lists" in result["reason"]
    out = run_cli("verify", str(tmp_path / "res"))
    assert out.returncode == 1 and "v1.json" in out.stdout and "2 corrupt or stale" in out.stdout


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


def _two_runs(tmp_path):
    """Two finished runs of one experiment, of different configurations."""
    a = engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "a").path.parent
    b = engine.run(Toy(ToyConfig(values=(5, 6)), tmp_path / "log"), tmp_path / "res", "b").path.parent
    return a, b


def test_a_result_swapped_in_from_another_run_is_refused_by_every_reader(tmp_path):
    """Each result.json is sealed and valid in itself: only its place gives it away (the stored
    run id is the other folder's, and its fingerprint is not the folder's run record's)."""
    a, b = _two_runs(tmp_path)
    shutil.copy(b / "result.json", a / "result.json")
    with pytest.raises(store.StoreError, match="holds the result of toy/b, not of toy/a"):
        store.read_result(a)
    rows = {r["path"]: r for r in verify(tmp_path / "res")}
    assert rows[str(a / "result.json")]["status"] == "corrupt"
    assert run_cli("verify", str(tmp_path / "res")).returncode == 1
    with pytest.raises(store.StoreError, match="not of toy/a"):
        export.rows(a)
    doc = json.loads((b / "result.json").read_text())  # the same swap with its id rewritten and resealed
    doc["run_id"] = "a"
    store.write_sealed_json(a / "result.json", doc)
    with pytest.raises(store.StoreError, match="another configuration than its run record"):
        store.read_result(a)


def test_a_result_that_is_a_symlink_is_refused_even_to_itself(tmp_path):
    a, b = _two_runs(tmp_path)
    (a / "result.json").unlink()
    (a / "result.json").symlink_to(b / "result.json")
    with pytest.raises(store.StoreError, match="is a symbolic link"):
        store.read_result(a)
    (a / "result.json").unlink()
    (a / "result.json").symlink_to("result.json")  # a loop
    with pytest.raises(store.StoreError, match="is a symbolic link"):
        engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "a")
    out = run_cli("verify", str(tmp_path / "res"))
    assert out.returncode == 1 and "symbolic link" in out.stdout


def test_a_deleted_cell_that_the_result_lists_is_reported(tmp_path):
    folder = _finished(tmp_path)
    assert set(json.loads((folder / "result.json").read_text())["cell_files"]) == {
        f"cells/v{v}.json" for v in (1, 2, 3, 4)}
    (folder / "cells" / "v3.json").unlink()
    rows = {r["path"]: r for r in verify(tmp_path / "res")}
    assert rows[str(folder / "result.json")]["status"] == "corrupt"
    assert "v3.json is missing" in rows[str(folder / "result.json")]["reason"]
    with pytest.raises(store.StoreError, match="v3.json is missing"):
        export.rows(folder)  # not a table short of a cell


def test_figures_name_a_run_by_its_stored_id(tmp_path):
    from figures import results

    root = tmp_path / "res"
    store.write_result(root, "sim-check", "one", config={"a": 1}, metrics={})
    (root / "sim-check" / "one").rename(root / "sim-check" / "two")
    with pytest.raises(results.ResultError, match="holds the result of sim-check/one, not of sim-check/two"):
        results.every(root, "sim-check")


def test_export_refuses_a_format_its_file_name_contradicts_and_partial_on_a_finished_run(tmp_path):
    folder = _finished(tmp_path)
    out = run_cli("export", str(folder), "--format", "csv", "--out", str(tmp_path / "y.parquet"))
    assert out.returncode == 2 and "a --format csv export is written to a .csv file" in out.stderr
    assert not (tmp_path / "y.parquet").exists()
    out = run_cli("export", str(folder), "--partial", "--out", str(tmp_path / "y.csv"))
    assert out.returncode == 2 and "is finished: export it without --partial" in out.stderr
    assert not (tmp_path / "y.csv").exists()


@pytest.mark.parametrize("inside", [".", "cells", "new/deeper"])
def test_figures_refuse_to_write_into_a_run_folder(tmp_path, inside):
    folder = _finished(tmp_path)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    out = run_cli("figures", str(tmp_path / "res"), "--out", str(folder / inside))
    assert out.returncode == 2 and "inside the run folder" in out.stderr and out.stderr.count("\n") == 1
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
