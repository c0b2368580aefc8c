"""Where the paper's sign claim (35), dgamma_2/dl > 0, stops holding: for each alpha, the k at
which dgamma_2/dl (at a given l) changes sign.

dgamma_2/dl is positive at small k for every alpha; for alpha above alpha* (the k -> infinity
boundary, theory.limits.alpha_star) it turns negative at a finite k*(alpha), which grows
without bound as alpha falls to alpha*. ``k_star`` scans k on a logarithmic grid with the exact
theory (theory.exact, the numpy reference path) and refines the first sign change by
Brent's method in log k to 1e-12 relative (the root is simple: dgamma_2/dl crosses with a
non-zero slope), well inside the 1e-8 this module promises.
"""

import math

import numpy as np
from scipy.optimize import brentq

from theory.exact import MAX_SIZE_RATIO, check_point, exact

K_MIN = 1e-2
SCAN = 57  # log-spaced k from K_MIN to MAX_SIZE_RATIO: 4 points a decade


def _slope(log_k: float, alpha: float, l: float) -> float:
    return exact(alpha, math.exp(log_k), l).dgamma_2_dl


def k_star(alpha: float, l: float = 0.0) -> float | None:
    """The smallest k in [1e-2, 1e12] where dgamma_2/dl at (alpha, k, l) changes sign, or None
    where it keeps one sign on that range (alpha below the boundary, or k* beyond 1e12)."""
    alpha, _, l = check_point(alpha, 1.0, l)
    log_k = np.linspace(math.log(K_MIN), math.log(MAX_SIZE_RATIO), SCAN)
    values = [_slope(x, alpha, l) for x in log_k]
    for i in range(1, SCAN):
        if values[i - 1] == 0.0:
            return float(math.exp(log_k[i - 1]))
        if values[i - 1] * values[i] < 0:
            root = brentq(_slope, log_k[i - 1], log_k[i], args=(alpha, l), xtol=1e-13, rtol=1e-15)
            return float(math.exp(root))
    return None


def boundary(alphas, l: float = 0.0) -> list[dict]:
    """[{alpha, k_star}] for each alpha (k_star None where there is no sign change)."""
    return [{"alpha": float(a), "k_star": k_star(float(a), l)} for a in alphas]
