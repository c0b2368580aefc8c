"""Dependency direction (docs/design.md, section 3): theory, sim and the CLI's theory and sim paths
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
    """`elasticity figures` (docs/design.md, section 3) reads result files and plots: no torch, no jax."""
    fixtures = Path(__file__).parent / "fixtures" / "results"
    loaded = _modules_after(
        "from elasticity.cli import main\n"
        f"assert main(['figures', {str(fixtures)!r}, '--out', {str(tmp_path)!r}]) == 0")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert (tmp_path / "theory_sign_plane.png").is_file()


def test_configs_presets_store_and_engine_import_no_heavy_frameworks():
    """The floor of the glue package (plain data and the store) is light: empirical/ and
    figures/ build on it, and `import elasticity.presets` must not cost torch's start-up."""
    loaded = _modules_after("import elasticity.presets, elasticity.configs, elasticity.store, "
                            "elasticity.engine, elasticity.overrides, elasticity.schemas, "
                            "elasticity.progress")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


# The project's layers, from the bottom. A module may import its own layer and those below.
FLOOR = {"elasticity.store", "elasticity.engine", "elasticity.configs", "elasticity.overrides",
         "elasticity.schemas", "elasticity.progress", "elasticity.presets", "elasticity"}
TOP = {"elasticity.cli", "elasticity.reproduce", "elasticity.report", "elasticity.runs",
       "elasticity.render", "elasticity.export", "elasticity.__main__"}
ALLOWED = {  # package -> the project packages (or floor modules) it may import
    "theory": {"theory"},
    "sim": {"theory", "sim"},
    "floor": FLOOR,
    "empirical": {"theory", "sim", "empirical"} | FLOOR,
    "figures": {"figures"} | FLOOR,
}


def _project_imports() -> dict[str, set[str]]:
    import ast

    root = Path(__file__).resolve().parents[1]
    graph = {}
    for package in ("theory", "sim", "empirical", "figures", "elasticity"):
        for path in (root / package).glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            graph[name] = {m for m in found if m.split(".")[0] in ALLOWED or m.startswith("elasticity")}
    return graph


def _layer(module: str) -> str:
    if module in FLOOR:
        return "floor"
    if module in TOP:
        return "top"
    return module.split(".")[0]


def test_each_layer_imports_only_what_lies_below_it():
    graph = _project_imports()
    modules = set(graph)
    bad = []
    for module, imports in graph.items():
        layer = _layer(module)
        if layer == "top":
            continue
        for target in imports:
            target = target if target in modules else target.rsplit(".", 1)[0]  # from pkg import name
            allowed = ALLOWED[layer]
            package = target.split(".")[0]
            if target not in allowed and (package == "elasticity" or package not in allowed):
                bad.append(f"{module} imports {target}")
    assert not bad, bad


def test_nothing_below_imports_the_cli_reproduce_or_report_and_there_are_no_cycles():
    graph = _project_imports()
    modules = set(graph)
    edges = {m: {t if t in modules else t.rsplit(".", 1)[0] for t in imports} & modules - {m}
             for m, imports in graph.items()}
    for module, targets in edges.items():
        if module not in ("elasticity.cli", "elasticity.__main__"):
            assert not targets & {"elasticity.cli", "elasticity.reproduce"} - {module}, (module, targets)
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in edges[node]:
            if nxt == "elasticity":
                continue  # the package's __init__ imports nothing
            if state.get(nxt) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = "done"

    for module in edges:
        if module not in state:
            visit(module, [])
