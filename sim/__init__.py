"""Simulation core: token response trees, Huffman coding, finite-tree Monte Carlo.

Imports numpy, numba and theory; never torch (tests/test_layering.py checks it).

Numba's compiled-kernel cache goes to the user's cache folder ($XDG_CACHE_HOME or
~/.cache, under elasticity-toolkit/numba), not beside the sources: an installed, read-only
copy of the package must work. A NUMBA_CACHE_DIR set by the user wins. (Set here, before
any module of this package imports numba.)
"""

import os
from pathlib import Path

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "elasticity-toolkit" / "numba"),
)
