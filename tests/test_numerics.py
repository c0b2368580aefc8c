"""The numerics mode: portable fixes the kernel choice before torch loads, overrides capability
variables a user set, is verified in the process, travels to worker processes, is recorded in
provenance, and a run never mixes or serves another mode's numbers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console import run_cli
from harness import engine, numerics, store
from toy_protocol import Toy, ToyConfig

ROOT = Path(__file__).resolve().parent.parent
# an AVX2-only CPU as torch, MKL and oneDNN would see it (this machine may have AVX-512)
AVX2_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
TRAIN = """
import hashlib, sys
from harness import numerics
numerics.apply(sys.argv[1])
import torch
torch.set_num_threads(1)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.LayerNorm(64), torch.nn.Linear(64, 8))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
x, y = torch.randn(256, 32), torch.randint(0, 8, (256,))
for _ in range(40):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest(),
      numerics.torch_build()["capability"])
"""


def _python(code: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    full.pop(numerics.MODE_VARIABLE, None)
    return subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True, text=True, timeout=120)


def test_portable_gives_the_same_bits_on_a_lesser_cpu_where_default_does_not():
    """The claim of the mode, checked on one machine by simulating an AVX2-only CPU: the default
    mode's bits follow the kernels the CPU allows (this assertion keeps the simulation honest: if
    it stopped changing anything, the portable assertion would prove nothing)."""
    got = {(mode, cpu): _python(TRAIN, mode, env=env).stdout.split()
           for mode in ("default", "portable") for cpu, env in (("here", {}), ("avx2", AVX2_CPU))}
    assert got[("portable", "here")] == got[("portable", "avx2")]
    assert got[("portable", "here")][1] == "DEFAULT"
    here, lesser = got[("default", "here")], got[("default", "avx2")]
    if here[1] == lesser[1]:
        pytest.skip(f"this CPU's best kernels are {here[1]}: the AVX2 simulation changes nothing here")
    assert here[0] != lesser[0]


def test_portable_overrides_capability_variables_and_says_so(monkeypatch):
    # a copy of the environment: `apply` sets variables that were absent, which monkeypatch's
    # delenv does not record, and MKL_CBWR left behind put later tests' MKL on its portable branch
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE})
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    monkeypatch.setenv(numerics.MODE_VARIABLE, "default")
    monkeypatch.setattr(numerics, "torch_build", lambda: {"version": "x", "capability": None, "mkl_cbwr_branch": None})
    notes = numerics.apply("portable")
    assert notes == ["--numerics portable ignores ATEN_CPU_CAPABILITY=avx512 from the environment (uses default)"]
    assert all(os.environ[name] == value for name, value in numerics.PORTABLE.items())
    assert numerics.mode() == "portable"


def test_portable_is_refused_where_torch_already_chose_its_kernels():
    late = "import torch\ntorch.ones(4).exp()\nfrom harness import numerics\nnumerics.apply('portable')"
    out = _python(late)
    assert out.returncode != 0 and "declared but not in effect" in out.stderr
    assert "AVX" in out.stderr or "MKL" in out.stderr  # what did not take effect is named


def test_provenance_records_the_machine_and_the_mode(tmp_path):
    path = store.write_result(tmp_path, "demo", "r", config={}, metrics={})
    prov = store.read_result(path)["provenance"]
    cpuinfo = Path("/proc/cpuinfo").read_text()
    assert prov["cpu"] and prov["cpu"] in cpuinfo
    assert prov["cpu_flags"] and set(prov["cpu_flags"]) <= set(numerics.VECTOR_FLAGS)
    assert all(f" {flag}" in cpuinfo for flag in prov["cpu_flags"])
    assert prov["numerics"] == numerics.mode() and prov["torch_build"]["version"]
    assert set(prov["threads"]) == {"torch", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}


def test_a_run_refuses_cells_and_results_of_another_mode(tmp_path, monkeypatch):
    monkeypatch.setenv(numerics.MODE_VARIABLE, "default")
    out = engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")
    cell = json.loads((out.path.parent / "cells" / "v1.json").read_text())
    assert cell["numerics"] == "default"
    monkeypatch.setattr(numerics, "torch_build", lambda: {"version": "x", "capability": None, "mkl_cbwr_branch": None})
    for name, value in numerics.PORTABLE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(numerics.MODE_VARIABLE, "portable")
    with pytest.raises(store.StoreError, match="computed in numerics default; this run is in portable"):
        engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")  # the result
    (out.path).unlink()
    with pytest.raises(store.StoreError, match="v1.json was computed in numerics default"):
        engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")  # its cells
    assert store.default_run_id("quick", {"a": 1}).startswith("quick-portable-")


def test_the_cli_applies_the_mode_to_worker_processes(tmp_path):
    """Two spawned workers each write cells; every cell says portable (a worker that did not
    inherit the mode would stamp default, or refuse)."""
    out = run_cli("--numerics", "portable", "resist", "--preset", "micro", "--set", "seeds=0",
                  "--set", "pretrain.steps=2", "--set", "part_size=16", "--results", str(tmp_path), "--workers", "2")
    assert out.returncode == 0, out.stderr
    folder = next((tmp_path / "resist").glob("micro-synthetic-portable-*"))
    cells = [json.loads(p.read_text()) for p in (folder / "cells").glob("*.json")]
    assert len(cells) == 2 and all(c["numerics"] == "portable" for c in cells)
    prov = json.loads((folder / "result.json").read_text())["provenance"]
    assert prov["numerics"] == "portable" and prov["torch_build"]["capability"] == "DEFAULT"


def test_an_unknown_mode_exits_2_and_writes_nothing(tmp_path):
    out = run_cli("--numerics", "fast", "audit", "--results", str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and not any(tmp_path.iterdir())


def test_the_mode_can_come_from_the_environment_alone(tmp_path):
    env = {**os.environ, numerics.MODE_VARIABLE: "portable", "ATEN_CPU_CAPABILITY": "avx2"}
    out = subprocess.run([*_cli(), "sim", "check", "--alpha", "3", "--k", "100", "--depth", "4", "--replicates", "3",
                          "--results", str(tmp_path), "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ignores ATEN_CPU_CAPABILITY=avx2" in out.stderr
    folder = next((tmp_path / "sim-check").glob("[!.]*"))
    assert folder.name.startswith("a3-k100-l0-d4-r3-s0-portable-")
    assert json.loads((folder / "result.json").read_text())["provenance"]["numerics"] == "portable"
    env[numerics.MODE_VARIABLE] = "fast"
    bad = subprocess.run([*_cli(), "audit", "--no-save"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "ELASTICITY_NUMERICS must be one of default, portable" in bad.stderr


def _cli() -> list[str]:
    from console import EXE

    return [EXE] if EXE else [sys.executable, "-m", "elasticity.cli"]


PORTABLE_FIXTURE = ROOT / "tests" / "fixtures" / "results" / "resist" / "micro-synthetic"


def test_a_seed_of_the_portable_fixture_comes_back_bit_identical_here():
    """The committed resist micro run made in the portable mode (tests/fixtures/make_fixtures.py),
    rerun on this CPU, whichever it is: every per-seed number of seed 0 must be the same float. On a
    CPU other than the one that made it, this is the test of the portable mode's claim."""
    made = json.loads((PORTABLE_FIXTURE / "result.json").read_text())["provenance"]
    assert made["numerics"] == "portable"
    out = run_cli("verify", "--rerun", "1", str(PORTABLE_FIXTURE))
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("seed 0 ")]
    assert len(rows) == 3 and all(line.endswith("bit-identical yes") for line in rows), out.stdout
    assert "rerun in numerics portable" in out.stdout
