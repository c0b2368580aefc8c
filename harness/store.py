"""The result store: results/<experiment>/<run_id>/result.json (+ arrays.npz).

A result holds ``schema_version``, the resolved ``config`` and its ``fingerprint`` (SHA-256
of the config's canonical JSON), ``metrics`` (units in the key names) and ``provenance``
(git sha and dirty flag, package versions, device, seed, wall time, the command).

Guarantees:

- **No wrong numbers.** Reading a finished run for a configuration (``finished``,
  ``compute_once``) compares fingerprints and refuses a mismatch, naming the folder and the
  differing fields. Default run ids (``default_run_id``) carry a hash of the configuration,
  so two configurations never share one, however close their numbers.
- **No half files.** Every write goes to a unique temporary name in the same folder and is
  renamed (atomic on POSIX); concurrent writers cannot collide on a temporary name.
- **One writer at a time** where it matters: ``locked`` is an advisory file lock (flock).
- **Checked reads.** Unknown schema versions, missing or mistyped fields are refused with
  the file and the field named (``harness.schemas`` lists what each experiment needs).
- **Sealed content.** Every JSON file the store writes (result, cell, run record) carries
  ``content_sha256``, the SHA-256 of its own canonical JSON without that field, and the result
  records the SHA-256 of the bytes of its ``arrays.npz``; every read verifies them and refuses
  an edited or damaged file in one line that names it and says what to do.
- **Nothing read can run code**: JSON, and npz loaded with allow_pickle=False.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from pathlib import Path

from harness import numerics, provenance

SCHEMA_VERSION = 4  # 2: results carry the config's fingerprint; 3: and content checksums; 4: records are lists of
#                    objects holding numeric values (no keys made of formatted numbers)
SEAL = "content_sha256"
RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
CONFIG_FILE = "config.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TOP_LEVEL = {"schema_version": int, "experiment": str, "run_id": str, "config": (dict, list),
              "fingerprint": str, "metrics": (dict, list), "files": dict, "provenance": dict}


class StoreError(ValueError):
    """A result that cannot be written or read as asked."""


def check_name(label: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StoreError(f"{label} must be 1-128 letters, digits, '.', '_' or '-', not starting "
                         f"with a symbol; got {name!r}")
    return name


def run_dir(root, experiment: str, run_id: str) -> Path:
    return Path(root) / check_name("experiment", experiment) / check_name("run_id", run_id)


def canonical_json(config) -> str:
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"a configuration must be plain finite JSON: {err}") from None


def fingerprint(config) -> str:
    """SHA-256 (hex) of the configuration's canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def sealed(document: dict) -> dict:
    """``document`` with its content checksum (SHA-256 of its canonical JSON without the seal)."""
    body = {k: v for k, v in document.items() if k != SEAL}
    return {**body, SEAL: hashlib.sha256(canonical_json(body).encode()).hexdigest()}


def check_seal(document, path, remedy: str = "delete it and recompute") -> dict:
    """``document`` if it is a mapping whose content matches its seal; else a StoreError naming
    ``path`` and the remedy."""
    if not isinstance(document, dict):
        raise StoreError(f"{path}: expected a JSON object, got {type(document).__name__}; {remedy}")
    if SEAL not in document:
        raise StoreError(f"{path} has no content checksum (written by another toolkit version, or "
                         f"edited); {remedy}")
    if sealed(document)[SEAL] != document[SEAL]:
        raise StoreError(f"{path}: its content does not match its checksum (edited or damaged); {remedy}")
    return document


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sealed_json(path, document: dict) -> None:
    atomic_write_json(path, sealed(document))


def read_sealed_json(path, remedy: str = "delete it and recompute") -> dict:
    return check_seal(read_json(path), path, remedy)


MANIFEST = "manifest.json"


def write_manifest(folder, name: str) -> None:
    """Seal a folder of files (a model checkpoint): its name and the SHA-256 of every file."""
    folder = Path(folder)
    files = {f.name: file_sha256(f) for f in sorted(folder.iterdir()) if f.is_file() and f.name != MANIFEST}
    write_sealed_json(folder / MANIFEST, {"name": name, "files": files})


def check_manifest(folder) -> None:
    """Refuse a sealed folder whose manifest is missing or damaged, that was made under another
    name (another seed's checkpoint copied over this one), or whose files differ from the
    manifest (edited, truncated, replaced, added or removed)."""
    folder = Path(folder)
    remedy = f"delete {folder} to recompute it"
    manifest = read_sealed_json(folder / MANIFEST, remedy)
    if manifest.get("name") != folder.name:
        raise StoreError(f"{folder} holds {manifest.get('name')!r}, not {folder.name!r} (copied or renamed); "
                         f"{remedy}")
    on_disk = {f.name for f in folder.iterdir() if f.is_file() and f.name != MANIFEST}
    if on_disk != set(manifest.get("files", {})):
        raise StoreError(f"{folder}: its files differ from its manifest; {remedy}")
    for name, digest in manifest["files"].items():
        if file_sha256(folder / name) != digest:
            raise StoreError(f"{folder / name} does not match its checksum (edited or damaged); {remedy}")


def default_run_id(prefix: str, config) -> str:
    """A readable prefix (``-portable`` added in the portable numerics mode) and the first 10 hex
    digits of the configuration's fingerprint; the prefix is cut and cleaned to the allowed
    characters (it only helps a human find a run)."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "", prefix.replace("+", ""))[:100].lstrip("._-") or "run"
    mode = "-portable" if numerics.mode() == "portable" else ""  # the modes' runs never share a folder
    return f"{clean}{mode}-{fingerprint(config)[:10]}"


def short_number(x: float) -> str:
    """A number for a run-id prefix (readable; the hash beside it carries the precision)."""
    return f"{x:g}".replace("+", "")


# ----------------------------------------------------------------------------------- writing

def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are for whoever shares the folder to read
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    _atomic_write(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_bytes(path, data: bytes) -> None:
    _atomic_write(Path(path), lambda handle: handle.write(data))


def atomic_write_json(path, document) -> None:
    try:
        text = json.dumps(document, indent=1, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"{path}: not plain finite JSON ({err})") from None
    atomic_write_text(path, text + "\n")


def atomic_save_npz(path, arrays: dict) -> None:
    import numpy as np

    plain = {k: np.asarray(v) for k, v in arrays.items()}
    _atomic_write(Path(path), lambda handle: np.savez_compressed(handle, **plain))


@contextlib.contextmanager
def locked(path, blocking: bool = True):
    """Hold an exclusive advisory lock on ``path`` (created if missing). Yields True when
    held; with ``blocking=False`` yields False at once if another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_result(root, experiment: str, run_id: str, *, config, metrics,
                 arrays: dict | None = None, extra: dict | None = None, seed=None,
                 wall_time_s=None, device: str = "cpu") -> Path:
    """Write one result atomically; returns the path of result.json.

    ``extra`` adds top-level keys that an experiment's interface names (for example the
    rebound's ``reference_score`` and ``cells``). The arrays (if any) are written first, so a
    result.json on disk always has its arrays.
    """
    folder = run_dir(root, experiment, run_id)
    files = {}
    if arrays:
        atomic_save_npz(folder / ARRAYS_FILE, arrays)
        files[ARRAYS_FILE] = file_sha256(folder / ARRAYS_FILE)
    document = {
        "schema_version": SCHEMA_VERSION,
        "experiment": experiment,
        "run_id": run_id,
        "config": config,
        "fingerprint": fingerprint(config),
        "metrics": metrics,
        **(extra or {}),
        "files": files,
        "provenance": provenance.collect(seed=seed, wall_time_s=wall_time_s, device=device),
    }
    try:
        text = json.dumps(sealed(document), indent=1, allow_nan=False)
    except (TypeError, ValueError, StoreError) as err:
        raise StoreError(f"result for {experiment}/{run_id} is not plain finite JSON: {err}") from None
    path = folder / RESULT_FILE
    atomic_write_text(path, text + "\n")
    return path


# ----------------------------------------------------------------------------------- reading

def read_json(path) -> object:
    """A JSON file, or a StoreError that names it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no file at {path}") from None
    except IsADirectoryError:
        raise StoreError(f"{path} is a directory, not a file") from None
    except OSError as err:
        raise StoreError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise StoreError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise StoreError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from None


def read_result(path, *, experiment: str | None = None, config=None) -> dict:
    """Read result.json (a file or its folder) and check it: schema version, top-level
    fields, the fields ``experiment`` needs (``harness.schemas``), and, when ``config`` is
    given, that the result was made by exactly that configuration."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_FILE
    if path.is_symlink():  # a link serves another file's numbers under this folder's name (or loops)
        raise StoreError(f"{path} is a symbolic link, not a result the store wrote; delete it and rerun the "
                         f"command that made it")
    if not path.is_file():
        raise StoreError(f"no result file at {path}")
    document = read_json(path)
    if not isinstance(document, dict):
        raise StoreError(f"{path}: a result must be a JSON object")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise StoreError(f"{path} has schema_version {version!r}; this toolkit reads version "
                         f"{SCHEMA_VERSION} only (rerun the command that made it)")
    for name, kind in _TOP_LEVEL.items():
        if name not in document:
            raise StoreError(f"{path}: missing field {name!r}")
        if not isinstance(document[name], kind) or isinstance(document[name], bool):
            raise StoreError(f"{path}: field {name!r} has the wrong type ({type(document[name]).__name__})")
    check_seal(document, path, "delete its folder and rerun the command that made it")
    if document["fingerprint"] != fingerprint(document["config"]):
        raise StoreError(f"{path}: the stored fingerprint does not match the stored config "
                         f"(the file was edited or damaged)")
    check_placement(path, document)
    if experiment is not None:
        from harness.schemas import SchemaError, check

        try:
            check(document, experiment, path)
        except SchemaError as err:
            raise StoreError(str(err)) from None
    if config is not None:
        check_config(path.parent, document["config"], config, what="holds a result")
    return document


def check_placement(path: Path, document: dict) -> None:
    """A result belongs to the folder that names it: its stored experiment and run id must be the
    folder's names, and its fingerprint that of the folder's run record (config.json), so a
    result.json swapped in from another run (sealed and valid in itself) is refused."""
    folder, remedy = path.parent, "delete the folder and rerun the command that made it"
    stored, here = f"{document['experiment']}/{document['run_id']}", f"{folder.parent.name}/{folder.name}"
    if stored != here:
        raise StoreError(f"{path} holds the result of {stored}, not of {here} (moved, copied or swapped); {remedy}")
    record = folder / CONFIG_FILE
    if record.is_file() or record.is_symlink():
        made_by = read_sealed_json(record, remedy).get("fingerprint")
        if made_by != document["fingerprint"]:
            raise StoreError(f"{path} is of another configuration than its run record {record} (swapped); {remedy}")


def cell_checksums(folder) -> dict:
    """{"cells/<key>.json": SHA-256} of a run folder's cells, as its result lists them."""
    return {f"cells/{p.name}": file_sha256(p) for p in sorted((Path(folder) / "cells").glob("*.json"))}


def check_listed_cells(folder, document: dict) -> None:
    """Every cell file a result lists is on disk with the bytes it had when the result was written
    (a result written before results listed their cells lists none). A result published alone (no
    run record, no cells folder: the committed fixtures) is sealed in itself and not held to them."""
    if not (Path(folder) / "cells").is_dir() and not (Path(folder) / CONFIG_FILE).is_file():
        return
    for name, digest in document.get("cell_files", {}).items():
        path = Path(folder) / name
        if not path.is_file():
            raise StoreError(f"{path} is missing: {Path(folder) / RESULT_FILE} lists it (deleted); delete the "
                             f"folder and rerun the command that made it")
        if file_sha256(path) != digest:
            raise StoreError(f"{path} does not match the checksum its result lists (replaced or rewritten); "
                             f"delete the folder and rerun the command that made it")


def check_config(folder, stored, wanted, what: str = "holds a run") -> None:
    """Refuse ``wanted`` where ``stored`` is another configuration, naming the fields."""
    if fingerprint(stored) == fingerprint(wanted):
        return
    from harness.overrides import differing_fields

    fields = differing_fields(stored, wanted) or ["(types of values)"]
    shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
    raise StoreError(f"{folder} {what} of another configuration (differs in: {shown}); use "
                     f"another --run-id or delete the folder")


def finished(root, experiment: str, run_id: str, config) -> dict | None:
    """The stored result of this exact configuration, None when the run is not finished;
    a result of another configuration under that run id is an error."""
    folder = run_dir(root, experiment, run_id)
    if not ((folder / RESULT_FILE).is_file() or (folder / RESULT_FILE).is_symlink()):  # a link is refused
        return None
    return read_result(folder, experiment=experiment, config=config)


def read_arrays(folder) -> dict:
    """The arrays of a finished result, after checking their bytes against the checksum that
    result.json records for them."""
    import numpy as np

    path = Path(folder) / ARRAYS_FILE
    expected = read_result(folder)["files"].get(ARRAYS_FILE)
    if expected is None:
        raise StoreError(f"{Path(folder) / RESULT_FILE} records no arrays file")
    if not path.is_file():
        raise StoreError(f"no arrays file at {path}; delete the folder and recompute")
    if file_sha256(path) != expected:
        raise StoreError(f"{path} does not match the checksum its result records (replaced or damaged); "
                         f"delete the folder and recompute")
    try:  # our own handle: numpy leaves its file open when a damaged archive fails to parse
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise StoreError(f"no arrays file at {path}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise StoreError(f"{path} is not a readable .npz archive ({err})") from None


def claim_run_dir(folder, config) -> None:
    """Record the configuration of a run folder (after its inputs were checked); refuse a
    folder that holds another configuration."""
    folder = Path(folder)
    with locked(folder / ".claim.lock"):
        if not check_run_dir(folder, config):
            write_sealed_json(folder / CONFIG_FILE, {"schema_version": SCHEMA_VERSION,
                                                     "fingerprint": fingerprint(config), "config": config})


def check_run_dir(folder, config) -> bool:
    """Refuse, before any work, a folder that holds another configuration; True when the folder
    already records this one, False when it records none."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return False
    stored = read_sealed_json(path, "use another --run-id or delete the folder")
    if "config" not in stored or stored.get("fingerprint") != fingerprint(stored["config"]):
        raise StoreError(f"{path} is not a run record of this toolkit version; use another "
                         f"--run-id or delete the folder")
    check_config(folder, stored["config"], config)
    return True


def run_lock(root, experiment: str, run_id: str) -> Path:
    """The lock file that guards a whole run's result (beside, not inside, its folder)."""
    return run_dir(root, experiment, run_id).parent / ".locks" / f"{run_id}.lock"


def compute_once(root, experiment: str, run_id: str, compute, *, config, seed=None,
                 force: bool = False, on_read_back=None, with_arrays: bool = False) -> dict:
    """The stored result of this configuration, else ``compute()`` written as its metrics
    (with ``with_arrays``, ``compute()`` returns (metrics, arrays) and the arrays are stored too).

    A result of another configuration under ``run_id`` is refused (never returned); two
    processes asking at once compute it once (the second waits and reads it back).
    ``on_read_back(path)`` is called when a stored result is returned instead of computed.
    """
    folder = run_dir(root, experiment, run_id)
    if not force:  # a finished result is read without a lock: a read-only store serves it
        stored = finished(root, experiment, run_id, config)
        if stored is not None:
            if on_read_back is not None:
                on_read_back(folder / RESULT_FILE)
            return stored
    with locked(run_lock(root, experiment, run_id)):
        if not force:
            stored = finished(root, experiment, run_id, config)
            if stored is not None:
                if on_read_back is not None:
                    on_read_back(folder / RESULT_FILE)
                return stored
        elif (folder / RESULT_FILE).is_file():
            check_config(folder, read_result(folder)["config"], config, what="holds a result")
        start = time.perf_counter()
        metrics, arrays = compute() if with_arrays else (compute(), None)
        path = write_result(root, experiment, run_id, config=config, metrics=metrics, seed=seed, arrays=arrays,
                            wall_time_s=time.perf_counter() - start)
        return read_result(path, experiment=experiment)
