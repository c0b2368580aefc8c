"""The exact theory: golden values (mpmath twin), an independent brute-force method, RQMC,
identities, finite differences, continuity at l = 0, the k -> inf limits, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import qmc

from theory import limits, pareto, quadrature
from theory.exact import QUANTITIES, exact, exact_with_error, normalized_rates

GOLDEN = json.loads((Path(__file__).parent / "golden" / "theory_golden.json").read_text())

alphas = st.floats(min_value=1.5, max_value=12.0)
ks = st.floats(min_value=0.5, max_value=1e5)
ls = st.floats(min_value=0.0, max_value=5.0)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"a{c['alpha']}-k{c['k']:g}-l{c['l']}")
def test_golden_values(case):
    """Agreement with the 30-digit twin within the stored tolerance (rel 1e-10, abs floor
    1e-15: see tests/golden/gen_theory_golden.py), and the error estimate covers the error."""
    tol = GOLDEN["tolerance"]
    value, error = exact_with_error(case["alpha"], case["k"], case["l"])
    for name, text in case["values"].items():
        ref = float(text)
        got = getattr(value, name)
        assert abs(got - ref) <= tol["rel"] * abs(ref) + tol["abs"], (name, got, ref)
        assert abs(got - ref) <= error[name] + 1e-16, (name, abs(got - ref), error[name])


def _brute_force(alpha, k, l, step=0.1):
    """N_j and H straight from the three-dimensional tensor rule: no Laplace transforms, no
    Frullani, H computed as E[-X_D log X_D] itself (not from the N_j)."""
    rule = quadrature.pareto_rule(alpha, step)
    c = pareto.scale(alpha)
    x = c * rule.nodes
    x1, x2, x3 = np.meshgrid(x, x, x, indexing="ij", sparse=True)
    weight = rule.weights[:, None, None] * rule.weights[None, :, None] * rule.weights[None, None, :]
    y = (k * x1 + x2 + l * x3) / (k + 1 + l)
    log_y = np.log(y)
    n = [float(np.sum(weight * -(xj * log_y))) for xj in (x1, x2, x3)]
    return n, float(np.sum(weight * -(y * log_y)))


@pytest.mark.parametrize("point", [(2.0, 10.0, 0.0), (3.0, 1e3, 0.01), (6.0, 50.0, 1.5), (1.5, 5.0, 0.3)])
def test_agrees_with_brute_force_tensor_rule(point):
    """Independent of the Laplace/Frullani reduction. The tensor rule at step 0.1 is good to
    ~1e-12 here; 1e-10 absolute leaves room for the sum of 1e6 terms in float64."""
    n, h = _brute_force(*point)
    p = exact(*point)
    for j in range(3):
        assert abs(n[j] - getattr(p, f"N_{j + 1}")) < 1e-10
    assert abs(h - p.H) < 1e-10
    k, l = point[1], point[2]
    # the identity k gamma_1 + gamma_2 + l gamma_3 = k + 1 + l, on independently computed H
    assert math.isclose((k * n[0] + n[1] + l * n[2]) / h, k + 1 + l, rel_tol=1e-12)


def test_agrees_with_randomized_qmc():
    """Scrambled Sobol, 16 independent scramblings of 2^14 points, fixed seed. alpha = 6 so
    that (X log X)^2 has a finite variance too and the standard error itself is reliable
    (at alpha = 3 the heavy tail biases the sample mean by ~5 SE). Within 4 standard errors."""
    alpha, k, l = 6.0, 10.0, 0.5
    c = pareto.scale(alpha)
    estimates = []
    for seed in range(16):
        u = qmc.Sobol(d=3, scramble=True, seed=seed).random_base2(14)
        x = c * (1.0 - u) ** (-1.0 / alpha)
        y = (k * x[:, 0] + x[:, 1] + l * x[:, 2]) / (k + 1 + l)
        estimates.append([np.mean(-x[:, 0] * np.log(y)), np.mean(-x[:, 1] * np.log(y)),
                          np.mean(-y * np.log(y))])
    est = np.array(estimates)
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(len(est))
    p = exact(alpha, k, l)
    for got, m, s in zip((p.N_1, p.N_2, p.H), mean, se, strict=True):
        assert abs(got - m) < 4 * s, (got, m, s)
        assert s < 1e-4  # the check has teeth


@given(alphas, ks)
def test_stationarity_at_l0(alpha, k):
    """k dN_1/dl + dN_2/dl = 0 at l = 0 (first-order stationarity of cross-entropy). The two
    derivatives come from different integrals, each computed as (1 - C B_j)/T with B_j ~ 1/C
    to ~1e-14 relative, so the residual is bounded by ~1e-14 (k + 1)/T; 2e-13 leaves room."""
    p = exact(alpha, k, 0.0)
    assert abs(k * p.dN_1_dl + p.dN_2_dl) <= 2e-13


@given(alphas, ks, st.floats(min_value=0.0, max_value=0.99))
def test_entropy_below_log_m_and_slopes_of_h(alpha, k, frac):
    """H = E[-X_D log X_D] < 0 (Jensen, E[X_D] = 1), and dH/dl = (N_3 - H)/T > 0 while D_3
    is the smallest dataset (l < min(k, 1)): more of an under-represented independent dataset
    raises the mixture's entropy. (At k = l = 1 symmetry gives dH/dl = 0 exactly.)"""
    l = frac * min(k, 1.0)
    p = exact(alpha, k, l)
    assert p.H < 0
    assert p.dH_dl > 0


@given(st.floats(min_value=1.5, max_value=10.0), st.floats(min_value=1.0, max_value=1e4),
       st.floats(min_value=0.05, max_value=3.0))
def test_derivatives_match_finite_differences(alpha, k, l):
    """Five-point central differences with step d = 0.01 l: truncation ~d^4 f^(5) ~ 1e-8 l^4
    relative, quadrature noise ~1e-12/d (gamma = N/H amplifies N's 1e-14 for large alpha),
    so a relative tolerance of 1e-6 plus 1e-9 absolute is safe."""
    d = 0.01 * l
    pts = [exact(alpha, k, l + s * d) for s in (-2, -1, 1, 2)]
    p = exact(alpha, k, l)
    for name in ("N_1", "N_2", "H", "gamma_1", "gamma_2"):
        f = [getattr(q, name) for q in pts]
        fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * d)
        analytic = getattr(p, f"d{name}_dl")
        assert math.isclose(fd, analytic, rel_tol=1e-6, abs_tol=1e-9), (name, fd, analytic)


@given(alphas, ks)
def test_continuous_at_l0(alpha, k):
    """l = 0 is the limit from the right. The heavy tail makes the approach Hoelder, not
    Lipschitz: E[X_3 log(1 + l X_3/...)] ~ l^(alpha-1) for alpha < 2 (measured: N_3 moves
    5e-5 between l = 0 and 1e-9 at alpha = 1.5). So at l = 1e-9 the values must agree within
    100 l^min(1, alpha-1), and the slopes (which move like l^min(1, alpha-2): at k = 1, where
    dN_1/dl(0) = 0 by symmetry, dN_1/dl(1e-9) = 4e-11 at alpha = 4) within 100 l for alpha > 3."""
    l = 1e-9
    at0, near = exact(alpha, k, 0.0), exact(alpha, k, l)
    tol = 100 * l ** min(1.0, alpha - 1.0)
    for name in ("N_1", "N_2", "N_3", "H", "gamma_1", "gamma_2"):
        assert abs(getattr(at0, name) - getattr(near, name)) <= tol * max(1.0, abs(getattr(at0, name)))
    if alpha > 3:
        for name in ("dN_1_dl", "dN_2_dl", "dH_dl"):
            assert abs(getattr(at0, name) - getattr(near, name)) <= 100 * l


@pytest.mark.parametrize("alpha", [2.0, 3.0, 5.0, 10.0])
def test_k_infinity_limits(alpha):
    """At k = 1e7, l = 0 the exact values approach the closed-form limits with the expected
    O(1/k) (alpha > 2) or O(k^(1-alpha) log k) (alpha = 2) corrections: 1e-4 relative."""
    k = 1e7
    p, lim = exact(alpha, k, 0.0), limits.k_infinity(alpha)
    pairs = [(p.N_1, lim["N_1"]), (p.N_2, lim["N_2"]), (p.N_3, lim["N_3"]), (p.H, lim["H"]),
             (p.gamma_1, lim["gamma_1"]), (p.gamma_2, lim["gamma_2"]), (p.gamma_3, lim["gamma_3"]),
             (p.dgamma_2_dl / p.dgamma_1_dl, lim["dgamma_2_over_dgamma_1"]),
             (k * p.dN_2_dl, lim["k_dN_2_dl"]), (k * k * p.dN_1_dl, lim["k2_dN_1_dl"]),
             (k * p.dH_dl, lim["k_dH_dl"]), (k * p.dgamma_1_dl, lim["k_dgamma_1_dl"]),
             (k * p.dgamma_2_dl, lim["k_dgamma_2_dl"])]
    for got, want in pairs:
        assert math.isclose(got, want, rel_tol=1e-4 if alpha > 2 else 2e-3), (got, want)


def test_symbolic_moments_match_numeric():
    """sympy derives C, m0, m1, E[1/X] and k dN_2/dl from the density; they must equal the
    closed forms used by theory.pareto and theory.limits (evaluated at a few alpha)."""
    import sympy as sp

    sym = limits.symbolic_moments()
    a = sp.Symbol("alpha", positive=True)
    for alpha in (1.5, 2.0, 3.7, 10.0):
        num = {name: float(expr.subs(a, alpha)) for name, expr in sym.items()}
        assert math.isclose(num["C"], pareto.scale(alpha), rel_tol=1e-14)
        assert math.isclose(num["m0"], pareto.mean_log(alpha), rel_tol=1e-12, abs_tol=1e-15)
        assert math.isclose(num["m1"], pareto.mean_x_log_x(alpha), rel_tol=1e-12)
        assert math.isclose(num["E_inv"], pareto.mean_inverse(alpha), rel_tol=1e-14)
        assert math.isclose(num["k_dN_2_dl"], limits.k_infinity(alpha)["k_dN_2_dl"], rel_tol=1e-12)


def test_alpha_star_against_a_30_digit_root():
    """alpha m1 + (alpha + 1) m0 = 0 with m0 = log C + 1/alpha, m1 = log C + 1/(alpha - 1),
    C = (alpha - 1)/alpha, solved by mpmath at 30 digits: float64 brentq lands within 1e-13
    relative (its bracket and ulp tolerances move the result by ~1e-14, not more)."""
    import mpmath

    def sign_term(a):
        log_c = mpmath.log((a - 1) / a)
        return a * (log_c + 1 / (a - 1)) + (a + 1) * (log_c + 1 / a)

    with mpmath.workdps(30):
        exact_root = mpmath.findroot(sign_term, 2.57)
    assert limits.alpha_star() == pytest.approx(float(exact_root), rel=1e-13)


def test_alpha_star_is_a_sign_change_of_the_limit():
    star = limits.alpha_star()
    assert 2.0 < star < 3.0
    below, above = limits.k_infinity(star - 1e-3), limits.k_infinity(star + 1e-3)
    assert below["k_dgamma_2_dl"] > 0 > above["k_dgamma_2_dl"]


def test_normalized_rates_both_forms():
    p = exact(3.0, 100.0, 0.01)
    ratio, diff = normalized_rates(p, "ratio"), normalized_rates(p, "difference")
    assert ratio["gamma_1"] == p.N_1 / p.H and diff["gamma_1"] == p.N_1
    assert diff["dgamma_2_dl"] == p.dN_2_dl
    with pytest.raises(ValueError, match="form"):
        normalized_rates(p, "log")


def test_error_estimates_are_small_and_positive():
    _, error = exact_with_error(2.0, 1e3, 0.01)
    assert set(error) == set(QUANTITIES)
    assert all(0 < e < 1e-9 for e in error.values())


@pytest.mark.parametrize("args, match", [
    ((1.0, 10, 0), "alpha"), ((1.05, 10, 0), "alpha must be >= 1.1"), ((float("nan"), 10, 0), "alpha"),
    ((2, 0, 0), "k must be > 0"), ((2, -1, 0), "k"), ((2, 10, -0.1), "l must be >= 0"),
    ((2, float("inf"), 0), "k must be finite"), ((2, 10, "x"), "l must be a real number"),
])
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        exact(*args)


def _monomial_bound(monomials, values, errors):
    """First-order error of a sum of monomials c * prod x^a with absolute values: each monomial
    contributes |c prod x^a| * sum |a| e_x / |x| (the rule exact_with_error documents)."""
    total = 0.0
    for coef, powers in monomials:
        size = abs(coef) * math.prod(abs(values[x]) ** a for x, a in powers.items())
        total += size * sum(abs(a) * errors[x] / abs(values[x]) for x, a in powers.items())
    return total


@pytest.mark.parametrize("point", [(2.0, 10.0, 0.3), (3.5, 1e3, 1.5), (1.5, 0.7, 2.0)])
def test_error_estimate_twin(point):
    """A slow twin of exact_with_error's bound, written from its specification: primitive
    errors are the change when both steps grow 1.25x plus 64 ulp of the summed terms
    (N_j = -log C - C E[...]: terms of size |log C| and |log C| + |N_j|; dN_j/dl = (1 - C E)/T:
    two terms of size 1/T); H, dH/dl, gamma_j and dgamma_j/dl, each a sum of monomials of the
    quantities before it, get the monomial rule. l > 0 so that every coefficient counts."""
    from theory.exact import T_STEP, W_STEP, _evaluate

    alpha, k, l = point
    T = k + 1 + l
    p = _evaluate(alpha, k, l, W_STEP, T_STEP).as_dict()
    q = _evaluate(alpha, k, l, 1.25 * W_STEP, 1.25 * T_STEP).as_dict()
    ulp, log_c = 64 * np.finfo(float).eps, abs(math.log(pareto.scale(alpha)))
    e = {f"N_{j}": abs(p[f"N_{j}"] - q[f"N_{j}"]) + ulp * (2 * log_c + abs(p[f"N_{j}"])) for j in (1, 2, 3)}
    e |= {f"dN_{j}_dl": abs(p[f"dN_{j}_dl"] - q[f"dN_{j}_dl"]) + ulp * 2 / T for j in (1, 2)}
    e["H"] = _monomial_bound([(k / T, {"N_1": 1}), (1 / T, {"N_2": 1}), (l / T, {"N_3": 1})], p, e)
    e["dH_dl"] = _monomial_bound([(1 / T, {"N_3": 1}), (-1 / T, {"H": 1})], p, e)
    for j in (1, 2, 3):
        e[f"gamma_{j}"] = _monomial_bound([(1, {f"N_{j}": 1, "H": -1})], p, e)
    for j in (1, 2):
        e[f"dgamma_{j}_dl"] = _monomial_bound(
            [(1, {f"dN_{j}_dl": 1, "H": -1}), (-1, {f"N_{j}": 1, "dH_dl": 1, "H": -2})], p, e)
    _, got = exact_with_error(*point)
    for name in QUANTITIES:
        assert got[name] == pytest.approx(e[name], rel=1e-12, abs=0), name  # the same sums, reordered


def test_defaults_and_limits_of_the_domain():
    """l defaults to 0; the documented limits (README, --help: alpha <= 100, k and l <= 1e12,
    written here as numbers so that a changed constant fails) are served, the next float beyond
    them is refused."""
    assert exact(3.0, 10.0) == exact(3.0, 10.0, 0.0)
    assert exact_with_error(3.0, 10.0) == exact_with_error(3.0, 10.0, 0.0)
    assert math.isfinite(exact(100.0, 10.0).gamma_2)
    assert math.isfinite(exact(3.0, 1e12, 1e12).H)
    above = math.nextafter(1e12, math.inf)
    for args in ((math.nextafter(100.0, math.inf), 10.0, 0.0), (3.0, above, 0.0), (3.0, 10.0, above)):
        with pytest.raises(ValueError, match="must be <="):
            exact(*args)


def test_evaluate_points_flags_what_lost_its_digits():
    """At k = 1e12 dN_1/dl's estimated error is about 10% of its value (flagged); at an
    ordinary point nothing is; errors are attached only when asked for."""
    from theory.exact import evaluate_points

    calls = []
    rows, flagged = evaluate_points([3.0], [10.0, 1e12], [0.0], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)] and [r["k"] for r in rows] == [10.0, 1e12]
    assert "abs_error" not in rows[0]
    assert len(flagged) == 1 and flagged[0][0]["k"] == 1e12 and "dN_1_dl" in flagged[0][1]
    assert "H" not in flagged[0][1]
    rows, _ = evaluate_points([3.0], [10.0], [0.0], with_errors=True)
    assert rows[0]["abs_error"] == exact_with_error(3.0, 10.0, 0.0)[1]
