"""The paper's closed forms, as printed, each tagged with its equation number.

Appendix C works with un-normalized integrals (equations 45-47):

    S_j = int x_j^-alpha prod_{i != j} x_i^-(alpha+1) log X_D dx     = -N_j / Z
    H_p = int X_D prod_i x_i^-(alpha+1) log X_D dx                  = -H / Z

with Z = alpha^3 C^(3 alpha) the product of the three density constants. ``to_paper_units``
converts exact values to this normalization so each printed formula can be compared with
the quantity it claims to equal. The one change made to the printed text is the scale: the
paper's c = (1 - alpha)/alpha (Definition C.11) is negative and makes c^(3 alpha - 1) complex
for non-integer alpha, so every formula below uses C = (alpha - 1)/alpha ("the obvious fix").
"""

import math

import numpy as np

from theory import pareto
from theory.exact import Elasticity


def defC11_scale(alpha: float) -> float:
    """Definition C.11 as printed: c = (1 - alpha)/alpha."""
    return (1.0 - alpha) / alpha


def normalizer(alpha: float) -> float:
    """Z = alpha^3 C^(3 alpha): S_j = -N_j/Z and H_p = -H/Z."""
    return alpha**3 * pareto.scale(alpha) ** (3 * alpha)


def to_paper_units(p: Elasticity) -> dict[str, float]:
    z = normalizer(p.alpha)
    return {"S_1": -p.N_1 / z, "S_2": -p.N_2 / z, "H_p": -p.H / z,
            "dS_1_dl": -p.dN_1_dl / z, "dS_2_dl": -p.dN_2_dl / z, "dH_p_dl": -p.dH_dl / z}


def _c(alpha: float) -> tuple[float, float]:
    c = pareto.scale(alpha)
    return c, c ** (3 * alpha - 1)


def eq77_S1_limit(alpha: float) -> float:
    """(77) lim S_1 = ((alpha-1) log c + 1) / (alpha^2 (alpha-1)^2 c^(3alpha-1))."""
    c, c3 = _c(alpha)
    return ((alpha - 1) * math.log(c) + 1) / (alpha**2 * (alpha - 1) ** 2 * c3)


def eq81_S2_limit(alpha: float) -> float:
    """(81) lim S_2 = (alpha log c + 1) / (alpha^3 (alpha-1) c^(3alpha-1))."""
    c, c3 = _c(alpha)
    return (alpha * math.log(c) + 1) / (alpha**3 * (alpha - 1) * c3)


def eq85_H_limit(alpha: float) -> float:
    """(85) lim H = ((alpha-1) log c + 1) / (alpha^2 (alpha-1)^2 c^(3alpha-1)) (same as 77)."""
    return eq77_S1_limit(alpha)


def eq88_dS1_dl(alpha: float, k: float) -> float:
    """(88) dS_1/dl = 1 / (k (k+1) alpha^2 (alpha-1) c^(3alpha-1))."""
    _, c3 = _c(alpha)
    return 1.0 / (k * (k + 1) * alpha**2 * (alpha - 1) * c3)


def eq91_dS2_dl(alpha: float, k: float) -> float:
    """(91) dS_2/dl = 1 / (k alpha^2 (alpha-1)^2 (alpha+1) c^(3alpha-1))."""
    _, c3 = _c(alpha)
    return 1.0 / (k * alpha**2 * (alpha - 1) ** 2 * (alpha + 1) * c3)


def eq95_dH_dl(alpha: float, k: float) -> float:
    """(95) dH/dl = (alpha log c - 1) / ((k+1)^2 (alpha-1)^2 alpha^2 c^(3alpha-1))."""
    c, c3 = _c(alpha)
    return (alpha * math.log(c) - 1) / ((k + 1) ** 2 * (alpha - 1) ** 2 * alpha**2 * c3)


def eq98_ratio_limit(alpha: float) -> float:
    """(98) lim k (dgamma_1/dl) / (dgamma_2/dl) = alpha (alpha+1) (1 - log c)."""
    return alpha * (alpha + 1) * (1 - math.log(pareto.scale(alpha)))


def thm2_5_expected_length(p, response_length: int, depth: int, base: float = 2.0) -> float:
    """Theorem 2.5 / (1): E[L] = ceil(|x|/d) * ceil(-sum p log p). ``base`` 2 reads the
    printed ``log`` as bits (the reading most favourable to the claim)."""
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    entropy = float(-(p * np.log(p)).sum() / math.log(base))
    return math.ceil(response_length / depth) * math.ceil(entropy)


def thmC8_length_ratio(vocab_size: int) -> float:
    """Theorem C.8 / (15): E[L_V] / E[L_2] = Theta(1/log2 V), taken with constant 1."""
    return 1.0 / math.log2(vocab_size)
