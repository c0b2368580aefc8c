"""Monte Carlo on finite trees: reproducibility, analytic slopes, agreement with the theory."""

import math

import numpy as np
import pytest

from sim import montecarlo
from theory.elasticity import exact


def test_same_seed_same_numbers():
    a = montecarlo.check(3.0, 10.0, 0.1, 10, 5, np.random.default_rng(42))
    b = montecarlo.check(3.0, 10.0, 0.1, 10, 5, np.random.default_rng(42))
    assert a == b


@pytest.mark.parametrize("l", [0.05, 0.3])
def test_slopes_are_exact_derivatives_of_the_finite_tree(l):
    """The masses do not depend on l, so the same seed at l + s d draws the same finite tree:
    a five-point central difference (d = 1e-3) of that tree must match the analytic slope."""
    alpha, k, depth = 4.0, 20.0, 12
    draws = {s: montecarlo.replicate(alpha, k, l + s * 1e-3, depth, np.random.default_rng(7))
             for s in (-2, -1, 0, 1, 2)}
    for name in ("N_1", "N_2", "H", "gamma_1", "gamma_2"):
        f = {s: draws[s][name] for s in draws}
        fd = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12e-3)
        # truncation d^4 f^(5) ~ 1e-12; rounding ~1e-16/1e-3: 1e-7 relative is safe
        assert math.isclose(fd, draws[0][f"d{name}_dl"], rel_tol=1e-7, abs_tol=1e-12), name


def test_finite_tree_identity():
    """k N_1 + N_2 + l N_3 = (k + 1 + l) H on every finite tree (linearity of the sums)."""
    k, l = 30.0, 0.7
    d = montecarlo.replicate(2.5, k, l, 11, np.random.default_rng(3))
    assert math.isclose(k * d["N_1"] + d["N_2"] + l * d["N_3"], (k + 1 + l) * d["H"], rel_tol=1e-12)


def test_agrees_with_exact_theory_within_four_standard_errors():
    """alpha = 6 (light tail: the interval is reliable), M = 2^15, 30 replicates, fixed seed.
    4 standard errors (about 2 CI half-widths) leaves room for the O(1/M) bias."""
    r = montecarlo.check(6.0, 10.0, 0.5, 16, 30, np.random.default_rng(11))
    truth = exact(6.0, 10.0, 0.5)
    for name in montecarlo.REPORTED:
        lo, hi = r[name]["ci95"]
        half = (hi - lo) / 2
        assert abs(r[name]["mean"] - getattr(truth, name)) <= 2 * half, name
        assert r["exact"][name] == getattr(truth, name)


def test_error_shrinks_like_inverse_root_m_for_light_tails():
    """Lemma C.13's rate: RMS error ~ M^-1/2 at alpha = 8 (measured slopes -0.49..-0.55 over
    M = 2^7..2^15). Heavy tails converge more slowly (-0.34 at alpha = 2.5): see docs."""
    c = montecarlo.convergence(8.0, 10.0, 0.5, [8, 10, 12, 14, 16], 30, np.random.default_rng(5))
    for name, slope in c["slope"].items():
        assert -0.65 < slope < -0.4, (name, slope)


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 1}, r"depth must be in \[2, 25\]"), ({"depth": 26}, r"depth must be in \[2, 25\]"),
    ({"replicates": 1}, "replicates"), ({"alpha": 1.0}, "alpha"), ({"l": -1.0}, "l must be"),
    ({"rng": 3}, "Generator"),
])
def test_bad_input(kwargs, match):
    args = {"alpha": 3.0, "k": 10.0, "l": 0.1, "depth": 8, "replicates": 3,
            "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=match):
        montecarlo.check(**args)
