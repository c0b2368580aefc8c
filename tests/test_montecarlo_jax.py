"""The JAX Monte Carlo agrees in distribution with the numpy path: the exact (M -> infinity)
values inside both 95% intervals at a depth where the finite-M bias is below the interval, and
the two means within their combined error."""

import math

import numpy as np
import pytest

from sim import montecarlo, montecarlo_jax


@pytest.fixture(scope="module")
def both():
    args = (3.0, 100.0, 0.01, 16, 60)
    return montecarlo.check(*args, np.random.default_rng(3)), montecarlo_jax.check(*args, seed=3)


def test_exact_values_inside_both_intervals(both):
    for result in both:
        assert all(result["exact_inside_ci95"].values()), result["exact_inside_ci95"]


def test_means_agree_within_their_errors(both):
    """|difference| below 4 combined standard errors (each half-interval is t_0.975(59) = 2.0 SE)."""
    numpy_, jax_ = both
    for name in montecarlo.REPORTED:
        se = [(r[name]["ci95"][1] - r[name]["ci95"][0]) / (2 * 2.0) for r in both]
        assert abs(numpy_[name]["mean"] - jax_[name]["mean"]) < 4 * math.hypot(*se), name


def test_seeded_and_chunked_alike():
    """The same seed gives the same numbers, whatever the chunk size."""
    a = montecarlo_jax.check(2.5, 10.0, 0.1, 8, 12, seed=7)
    old = montecarlo_jax.MASSES_AT_ONCE
    try:
        montecarlo_jax.MASSES_AT_ONCE = 3 * 128 * 5  # 5 replicates a chunk instead of all 12
        b = montecarlo_jax.check(2.5, 10.0, 0.1, 8, 12, seed=7)
    finally:
        montecarlo_jax.MASSES_AT_ONCE = old
    assert a["replicates"] == b["replicates"] == 12 and "jax" in a["backend"]
    for name in montecarlo.REPORTED:  # replicate i draws from fold_in(key, i): chunks do not matter
        # (1e-12: other batch shapes sum the same numbers in another order)
        assert a[name]["mean"] == pytest.approx(b[name]["mean"], rel=1e-12)
        assert a[name]["ci95"] == pytest.approx(b[name]["ci95"], rel=1e-12)
    c = montecarlo_jax.check(2.5, 10.0, 0.1, 8, 12, seed=8)
    assert c["gamma_1"]["mean"] != a["gamma_1"]["mean"]
