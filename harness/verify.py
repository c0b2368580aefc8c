"""Check a whole result tree (``elasticity verify``): every file the store wrote against its
seal or checksum, every cell against its run's configuration, every checkpoint against its
manifest. Reads only; returns one row per file checked."""

import os
from pathlib import Path

from harness import store


def _check(path: Path, check, found: dict | None = None) -> dict:
    """The row of one file; ``found["value"]`` keeps what ``check`` returned (None if it failed)."""
    try:
        value = check()
    except (store.StoreError, OSError, ValueError) as err:
        status = "stale" if "another configuration" in str(err) else "corrupt"
        return {"path": str(path), "status": status, "reason": " ".join(str(err).split())}
    if found is not None:
        found["value"] = value
    return {"path": str(path), "status": "ok", "reason": ""}


def _result(path: Path) -> None:
    document = store.read_json(path)
    experiment = document.get("experiment") if isinstance(document, dict) else None
    doc = store.read_result(path, experiment=experiment if isinstance(experiment, str) else None)
    if doc["files"]:
        store.read_arrays(path.parent)
    store.check_listed_cells(path.parent, doc)


def _cell(path: Path, fingerprint: str | None) -> None:
    data = store.read_sealed_json(path, "delete it to rerun the cell")
    if data.get("key") != path.stem:
        raise store.StoreError(f"{path} holds cell {data.get('key')!r}, not {path.stem!r}; delete it to rerun the cell")
    if fingerprint is None:
        raise store.StoreError(f"{path}: its run folder has no readable config.json")
    if data.get("fingerprint") != fingerprint:
        raise store.StoreError(f"{path} belongs to another configuration than its run folder; delete it")


def _run_record(path: Path) -> str:
    record = store.read_sealed_json(path, "use another --run-id or delete the folder")
    if record.get("fingerprint") != store.fingerprint(record.get("config")):
        raise store.StoreError(f"{path}: its fingerprint does not match its config; delete the folder")
    return record["fingerprint"]


def _named(root: Path, name: str) -> list[Path]:
    """Every file called ``name`` under ``root``, symbolic links included (a dangling or looping
    link is listed, so that it is reported; pathlib's glob skips those)."""
    return sorted(Path(folder) / name for folder, _, files in os.walk(root) if name in files)


def verify(root) -> list[dict]:
    """Rows {path, status (ok | corrupt | stale), reason} for every result, run record, cell,
    arrays file, generation file and checkpoint under ``root``."""
    root = Path(root)
    rows = []
    for path in _named(root, store.RESULT_FILE):
        rows.append(_check(path, lambda p=path: _result(p)))
    for path in sorted(root.rglob(store.CONFIG_FILE)):
        if not (path.parent / "cells").is_dir():
            continue  # a model's config.json inside a checkpoint, not a run record
        found = {}
        rows.append(_check(path, lambda p=path: _run_record(p), found))
        fingerprint = found.get("value")  # None when the record is damaged: its cells are reported too
        for cell in sorted((path.parent / "cells").glob("*.json")):
            rows.append(_check(cell, lambda c=cell, fp=fingerprint: _cell(c, fp)))
        for generation in sorted((path.parent / "generations").glob("*.json")):
            rows.append(_check(generation, lambda g=generation: store.read_sealed_json(g)))
    for manifest in sorted(root.rglob(store.MANIFEST)):
        rows.append(_check(manifest.parent, lambda m=manifest: store.check_manifest(m.parent)))
    return rows
