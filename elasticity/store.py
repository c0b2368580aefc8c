"""The result store: results/<experiment>/<run_id>/result.json (+ arrays.npz).

A result holds ``schema_version``, the resolved ``config``, ``metrics`` (units in the key
names) and ``provenance`` (git sha and dirty flag, package versions, device, seed, wall
time). Writes are atomic (temporary file in the same folder, then rename), so a crash never
leaves a half-written result; ``is_finished`` lets a rerun skip work that is already done.
Nothing read here can run code: JSON, and npz loaded with allow_pickle=False.
"""

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PACKAGES = ("numpy", "scipy", "numba", "jax", "sympy", "mpmath", "matplotlib",
             "torch", "transformers", "trl", "datasets", "accelerate")


class StoreError(ValueError):
    """A result that cannot be written or read as asked."""


def run_dir(root, experiment: str, run_id: str) -> Path:
    for label, name in (("experiment", experiment), ("run_id", run_id)):
        if not _NAME.match(name):
            raise StoreError(f"{label} must be letters, digits, '.', '_' or '-' "
                             f"(at most 128, not starting with a symbol), got {name!r}")
    return Path(root) / experiment / run_id


def is_finished(root, experiment: str, run_id: str) -> bool:
    return (run_dir(root, experiment, run_id) / RESULT_FILE).is_file()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, check=True,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance(*, seed=None, wall_time_s=None, device: str = "cpu") -> dict:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    status = _git("status", "--porcelain")
    return {
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": device,
        "seed": seed,
        "wall_time_s": wall_time_s,
        "command": _command(),
    }


def _command() -> str:
    """The command line that produced a result (the console script shown as ``elasticity``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("elasticity", "cli.py", "__main__.py"):
        argv[0] = "elasticity"
    return shlex.join(argv)


def write_result(root, experiment: str, run_id: str, *, config: dict, metrics,
                 arrays: dict | None = None, extra: dict | None = None, seed=None,
                 wall_time_s=None, device: str = "cpu") -> Path:
    """Write one result atomically; returns the path of result.json.

    ``extra`` adds top-level keys that an experiment's interface names (for example the
    rebound's ``reference_score`` and ``cells``). The arrays (if any) are written first, so a
    result.json on disk always has its arrays.
    """
    folder = run_dir(root, experiment, run_id)
    if arrays:
        _atomic_write(folder / ARRAYS_FILE,
                      lambda handle: np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()}))
    document = {
        "schema_version": SCHEMA_VERSION,
        "experiment": experiment,
        "run_id": run_id,
        "config": config,
        "metrics": metrics,
        **(extra or {}),
        "provenance": provenance(seed=seed, wall_time_s=wall_time_s, device=device),
    }
    try:
        text = json.dumps(document, indent=1, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"result for {experiment}/{run_id} is not plain finite JSON: {err}") from err
    path = folder / RESULT_FILE
    atomic_write_text(path, text + "\n")
    return path


def read_result(path) -> dict:
    """Read result.json (a file or its folder); refuse unknown schema versions."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise StoreError(f"no result file at {path}") from err
    except json.JSONDecodeError as err:
        raise StoreError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from err
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION:
        raise StoreError(f"{path} has schema_version {version!r}; this toolkit reads "
                         f"version {SCHEMA_VERSION} only")
    return document


def read_arrays(folder) -> dict[str, np.ndarray]:
    with np.load(Path(folder) / ARRAYS_FILE, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def check_same_config(folder: Path, config: dict) -> None:
    """Refuse to resume a run folder that holds another configuration."""
    path = Path(folder) / "config.json"
    if path.exists() and json.loads(path.read_text()) != json.loads(json.dumps(config)):
        raise ValueError(f"{folder} holds a run with a different configuration; "
                         f"use another --run-id or delete the folder")


def claim_run_dir(folder: Path, config: dict) -> None:
    """Record the configuration of a run folder (after its inputs were checked)."""
    check_same_config(folder, config)
    atomic_write_text(Path(folder) / "config.json", json.dumps(config, indent=1) + "\n")


def compute_once(root, experiment: str, run_id: str, compute, *, config: dict, seed=None,
                 force: bool = False) -> dict:
    """The stored result of a finished run, else ``compute()`` written as its metrics."""
    if is_finished(root, experiment, run_id) and not force:
        return read_result(run_dir(root, experiment, run_id))
    start = time.perf_counter()
    metrics = compute()
    return read_result(write_result(root, experiment, run_id, config=config, metrics=metrics, seed=seed,
                                    wall_time_s=time.perf_counter() - start))
