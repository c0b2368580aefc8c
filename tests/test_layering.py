"""Dependency direction (DESIGN.md section 3): theory, sim and the CLI's theory and sim paths
never import torch, jax or transformers. Checked in a fresh interpreter so other tests cannot
mask it."""

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "jax", "transformers", "trl")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return set(out.stdout.strip().splitlines()[-1].split())


def test_theory_and_sim_import_no_heavy_frameworks():
    loaded = _modules_after("import theory.elasticity, theory.audit, theory.paper, "
                            "theory.limits, theory.pareto, theory.quadrature, "
                            "sim.huffman, sim.tree, sim.rates, sim.montecarlo, sim.fit")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_theory_and_audit_import_no_heavy_frameworks():
    loaded = _modules_after(
        "from elasticity.cli import main\n"
        "assert main(['theory', '--alpha', '2', '--k', '10', '--json']) == 0\n"
        "assert main(['audit', '--json', '--no-save']) == 0\n"
        "assert main(['sim', 'huffman', '--random', '10', '--json']) == 0")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_figures_imports_no_heavy_frameworks(tmp_path):
    """`elasticity figures` (DESIGN.md section 3) reads result files and plots: no torch, no jax."""
    fixtures = Path(__file__).parent / "fixtures" / "results"
    loaded = _modules_after(
        "from elasticity.cli import main\n"
        f"assert main(['figures', {str(fixtures)!r}, '--out', {str(tmp_path)!r}]) == 0")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert (tmp_path / "theory_sign_plane.png").is_file()
