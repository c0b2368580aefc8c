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

from harness import provenance

SCHEMA_VERSION = 2  # 2: results carry the config's fingerprint
RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
CONFIG_FILE = "config.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TOP_LEVEL = {"schema_version": int, "experiment": str, "run_id": str, "config": (dict, list),
              "fingerprint": str, "metrics": (dict, list), "provenance": dict}


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


def default_run_id(prefix: str, config) -> str:
    """A readable prefix and the first 10 hex digits of the configuration's fingerprint; the
    prefix is cut and cleaned to the allowed characters (it only helps a human find a run)."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "", prefix.replace("+", ""))[:100].lstrip("._-") or "run"
    return f"{clean}-{fingerprint(config)[:10]}"


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
    document = {
        "schema_version": SCHEMA_VERSION,
        "experiment": experiment,
        "run_id": run_id,
        "config": config,
        "fingerprint": fingerprint(config),
        "metrics": metrics,
        **(extra or {}),
        "provenance": provenance.collect(seed=seed, wall_time_s=wall_time_s, device=device),
    }
    try:
        text = json.dumps(document, indent=1, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"result for {experiment}/{run_id} is not plain finite JSON: {err}") from err
    if arrays:
        atomic_save_npz(folder / ARRAYS_FILE, arrays)
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
    if document["fingerprint"] != fingerprint(document["config"]):
        raise StoreError(f"{path}: the stored fingerprint does not match the stored config "
                         f"(the file was edited or damaged)")
    if experiment is not None:
        from harness.schemas import SchemaError, check

        try:
            check(document, experiment, path)
        except SchemaError as err:
            raise StoreError(str(err)) from None
    if config is not None:
        check_config(path.parent, document["config"], config, what="holds a result")
    return document


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
    if not (folder / RESULT_FILE).is_file():
        return None
    return read_result(folder, experiment=experiment, config=config)


def read_arrays(folder) -> dict:
    import numpy as np

    path = Path(folder) / ARRAYS_FILE
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
            atomic_write_json(folder / CONFIG_FILE, {"schema_version": SCHEMA_VERSION,
                                                     "fingerprint": fingerprint(config), "config": config})


def check_run_dir(folder, config) -> bool:
    """Refuse, before any work, a folder that holds another configuration; True when the folder
    already records this one, False when it records none."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return False
    stored = read_json(path)
    if not (isinstance(stored, dict) and "config" in stored):
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
