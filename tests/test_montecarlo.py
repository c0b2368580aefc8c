"""Monte Carlo on finite trees: reproducibility, analytic slopes, agreement with the theory."""

import math

import numpy as np
import pytest

from sim import montecarlo
from theory.exact import exact


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


# montecarlo.check(3, 100, 0.01, depth=6, replicates=5, default_rng(0)), written by this code on
# 2026-12-02: any change to the draw or to the finite-tree formulas moves these numbers
GOLDEN_CHECK = {"gamma_1": (1.0203860249598546, 1.0151551895667785, 1.0256168603529308),
                "gamma_2": (-1.018388304443542, -1.536595351189752, -0.5001812576973318),
                "dgamma_1_dl": (0.020243039473066955, 0.015281887998644019, 0.02520419094748989),
                "dgamma_2_dl": (-0.003044394848148192, -0.009839230456185113, 0.003750440759888729)}


def test_a_seeded_check_reproduces_its_golden_numbers():
    calls = []
    got = montecarlo.check(3.0, 100.0, 0.01, 6, 5, np.random.default_rng(0),
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)] and got["leaves"] == 32 and got["replicates"] == 5
    for name, (mean, lo, hi) in GOLDEN_CHECK.items():
        # 1e-12 relative: the same operations in the same order; only a different BLAS could move them
        assert got[name]["mean"] == pytest.approx(mean, rel=1e-12)
        assert got[name]["ci95"] == pytest.approx([lo, hi], rel=1e-12)
        exact = got["exact"][name]
        assert got["exact_inside_ci95"][name] == (lo <= exact <= hi)


@pytest.mark.parametrize("depth, replicates, match", [(2.5, 3, "depth must be an integer"),
                                                      (True, 3, "depth must be an integer"),
                                                      (6, 10**6 + 1, r"replicates must be in \[2, 1000000\]")])
def test_check_inputs_refuses(depth, replicates, match):
    with pytest.raises(ValueError, match=match):
        montecarlo.check_inputs(3.0, 10.0, 0.0, depth, replicates)


def test_check_inputs_accepts_the_limits():
    assert montecarlo.check_inputs(3.0, 10.0, 0.0, 25, 10**6)[3:] == (25, 10**6)
    assert montecarlo.check_inputs(3.0, 10.0, 0.0, 2.0, 2)[3:] == (2, 2)


@pytest.mark.parametrize("depths", [[8], [8, 8], []])
def test_convergence_needs_two_different_depths(depths):
    with pytest.raises(ValueError, match="at least two different"):
        montecarlo.convergence(3.0, 10.0, 0.0, depths, 3, np.random.default_rng(0))


def test_convergence_reports_leaves_per_depth():
    got = montecarlo.convergence(3.0, 10.0, 0.0, [4, 6], 3, np.random.default_rng(0))
    assert got["leaves"] == [8, 32] and got["depths"] == [4, 6]


def test_convergence_rms_bias_and_se_are_those_of_the_errors():
    """Recomputed from the same draws by hand: RMS, mean error (bias), and the delta-method se."""
    got = montecarlo.convergence(3.0, 10.0, 0.1, [4, 6], 5, np.random.default_rng(2))
    rng, truth = np.random.default_rng(2), montecarlo.exact(3.0, 10.0, 0.1)
    for i, depth in enumerate((4, 6)):
        draws = [montecarlo.replicate(3.0, 10.0, 0.1, depth, rng) for _ in range(5)]
        for name in montecarlo.REPORTED:
            err = np.array([x[name] for x in draws]) - getattr(truth, name)
            rms = np.sqrt(np.mean(err**2))
            assert got["rms_error"][name][i] == pytest.approx(rms, rel=1e-12)
            assert got["bias"][name][i] == pytest.approx(err.mean(), rel=1e-12)
            assert got["rms_error_se"][name][i] == pytest.approx(np.std(err**2, ddof=1) / (2 * rms * np.sqrt(5)),
                                                                 rel=1e-12)
            assert got["bias"][name][i] ** 2 <= got["rms_error"][name][i] ** 2 * (1 + 1e-12)  # bias^2 <= MSE
