"""Dependency direction (docs/design.md, section 3): one layer per package, and theory,
sim, the harness and the CLI's theory, sim and figure paths never import torch, jax or
transformers (checked in a fresh interpreter, so that other tests cannot mask it)."""

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "jax", "transformers", "trl")
ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return set(out.stdout.strip().splitlines()[-1].split())


def test_theory_and_sim_import_no_heavy_frameworks():
    loaded = _modules_after("import theory.exact, theory.audit, theory.paper, "
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
    """`elasticity figures` (docs/design.md, section 3) reads result files and plots: no torch, no jax."""
    fixtures = Path(__file__).parent / "fixtures" / "results"
    loaded = _modules_after(
        "from elasticity.cli import main\n"
        f"assert main(['figures', {str(fixtures)!r}, '--out', {str(tmp_path)!r}]) == 0")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert (tmp_path / "theory_sign_plane.png").is_file()


def test_the_harness_imports_no_heavy_frameworks():
    """The experiment harness (configs, presets, store, engine, ...) is light: empirical/ and
    figures/ build on it, and `import harness.presets` must not cost torch's start-up."""
    modules = sorted(p.stem for p in (ROOT / "harness").glob("*.py") if p.stem != "__init__")
    assert {"configs", "presets", "store", "engine", "provenance"} <= set(modules), modules
    loaded = _modules_after("import " + ", ".join(f"harness.{m}" for m in modules))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


# The project's packages, from the bottom (docs/design.md, section 3). A module may import its
# own package and those below it, never one above, lazy imports (inside functions) included.
ORDER = ("theory", "sim", "harness", "empirical", "figures", "elasticity")


def _project_imports() -> dict[str, set[str]]:
    """Every project module -> the project modules or packages it names in an import statement
    (anywhere in the file, so lazy imports count)."""
    import ast

    graph = {}
    for package in ORDER:
        for path in (ROOT / package).glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            graph[name] = {m for m in found if m.split(".")[0] in ORDER}
    return graph


def test_no_package_imports_one_above_it():
    graph = _project_imports()
    assert {m.split(".")[0] for m in graph} == set(ORDER)  # every package was read
    upward = sorted(f"{module} imports {target}" for module, imports in graph.items() for target in imports
                    if ORDER.index(target.split(".")[0]) > ORDER.index(module.split(".")[0]))
    assert not upward, upward


def test_layering_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check must fail on the flaw it guards against: a lazy import of the app from below."""
    fake = tmp_path / "harness"
    fake.mkdir()
    (fake / "bad.py").write_text("def f():\n    from elasticity import runs\n")
    for package in ORDER:
        if package != "harness":
            (tmp_path / package).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = _project_imports()
    assert graph["harness.bad"] == {"elasticity", "elasticity.runs"}
    assert [t for t in graph["harness.bad"] if ORDER.index(t.split(".")[0]) > ORDER.index("harness")]


def test_there_are_no_import_cycles():
    graph = _project_imports()
    modules = set(graph)
    edges = {m: {t if t in modules else t.rsplit(".", 1)[0] for t in imports} & modules - {m}
             for m, imports in graph.items()}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in edges[node]:
            if nxt in ORDER:
                continue  # a package's __init__ imports nothing of the project
            if state.get(nxt) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = "done"

    for module in edges:
        if module not in state:
            visit(module, [])
