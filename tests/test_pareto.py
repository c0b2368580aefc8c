"""The mass model: closed-form moments against direct quadrature, sampling, domain errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from theory import pareto

alphas = st.floats(min_value=1.2, max_value=50.0)
# scipy.integrate.quad on a smooth density over [C, inf) reaches ~1e-12; 1e-9 leaves margin.
QUAD_REL = 1e-9


def _expect(g, alpha):
    """E[g(X)] by scipy quad in y = log(X/C), where the density is alpha e^(-alpha y)."""
    c = pareto.scale(alpha)
    return integrate.quad(lambda y: g(c * math.exp(y)) * alpha * math.exp(-alpha * y),
                          0, 700 / alpha, epsabs=0, epsrel=1e-11, limit=200)[0]  # e^-700 tail


@given(alphas)
def test_scale_gives_unit_mean(alpha):
    """E[X] = alpha C/(alpha - 1) = 1 with C = (alpha - 1)/alpha."""
    assert math.isclose(_expect(lambda x: x, alpha), 1.0, rel_tol=QUAD_REL)


@given(alphas)
def test_moment_formulas_match_quadrature(alpha):
    """m0 = log C + 1/alpha, m1 = log C + 1/(alpha-1), E[1/X] = alpha/((alpha+1)C)."""
    assert math.isclose(pareto.mean_log(alpha), _expect(math.log, alpha), rel_tol=QUAD_REL, abs_tol=1e-12)
    assert math.isclose(pareto.mean_x_log_x(alpha), _expect(lambda x: x * math.log(x), alpha),
                        rel_tol=QUAD_REL, abs_tol=1e-12)
    assert math.isclose(pareto.mean_inverse(alpha), _expect(lambda x: 1 / x, alpha), rel_tol=QUAD_REL)


@given(alphas)
def test_m1_positive_jensen(alpha):
    """E[X log X] >= E[X] log E[X] = 0 (x log x is convex); strict for a non-degenerate X."""
    assert pareto.mean_x_log_x(alpha) > 0


def test_sampling_mean_and_variance():
    rng = np.random.default_rng(1)
    alpha, n = 5.0, 400_000
    x = pareto.sample(alpha, n, rng)
    assert x.min() >= pareto.scale(alpha)
    se = math.sqrt(pareto.variance(alpha) / n)
    assert abs(x.mean() - 1.0) < 5 * se  # 5 standard errors, fixed seed
    assert abs(np.log(x).mean() - pareto.mean_log(alpha)) < 5 * np.log(x).std() / math.sqrt(n)


def test_sampling_is_reproducible():
    a = pareto.sample(3.0, 10, np.random.default_rng(7))
    b = pareto.sample(3.0, 10, np.random.default_rng(7))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [1.0, 0.5, -2.0, float("nan"), float("inf"), "2", None, True])
def test_alpha_out_of_domain(bad):
    with pytest.raises(ValueError, match="alpha"):
        pareto.scale(bad)


def test_variance_needs_alpha_above_two():
    with pytest.raises(ValueError, match="alpha must be > 2"):
        pareto.variance(1.5)


def test_sample_needs_generator():
    with pytest.raises(ValueError, match="Generator"):
        pareto.sample(2.0, 3, rng=42)
