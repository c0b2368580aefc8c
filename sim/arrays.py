"""Arrays read from files the user names: .npy or .npz only, never unpickled, and every
failure (missing, empty, truncated, not an array, complex or object data) a ValueError that
names the file."""

import zipfile
from pathlib import Path

import numpy as np


def load(path, what: str = "array") -> np.ndarray | dict[str, np.ndarray]:
    """A .npy file's array, or a .npz file's arrays by name (all read into memory)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file (a directory, device or pipe); give a .npy/.npz {what}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a .npy/.npz {what}")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise ValueError(f"{path} is not a .npy/.npz file (no NumPy or zip header); give a .npy/.npz {what}")
    try:  # our own handle: numpy leaves its file open when a damaged archive fails to parse
        with open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)
            if isinstance(data, np.ndarray):
                return _real(data, path)
            with data:
                return {name: _real(data[name], path, name) for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a readable .npy/.npz {what} ({err})") from None


def _real(array: np.ndarray, path: Path, name: str = "") -> np.ndarray:
    where = f"{path}" + (f" [{name}]" if name else "")
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{where}: not a .npy array inside the archive")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected real numbers, got dtype {array.dtype}")
    return array


def load_vector(path, what: str, check):
    """``check(array)`` of a .npy file's array (an .npz archive is refused); a ValueError the
    check raises names the file."""
    x = load(path, what)
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{path} must be a .npy array, not an .npz archive")
    try:
        return check(x)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
