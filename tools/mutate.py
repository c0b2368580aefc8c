"""Mutation testing: put one small bug at a time into the code and check that a test fails.

    .venv/bin/python tools/mutate.py [--only MODULE ...] [--list] [--jobs 2] [--timeout 300] [--out mutants.json]
    .venv/bin/python tools/mutate.py --combine FULL.json RERUN.json ... --out mutants.json

(``make mutate``; not part of CI: it runs the mapped tests once per mutant, about 40 min here.)

Each mutant changes one node of a module's syntax tree: a comparison (< and <=, > and >=, ==
and !=), an arithmetic operator (+ and -, * and /, ** and *), a number (n -> n + 1; 0.5 ->
1.5; 0 -> 1), a unary minus removed, ``and`` and ``or``, ``True`` and ``False``. The project is
copied to a temporary folder once; each mutant is written there and the module's tests (the
``TARGETS`` map) run with ``-x`` against the copy. A mutant is *killed* when a test fails or
times out, *survives* when every test passes. Survivors are listed with their line, so each can
be judged (equivalent, or a missing test); the ones judged equivalent are listed in
``EQUIVALENT`` with the reason, and the score counts the rest.
"""

import argparse
import ast
import copy
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> the tests that guard it (the fast ones: each runs once per mutant)
TARGETS = {
    "theory/pareto.py": ["tests/test_pareto.py", "tests/test_known_mutants.py"],
    "theory/exact.py": ["tests/test_exact.py"],
    "theory/quadrature.py": ["tests/test_quadrature.py", "tests/test_exact.py"],
    "theory/limits.py": ["tests/test_exact.py", "tests/test_audit.py"],
    "theory/boundary.py": ["tests/test_boundary.py"],
    "theory/paper.py": ["tests/test_paper.py", "tests/test_audit.py"],
    "sim/probability.py": ["tests/test_huffman.py"],
    "sim/huffman.py": ["tests/test_huffman.py", "tests/test_known_mutants.py"],
    "sim/rates.py": ["tests/test_rates.py", "tests/test_tree.py"],
    "sim/montecarlo.py": ["tests/test_montecarlo.py", "tests/test_known_mutants.py"],
    "empirical/statistics.py": ["tests/test_statistics.py"],
    "empirical/metrics.py": ["tests/test_metrics.py", "tests/test_rebound.py"],
    "empirical/measure.py": ["tests/test_empirical_core.py", "tests/test_known_mutants.py"],
}

# (module, the mutated line's code without its comment, what) -> why the mutant cannot change any result (keyed by
# the code rather than the line number, so that edits elsewhere in a module keep the judgement)
_SCRATCH = "a scratch array larger than needed: the extra slots are never read"
# measured with every quantity at the golden points and at alpha 1.1 and 100 (see the README's tests section)
_RANGE = ("the quadrature rule's range moved (wider, or narrower by less than the tail it drops) or a constant "
          "that normalization removes: no quantity moves by more than 0.66 of its own error estimate")
_ROUNDING = ("a wider range or a constant that normalization removes: a change of rounding only, but at "
             "alpha = 100 it moves N_1 by 2-3x its error estimate (the estimate's rounding floor is thin there)")
_U_MIN = "log_u_min = (math.log(TAIL_MASS) - math.log(alpha / (alpha - 1.0))) * alpha / (alpha - 1.0)"
_NORMALIZED = "the divisor is 1 up to rounding (a normalized law): dividing and multiplying agree"
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("sim/probability.py", "if abs(total - 1.0) > SUM_TOLERANCE:", "Gt -> GtE"):
        "the sum tolerance's boundary: a sum off by exactly 1e-6 in float64",
    ("sim/huffman.py", "merged = np.empty(n - 1)", "Sub -> Add"): _SCRATCH,
    ("sim/huffman.py", "parent = np.empty(2 * n - 1, dtype=np.int64)", "Sub -> Add"): _SCRATCH,
    ("sim/huffman.py", "parent = np.empty(2 * n - 1, dtype=np.int64)", "2 -> 3"): _SCRATCH,
    ("sim/huffman.py", "parent = np.empty(2 * n - 1, dtype=np.int64)", "1 -> 2"):
        "2n - 2 slots still hold every child's parent: the root (node 2n - 2) has none",
    ("sim/huffman.py", "depth = np.zeros(2 * n - 1, dtype=np.int64)", "Sub -> Add"): _SCRATCH,
    ("sim/huffman.py", "depth = np.zeros(2 * n - 1, dtype=np.int64)", "2 -> 3"): _SCRATCH,
    ("sim/rates.py", "p_mix = mix.eos / mix.total", "Div -> Mult"): _NORMALIZED,
    ("sim/rates.py", '"mixture_huffman_bits": huffman.expected_length_bits(p_mix / p_mix.sum()),',
     "Div -> Mult"): _NORMALIZED,
    ("sim/rates.py", "p = p / p.sum()", "Div -> Mult"): _NORMALIZED,
    ("sim/rates.py", "for f, t in zip(files, trees, strict=True):", "True -> False"):
        "the trees are built from the files, one each: the lengths always agree",
    ("theory/exact.py", "names = [q for q in QUANTITIES if error[q] > FLAG_RELATIVE_ERROR * abs(row[q])]",
     "Gt -> GtE"): "an error of exactly 1e-8 of its value: a boundary of measure zero",
    ("theory/exact.py", "dN = [(1.0 - C * e_w_w3_over_r(j)) / T for j in range(2)]", "2 -> 3"):
        "a third derivative computed and never read",
    ("sim/montecarlo.py", "dn = (1.0 - p[:2] @ ratio3) / T", "2 -> 3"):
        "a third derivative computed and never read",
    ("sim/montecarlo.py", "replicates = len(draws[REPORTED[0]])", "0 -> 1"):
        "every quantity has one draw per replicate: any of them gives the count",
    ("empirical/statistics.py", "if ok.mean() < 0.975:", "Lt -> LtE"):
        "exactly 97.5% of the draws with a non-zero denominator: the rule's boundary, either side is fair",
    ("empirical/metrics.py", "if side != 0 and side * gap[i - 1] > 0 >= side * gap[i]:", "Mult -> Div"):
        "side / gap[i-1] has the sign of side * gap[i-1]; gap[i-1] = 0 is never reached (the step "
        "before returned); the other product's mutant is killed (side / 0 warns, and warnings fail)",
    **{("theory/limits.py", "return brentq(_sign_term, 1.5, 5.0, xtol=1e-15, rtol=4 * math.ulp(1.0))", what):
       "brentq's bracket (any around 2.5733) and ulp tolerance: the root moves by ~1e-14, inside the 1e-13 "
       "test_alpha_star_against_a_30_digit_root holds it to"
       for what in ("1.5 -> 2.5", "5.0 -> 6.0", "1.0 -> 2.0", "4 -> 5")},
    ("theory/limits.py", 'a = sp.Symbol("a", positive=True)', "True -> False"):
        "an assumption that helps sympy simplify: the derived moments are the same (checked numerically)",
    ("theory/quadrature.py", "LOG_NEAR_ONE = 44.0", "44.0 -> 45.0"): _RANGE,
    ("theory/quadrature.py", _U_MIN, "Sub -> Add"): _RANGE,
    ("theory/quadrature.py", _U_MIN, "Div -> Mult"): _ROUNDING,
    ("theory/quadrature.py", "n_hi = math.ceil(math.asinh(LOG_NEAR_ONE / math.pi) / step)", "Div -> Mult"): _RANGE,
    ("theory/quadrature.py", "x = step * np.arange(n_lo, n_hi + 1)", "Add -> Sub"): _RANGE,
    ("theory/quadrature.py", "x = step * np.arange(n_lo, n_hi + 1)", "1 -> 2"): _RANGE,
    ("theory/quadrature.py", "log_weight = np.log(step * math.pi * np.cosh(x)) + log_u + log_1mu", "Mult -> Div"):
        _ROUNDING,
    ("theory/quadrature.py", "weights = np.exp(log_weight - log_weight.max())", "Sub -> Add"): _RANGE,
    ("theory/quadrature.py", "tau_min = math.log(TAIL_MASS) / rate - 2.0", "Sub -> Add"): _RANGE,
    ("theory/quadrature.py", "tau_min = math.log(TAIL_MASS) / rate - 2.0", "2.0 -> 3.0"): _RANGE,
    ("theory/quadrature.py", "tau_max = math.log(45.0)", "45.0 -> 46.0"): _RANGE,
    ("theory/quadrature.py", "tau = step * np.arange(first, last + 1)", "1 -> 2"): _RANGE,
    ("empirical/measure.py", "rows.append(lp[:, cfg.response_start - 1:].sum(-1).numpy())", "unary minus removed"):
        "lp is 2-D: axis 1 and axis -1 are the same axis",
    ("theory/boundary.py", "SCAN = 57", "57 -> 58"):
        "a finer scan finds the same first sign change, which brentq refines to the same root",
    ("theory/boundary.py", "alpha, _, l = check_point(alpha, 1.0, l)", "1.0 -> 2.0"):
        "a placeholder k for the check of alpha and l; the k is discarded",
    ("theory/boundary.py", "if values[i - 1] * values[i] < 0:", "Mult -> Div"):
        "a quotient has the product's sign (a zero value is caught on the line before)",
    ("theory/boundary.py", "if values[i - 1] * values[i] < 0:", "Lt -> LtE"):
        "a zero product means a zero at values[i], which the next step returns exactly as well",
    ("empirical/measure.py",
     "def response_log_probs(model, world: World, prompts: np.ndarray, batch_size: int = 4096) -> np.ndarray:",
     "4096 -> 4097"): "a batch size: how many sequences go through the model at once",
    ("empirical/measure.py",
     "def code_length(model, tokens: np.ndarray, response_start: int, batch_size: int = 4096) -> dict:",
     "4096 -> 4097"): "a batch size: how many sequences go through the model at once",
}

SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
         ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
         ast.Pow: ast.Mult, ast.And: ast.Or, ast.Or: ast.And}


def _skipped(tree) -> set[int]:
    """ids of nodes that are not behaviour: docstrings, annotations, decorators (compilation
    flags such as numba's cache=True, a dataclass's frozen=True), and everything inside an f-string or a raise statement
    (error messages)."""
    out = set()
    for node in ast.walk(tree):
        inside = []
        if isinstance(node, (ast.JoinedStr, ast.Raise)):
            inside.append(node)
        if isinstance(node, (ast.AnnAssign, ast.arg)) and getattr(node, "annotation", None) is not None:
            inside.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inside += node.decorator_list
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            inside.append(node.returns)
        for root in inside:
            out |= {id(n) for n in ast.walk(root)}
    return out


def mutants(source: str):
    """(line, description, mutated source) for every single-node mutation of ``source``."""
    tree = ast.parse(source)
    skipped = _skipped(tree)
    order = list(ast.walk(tree))  # deterministic; a deep copy walks in the same order
    for i, node in enumerate(order):
        if id(node) in skipped:
            continue
        for what, change in _changes(node):
            mutated = copy.deepcopy(tree)
            change(list(ast.walk(mutated))[i])
            yield getattr(node, "lineno", 0), what, ast.unparse(mutated)


def _changes(node):
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAPS:
        new = SWAPS[type(node.ops[0])]
        yield f"{type(node.ops[0]).__name__} -> {new.__name__}", lambda n, new=new: n.ops.__setitem__(0, new())
    elif isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
        new = SWAPS[type(node.op)]
        yield f"{type(node.op).__name__} -> {new.__name__}", lambda n, new=new: setattr(n, "op", new())
    elif isinstance(node, ast.BoolOp) and type(node.op) in SWAPS:
        new = SWAPS[type(node.op)]
        yield f"{type(node.op).__name__} -> {new.__name__}", lambda n, new=new: setattr(n, "op", new())
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "unary minus removed", lambda n: setattr(n, "op", ast.UAdd())
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value} -> {not node.value}", lambda n: setattr(n, "value", not n.value)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        new = node.value + 1
        yield f"{node.value!r} -> {new!r}", lambda n, new=new: setattr(n, "value", new)


def run_tests(copy_root: Path, tests: list[str], timeout: float) -> str:
    # numba does not check indices unless told: without NUMBA_BOUNDSCHECK an off-by-one loop in a
    # kernel reads and writes past its buffers silently, and such a mutant would survive by luck
    env = {**os.environ, "PYTHONPATH": str(copy_root), "HYPOTHESIS_PROFILE": "ci", "NUMBA_CACHE_DIR":
           str(copy_root / ".numba-cache"), "NUMBA_BOUNDSCHECK": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           *[str(copy_root / t) for t in tests]]
    try:
        out = subprocess.run(cmd, cwd=copy_root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    return "survived" if out.returncode == 0 else "killed"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="modules to mutate (default: all TARGETS)")
    parser.add_argument("--list", action="store_true", help="count the mutants and stop")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant's tests")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (one project copy each)")
    parser.add_argument("--out", type=Path, default=ROOT / "mutants.json", help="where the outcome goes")
    parser.add_argument("--combine", nargs="+", type=Path, default=None, metavar="OUTCOME",
                        help="score earlier outcome files together instead of running (a later file's modules "
                             "replace an earlier's; survivors judged with today's EQUIVALENT, so the modules must "
                             "be unchanged since) and write the result to --out")
    args = parser.parse_args(argv)
    if args.combine:
        return _combine(args.combine, args.out)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    modules = args.only or list(TARGETS)
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        parser.error(f"not in TARGETS: {unknown}")
    plan = [(m, line, what, src) for m in modules for line, what, src in mutants((ROOT / m).read_text())]
    code = {m: _code(m) for m in modules}
    stale = [key for key in EQUIVALENT if key[0] in code and key[1] not in code[key[0]]]
    if stale:
        parser.error(f"EQUIVALENT names code that is no longer there (judge these again): {stale}")
    print(f"{len(plan)} mutants in {len(modules)} modules", flush=True)
    if args.list:
        return 0
    outcome = []
    with tempfile.TemporaryDirectory() as tmp:
        copies = queue.Queue()  # one project copy per job: a mutant owns its copy while its tests run
        for j in range(args.jobs):
            copy_root = Path(tmp) / f"project{j}"
            shutil.copytree(ROOT, copy_root, ignore=shutil.ignore_patterns(
                ".venv", ".git", "results", "__pycache__", "*.egg-info", ".hypothesis", "mutants*.json"))
            copies.put(copy_root)

        def one(item):
            module, line, what, source = item
            copy_root = copies.get()
            original = (copy_root / module).read_text()
            (copy_root / module).write_text(source)
            try:
                return module, line, what, run_tests(copy_root, TARGETS[module], args.timeout)
            finally:
                (copy_root / module).write_text(original)
                copies.put(copy_root)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            for i, (module, line, what, result) in enumerate(pool.map(one, plan), 1):
                outcome.append(_judged(module, line, what, result, code[module]))
                why = outcome[-1].get("equivalent")
                if result == "survived":
                    print(f"  survived: {module}:{line} {what}" + (f" (equivalent: {why})" if why else ""),
                          flush=True)
                _write(args.out, outcome, finished=i == len(plan))  # a stopped run keeps what it measured
                if i % 20 == 0:
                    print(f"{i}/{len(plan)} mutants, {time.perf_counter() - start:.0f} s", flush=True)
    score, killed, counted = _score(outcome)
    print(f"mutation score: {killed}/{counted} = {score:.1%} killed ({len(outcome) - counted} judged "
          f"equivalent); details in {args.out}")
    return 0


def _code(module: str) -> list[str]:
    """The module's lines without comments, as EQUIVALENT names them."""
    return [line.split("  #")[0].strip() for line in (ROOT / module).read_text().splitlines()]


def _judged(module: str, line: int, what: str, result: str, code: list[str]) -> dict:
    # a judgement covers survivors only: a killed mutant counts whatever the table says
    why = EQUIVALENT.get((module, code[line - 1], what)) if result == "survived" else None
    return {"module": module, "line": line, "mutation": what, "result": result, **({"equivalent": why} if why else {})}


def _combine(paths: list[Path], out: Path) -> int:
    by_module: dict[str, list[dict]] = {}
    for path in paths:
        runs: dict[str, list[dict]] = {}
        for o in json.loads(path.read_text())["mutants"]:
            runs.setdefault(o["module"], []).append(o)
        by_module |= runs
    outcome = [_judged(o["module"], o["line"], o["mutation"], o["result"], _code(o["module"]))
               for module in TARGETS if module in by_module for o in by_module[module]]
    _write(out, outcome, finished=True)
    score, killed, counted = _score(outcome)
    for o in outcome:
        if o["result"] == "survived" and "equivalent" not in o:
            print(f"  survived: {o['module']}:{o['line']} {o['mutation']}")
    print(f"mutation score: {killed}/{counted} = {score:.1%} killed ({len(outcome) - counted} judged "
          f"equivalent) over {len(outcome)} mutants of {len(by_module)} modules; details in {out}")
    return 0


def _score(outcome):
    judged = [o for o in outcome if "equivalent" not in o]
    killed = sum(o["result"] != "survived" for o in judged)
    return (killed / len(judged) if judged else 1.0), killed, len(judged)


def _write(path: Path, outcome, finished: bool) -> None:
    score, killed, counted = _score(outcome)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"finished": finished, "score": score, "killed": killed, "counted": counted,
                               "equivalent": len(outcome) - counted, "mutants": outcome}, indent=1))
    tmp.replace(path)

if __name__ == "__main__":
    sys.exit(main())
