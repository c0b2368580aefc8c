"""The numerics mode of a process: which CPU kernels torch may choose, and what provenance records
about the machine.

Training amplifies last-bit float differences, and the kernels torch picks depend on the CPU: the
same seed gave different per-seed numbers on an AVX-512 Intel Xeon and an AVX2 AMD EPYC. Two modes:

- ``default``: torch chooses the fastest kernels this CPU has (bits are per machine);
- ``portable``: the kernel choice is fixed, so the same seed gives the same bits on any x86-64 CPU:
  ATen's vectorized kernels at their baseline build (``ATEN_CPU_CAPABILITY=default``: no AVX/AVX-512
  variants), MKL in its conditional-numerical-reproducibility mode (``MKL_CBWR=COMPATIBLE``: one
  code path on Intel and compatible CPUs), oneDNN capped at its lowest ISA (``ONEDNN_MAX_CPU_ISA=
  SSE41``; our CPU training does not reach oneDNN, measured: the bits are the same with oneDNN off).

Each switch is read once, when torch (or MKL, or oneDNN) first needs it, so ``apply`` must run
before torch is imported; worker processes the engine spawns inherit the environment, and
``check`` verifies, in the process itself, that the mode took effect (``portable`` is never
recorded where it did not). This module imports no torch: it reads torch's state only when a
caller has loaded it.
"""

import os
import sys
from pathlib import Path

MODES = ("default", "portable")
MODE_VARIABLE = "ELASTICITY_NUMERICS"  # how the mode reaches worker processes
PORTABLE = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}
MKL_CBWR_COMPATIBLE = 3  # the value MKL's mkl_cbwr_get reports for COMPATIBLE (mkl_service.h)
# the vector extensions that decide which kernels run, in /proc/cpuinfo's spelling
VECTOR_FLAGS = ("sse2", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512cd",
                "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
                "amx_tile", "amx_bf16", "amx_int8")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


class NumericsError(ValueError):
    """A numerics mode that is unknown, or declared but not in effect."""


def _checked(mode: str) -> str:
    if mode not in MODES:
        raise NumericsError(f"--numerics must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def mode() -> str:
    """The mode this process declared (``apply``), inherited by its workers; default if none."""
    declared = os.environ.get(MODE_VARIABLE, "default")
    if declared not in MODES:
        raise NumericsError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, got {declared!r}")
    return declared


def apply(wanted: str) -> list[str]:
    """Declare ``wanted`` for this process and the processes it starts; returns a note for each
    capability variable the user had set that the portable mode overrides. Call before torch is
    imported; ``check`` refuses a portable mode that came too late."""
    _checked(wanted)
    notes = []
    if wanted == "portable":
        notes = [f"--numerics portable ignores {name}={os.environ[name]} from the environment (uses {value})"
                 for name, value in PORTABLE.items() if os.environ.get(name, value) != value]
        os.environ.update(PORTABLE)
    os.environ[MODE_VARIABLE] = wanted
    check()
    return notes


def _mkl_branch(torch) -> int | None:
    """MKL's current code branch (3: COMPATIBLE), read from the MKL inside libtorch; None where
    it cannot be asked (another build)."""
    import ctypes

    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        return int(lib.mkl_serv_cbwr_get(1))  # 1: MKL_CBWR_BRANCH, the branch in use
    except (OSError, AttributeError):
        return None


def torch_build() -> dict:
    """The torch build's version, the CPU capability its kernels dispatch to, and MKL's branch; the
    last two None when this process has not loaded torch (its kernels then played no part), the
    version None where torch is not installed."""
    torch = sys.modules.get("torch")
    if torch is None:
        from importlib import metadata

        try:
            return {"version": metadata.version("torch"), "capability": None, "mkl_cbwr_branch": None}
        except metadata.PackageNotFoundError:
            return {"version": None, "capability": None, "mkl_cbwr_branch": None}
    return {"version": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr_branch": _mkl_branch(torch)}


def check() -> str:
    """The declared mode, after verifying in this process that a portable mode is in effect: its
    switches set and, where torch is loaded, ATen dispatching to its baseline kernels and MKL on
    its compatible branch. Raises NumericsError otherwise."""
    declared = mode()
    if declared != "portable":
        return declared
    wrong = [f"{name}={os.environ.get(name)}" for name, value in PORTABLE.items() if os.environ.get(name) != value]
    build = torch_build()
    if build["capability"] not in (None, "DEFAULT"):
        wrong.append(f"torch dispatches to {build['capability']} kernels (torch was imported before the mode "
                     f"was set)")
    if build["mkl_cbwr_branch"] not in (None, MKL_CBWR_COMPATIBLE):
        wrong.append(f"MKL's branch is {build['mkl_cbwr_branch']}, not COMPATIBLE")
    if wrong:
        raise NumericsError(f"numerics portable is declared but not in effect: {'; '.join(wrong)}; set it "
                            f"before torch is imported (elasticity --numerics portable ...)")
    return declared


def cpu() -> tuple[str | None, list[str]]:
    """The CPU's model name and its vector extensions (of ``VECTOR_FLAGS``), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, []
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    present = set(fields.get("flags", "").split())
    return fields.get("model name"), [flag for flag in VECTOR_FLAGS if flag in present]


def threads() -> dict:
    torch = sys.modules.get("torch")
    return {"torch": None if torch is None else torch.get_num_threads(),
            **{name: os.environ.get(name) for name in THREAD_VARIABLES}}


def provenance() -> dict:
    """What a result records about the machine's numerics: ``cpu``, ``cpu_flags``, ``torch_build``,
    ``threads``, ``numerics`` (the verified mode) and the capability variables that were set."""
    model, flags = cpu()
    return {"cpu": model, "cpu_flags": flags, "torch_build": torch_build(), "threads": threads(),
            "numerics": check(), "numerics_variables": {n: os.environ[n] for n in PORTABLE if n in os.environ}}
