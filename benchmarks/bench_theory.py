"""Speed of the exact theory, side by side with scipy.integrate.nquad, in one run.

    .venv/bin/python benchmarks/bench_theory.py          (about a minute)

Targets (issue "Foundation and the exact theory"): one (alpha, k, l) point with all
derivatives to 1e-10 in at most 5 ms after warm-up, at least 100x faster per integral than
nquad on the same integrals at the same accuracy, and the audit grid in a few seconds.

Second, the JAX batch path (theory.batch) on a map of 20 alpha x 500 k = 1e4 points against the
numpy path on the same points (timed on a sample of them), per point, compilation reported
apart (target: at least 5x fewer seconds per point on this 2-core CPU); values only, and with
the autodiff derivatives in alpha and k.

The baseline integral is N_1 at l = 0, where it is two-dimensional (the easiest case for
nquad; at l > 0 it is three-dimensional and nquad takes minutes): in u-coordinates,
X = C u^(-1/alpha) with u uniform, N_1 = int int -X_1 log((k X_1 + X_2)/(k + 1)) du_1 du_2.
Our `exact` computes five independent integrals per point (three E[W_j log R], two
E[W_j W_3 / R]); the per-integral time is its time divided by five.
"""

import json
import math
import time
import warnings
from pathlib import Path

from scipy import integrate
from timing import median_seconds

from theory import audit, pareto
from theory.exact import exact, exact_with_error

ALPHA, K, L = 2.0, 10.0, 0.0  # a golden point (tests/golden/theory_golden.json)
INTEGRALS_PER_POINT = 5


def nquad_n1(alpha: float, k: float) -> float:
    c = pareto.scale(alpha)

    def integrand(u1, u2):
        x1, x2 = c * u1 ** (-1 / alpha), c * u2 ** (-1 / alpha)
        return -x1 * math.log((k * x1 + x2) / (k + 1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.nquad(integrand, [[0, 1], [0, 1]],
                                   opts={"epsabs": 1e-10, "epsrel": 1e-10, "limit": 200})
    return value


def main() -> None:
    golden = json.loads((Path(__file__).parents[1] / "tests/golden/theory_golden.json").read_text())
    ref = next(c for c in golden["cases"] if (c["alpha"], c["k"], c["l"]) == (ALPHA, K, L))
    n1_ref = float(ref["values"]["N_1"])

    ours = median_seconds(lambda: exact(ALPHA, K, L), repeat=200)
    ours_err = median_seconds(lambda: exact_with_error(ALPHA, K, L), repeat=100)
    ours_error = abs(exact(ALPHA, K, L).N_1 - n1_ref)

    start = time.perf_counter()
    base_value = nquad_n1(ALPHA, K)
    base = time.perf_counter() - start
    base_error = abs(base_value - n1_ref)

    grid = median_seconds(lambda: audit.run_audit(), repeat=3)

    per_integral = ours / INTEGRALS_PER_POINT
    print(f"point alpha={ALPHA:g} k={K:g} l={L:g}")
    print(f"  ours, all 12 quantities         {ours * 1e3:8.3f} ms  (target <= 5 ms)"
          f"  |N_1 err| {ours_error:.1e}")
    print(f"  ours, with error estimates      {ours_err * 1e3:8.3f} ms")
    print(f"  nquad, N_1 only (2-D)           {base * 1e3:8.1f} ms                  "
          f"  |N_1 err| {base_error:.1e}")
    print(f"  per integral: ours {per_integral * 1e3:.3f} ms vs nquad {base * 1e3:.1f} ms"
          f"  ratio {base / per_integral:,.0f}x  (target >= 100x)")
    print(f"audit grid (40 points + all checks) {grid:.2f} s")
    batch_against_numpy()


def batch_against_numpy() -> None:
    import numpy as np

    from theory import batch

    alphas, ks = np.linspace(1.5, 6.0, 20), np.geomspace(1.0, 1e6, 500)
    A, K = np.meshgrid(alphas, ks, indexing="ij")
    sample = np.random.default_rng(0).integers(0, A.size, 100)
    numpy_per_point = median_seconds(lambda: [exact(A.flat[i], K.flat[i], 0.0) for i in sample], repeat=3) / 100
    print(f"map of {A.size} points (alpha 1.5..6 x k 1..1e6, l = 0); numpy path {numpy_per_point * 1e6:.0f} us/point")
    for derivatives in (False, True):
        start = time.perf_counter()
        batch.evaluate(A, K, 0.0, derivatives=derivatives)
        first = time.perf_counter() - start
        again = median_seconds(lambda d=derivatives: batch.evaluate(A, K, 0.0, derivatives=d), repeat=2)
        what = "with d/dalpha, d/dk" if derivatives else "values"
        print(f"  jax batch, {what:<20} {again / A.size * 1e6:7.1f} us/point ({numpy_per_point / (again / A.size):.1f}x"
              f" fewer s/point than numpy; target >= 5x for values); compilation {first - again:.1f} s")


if __name__ == "__main__":
    main()
