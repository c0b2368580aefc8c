"""Tests written against one-line bugs that once passed every test (the issue's list): each
test below fails when its bug is put back. Statistics against scipy, the Huffman tie rule, the
Pareto variance against its integral, the score of a model that leaks mass off the valid set."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from sim import huffman, montecarlo
from theory import pareto


@pytest.mark.parametrize("values", [[1.0, 2.0], [0.3, -1.2, 4.5, 2.2, 0.0], list(np.linspace(-3, 9, 17))])
def test_montecarlo_interval_is_the_t_interval(values):
    """The t quantile (not 1.0, not the normal's 1.96) at n - 1 degrees of freedom."""
    est = montecarlo._summary(np.array(values))
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert est.mean == pytest.approx(np.mean(values), rel=1e-15, abs=1e-15)
    assert est.ci95 == pytest.approx((lo, hi), rel=1e-12)  # two routes to one formula: rounding only


def test_huffman_ties_go_to_the_leaf():
    """(.4, .2, .2, .1, .1): merging ties leaf-first gives lengths [2, 2, 2, 3, 3] (variance-minimal);
    merged-first gives [1, 3, 2, 4, 4] with the same expected length 2.2 bits."""
    p = np.array([0.4, 0.2, 0.2, 0.1, 0.1])
    assert list(huffman.code_lengths(p)) == [2, 2, 2, 3, 3]
    assert huffman.expected_length_bits(p) == pytest.approx(2.2, abs=1e-15)


@pytest.mark.parametrize("alpha", [2.5, 3.0, 5.0, 11.0])
def test_pareto_variance_is_the_integral(alpha):
    c = pareto.scale(alpha)
    density = lambda x: alpha * c**alpha / x ** (alpha + 1)  # noqa: E731
    second, _ = integrate.quad(lambda x: x * x * density(x), c, math.inf, epsabs=0, epsrel=1e-12)
    assert pareto.variance(alpha) == pytest.approx(second - 1.0, rel=1e-9)  # quad's own accuracy


def test_score_of_a_leaky_model_is_normalized_by_its_valid_mass():
    """A model that puts half its mass off the valid responses: the score is the positive share
    of the valid mass (not of the total), and the valid mass is reported as 0.5."""
    from empirical.measure import score_from_log_probs
    from empirical.world import World, WorldConfig

    world = World(WorldConfig(content_vocab=2, response_length=3, n_pre=10, n_align=10, n_perturb=10,
                              n_held_out=10))
    q = np.where(world.is_positive, 3.0, 1.0)
    q = 0.5 * q / q.sum()  # valid mass 0.5; positive share of it 3 n_pos / (3 n_pos + n_neg)
    n_pos, n_neg = world.is_positive.sum(), (~world.is_positive).sum()
    out = score_from_log_probs(np.log(q)[None, :], world)
    assert out["valid_mass"] == pytest.approx(0.5, rel=1e-12)
    assert out["score"] == pytest.approx(3 * n_pos / (3 * n_pos + n_neg), rel=1e-12)
