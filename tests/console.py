"""Running the ``elasticity`` console command as a user does (a subprocess), for the tests that
check it end to end."""

import shutil
import subprocess
import sys
from pathlib import Path

EXE = shutil.which("elasticity", path=str(Path(sys.executable).parent)) or shutil.which("elasticity")


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """``elasticity ARGS...``: its exit status, stdout and stderr (text)."""
    cmd = [EXE, *args] if EXE else [sys.executable, "-m", "elasticity.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)
