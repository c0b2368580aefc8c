"""How far a mutant of theory/quadrature.py moves the exact theory, in units of its own error
estimate (the measurement behind the quadrature judgements in tools/mutate.py's EQUIVALENT).

    .venv/bin/python tools/quadrature_mutant_effect.py "LINE|WHAT" ...   e.g. "21|44.0 -> 45.0"

For each mutant named (several mutants can share a line and a description: each is reported),
the largest |changed - original| / error estimate over the golden points and alpha 1.1 and 100,
with the point and the quantity where it is reached.
"""

import json
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import mutate  # noqa: E402

from theory import exact, quadrature  # noqa: E402


def main(argv) -> int:
    golden = json.loads((ROOT / "tests" / "golden" / "theory_golden.json").read_text())["cases"]
    points = [(c["alpha"], c["k"], c["l"]) for c in golden] + [(1.1, 1e3, 1.0), (100.0, 10.0, 0.5)]
    base = {pt: exact.exact_with_error(*pt) for pt in points}
    wanted = {tuple(arg.split("|")) for arg in argv}
    for line, what, source in mutate.mutants((ROOT / "theory" / "quadrature.py").read_text()):
        if (str(line), what) not in wanted:
            continue
        module = types.ModuleType("theory.quadrature")
        exec(compile(source, "quadrature (mutant)", "exec"), module.__dict__)
        exact.quadrature = module
        try:
            worst = max((abs(getattr(exact.exact(*pt), q) - getattr(base[pt][0], q)) / base[pt][1][q], pt, q)
                        for pt in points for q in exact.QUANTITIES)
            print(f"{line} {what}: {worst[0]:.2g} x the error estimate ({worst[2]} at {worst[1]})")
        except (ValueError, FloatingPointError, OverflowError) as err:
            print(f"{line} {what}: fails ({err})")
        finally:
            exact.quadrature = quadrature
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
