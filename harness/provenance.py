"""Where a result came from: the git commit and whether the tree was clean, package versions,
Python and platform, device, process count, seed, wall time, the command line, and the machine's
numerics (CPU model and vector extensions, torch build and kernel capability, threads, numerics
mode: ``harness.numerics``). Recorded in
every result (``harness.store.write_result``), so that a quoted number can be traced to the
code that made it."""

import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from harness import numerics

PACKAGES = ("numpy", "scipy", "numba", "jax", "matplotlib", "torch", "transformers", "trl",
            "datasets", "accelerate", "peft")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, check=True,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def collect(*, seed=None, wall_time_s=None, device: str = "cpu") -> dict:
    versions = {}
    for name in PACKAGES:
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
        "processes": int(os.environ.get("WORLD_SIZE", "1")),  # > 1 under accelerate launch / torchrun
        "seed": seed,
        "wall_time_s": wall_time_s,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(),
        **numerics.provenance(),  # cpu, cpu_flags, torch_build, threads, numerics: bits are per kernel choice
    }


def _command() -> str:
    """The command line that produced a result (the console script shown as ``elasticity``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("elasticity", "cli.py", "__main__.py"):
        argv[0] = "elasticity"
    return shlex.join(argv)

