"""The two quadrature rules on their own: moments of the Pareto law and Gamma integrals with
known values, at the ends of the offered alpha range (where truncation would show first)."""

import numpy as np
import pytest
from scipy.special import gamma

from theory import quadrature
from theory.exact import T_STEP, W_STEP

ALPHAS = [quadrature.ALPHA_MIN, 1.2, 1.5, 2.0, 3.0, 10.0, quadrature.ALPHA_MAX]
# Measured: every moment below is exact to 2e-15 relative (a few ulp of ~150-node sums);
# 1e-14 leaves room for summation order and fails when a range end is cut short.
TIGHT = 1e-14


@pytest.mark.parametrize("alpha", ALPHAS)
def test_pareto_rule_reproduces_the_moments(alpha):
    """E[W] = a/(a-1) (the heavy tail: a range cut short at large w loses it), E[log W] = 1/a,
    E[1/W] = a/(a+1), weights summing to 1, nodes >= 1 and non-increasing (they round to 1
    at the light end)."""
    rule = quadrature.pareto_rule(alpha, W_STEP)
    w, v = rule.nodes, rule.weights
    # the weights are normalized by their sum: 1 up to the rounding of that division
    assert (w >= 1).all() and (np.diff(w) <= 0).all() and v.sum() == pytest.approx(1.0, abs=1e-15)
    assert v @ w == pytest.approx(alpha / (alpha - 1), rel=TIGHT)
    # E[log W] = 1/100 at alpha = 100 is a sum of much larger terms: 10x the room
    assert v @ np.log(w) == pytest.approx(1 / alpha, rel=10 * TIGHT)
    assert v @ (1 / w) == pytest.approx(alpha / (alpha + 1), rel=TIGHT)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_time_rule_integrates_the_slowest_decay(alpha):
    """int_0^inf t^s e^-t dt/t = Gamma(s) for s = min(1, alpha - 1), the integrands' slowest
    decay at t -> 0, and for s = 1 (the e^-t end)."""
    rule = quadrature.log_time_rule(alpha, T_STEP)
    t, dtau = rule.nodes, rule.weights
    for s in (min(1.0, alpha - 1.0), 1.0):
        assert dtau @ (t**s * np.exp(-t)) == pytest.approx(gamma(s), rel=TIGHT)
    assert t[-1] >= 45.0 and (dtau == T_STEP).all()
