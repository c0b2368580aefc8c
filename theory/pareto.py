"""The Pareto mass model of Assumption C.15 with E[X] = 1 (Definition C.11).

Density p(x) = alpha C^alpha / x^(alpha+1) for x >= C. E[X] = alpha C / (alpha - 1) = 1 fixes
the scale C = (alpha - 1)/alpha. (Definition C.11 of the paper prints (1 - alpha)/alpha, which
is negative for every alpha > 1: see docs/errata.md.)

Domain: alpha > 1 for the mean (and every moment used by the theorem); alpha > 2 for a finite
variance.
"""

import math

import numpy as np

from theory import validate

FINITE_MEAN = "E[X] diverges for alpha <= 1"


def check_alpha(alpha) -> float:
    return validate.greater("alpha", alpha, 1.0, FINITE_MEAN)


def scale(alpha) -> float:
    """C = (alpha - 1)/alpha, the scale that makes E[X] = 1."""
    alpha = check_alpha(alpha)
    return (alpha - 1.0) / alpha


def mean_log(alpha) -> float:
    """m0 = E[log X] = log C + 1/alpha (nats)."""
    alpha = check_alpha(alpha)
    return math.log(scale(alpha)) + 1.0 / alpha


def mean_x_log_x(alpha) -> float:
    """m1 = E[X log X] = log C + 1/(alpha - 1) (nats); > 0 by Jensen since E[X] = 1."""
    alpha = check_alpha(alpha)
    return math.log(scale(alpha)) + 1.0 / (alpha - 1.0)


def mean_inverse(alpha) -> float:
    """E[1/X] = alpha / ((alpha + 1) C)."""
    alpha = check_alpha(alpha)
    return alpha / ((alpha + 1.0) * scale(alpha))


def variance(alpha) -> float:
    """Var X = 1/(alpha (alpha - 2)); needs alpha > 2."""
    alpha = validate.greater("alpha", alpha, 2.0, "Var X diverges for alpha <= 2")
    return 1.0 / (alpha * (alpha - 2.0))


def sample(alpha, size, rng: np.random.Generator) -> np.ndarray:
    """Draws of X. numpy's ``pareto`` is the Lomax law of W - 1 with W standard Pareto."""
    alpha = check_alpha(alpha)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return scale(alpha) * (1.0 + rng.pareto(alpha, size))
