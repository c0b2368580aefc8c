"""Closed forms of the k -> infinity limits at l = 0 (and the leading orders in 1/k).

As k -> infinity, X_D -> X_1 almost surely, so with m0 = E[log X], m1 = E[X log X] and
E[1/X] = alpha^2/(alpha^2 - 1) (theory.pareto):

    N_1, H -> -m1            N_2, N_3 -> -m0          gamma_2 -> m0/m1
    k dN_2/dl   -> 1 - E[1/X]  = -1/(alpha^2 - 1)
    k^2 dN_1/dl ->  1/(alpha^2 - 1)               (k dN_1/dl + dN_2/dl = 0 exactly)
    k dH/dl     -> m1 - m0     = 1/(alpha (alpha - 1))
    k dgamma_1/dl -> 1/(alpha (alpha - 1) m1)
    k dgamma_2/dl -> (alpha m1 + (alpha + 1) m0) / (alpha (alpha - 1)(alpha + 1) m1^2)

So both slopes are Theta(1/k), their ratio tends to a constant, and the sign of dgamma_2/dl
for large k is the sign of alpha m1 + (alpha + 1) m0, which changes sign at
alpha* = 2.5733 (``alpha_star``).
``symbolic_moments`` re-derives the moments with sympy from the density.
"""

import math

from scipy.optimize import brentq

from theory import pareto


def k_infinity(alpha) -> dict[str, float]:
    """Limits (or leading coefficients, keys prefixed ``k_``/``k2_``) at l = 0."""
    alpha = pareto.check_alpha(alpha)
    m0, m1 = pareto.mean_log(alpha), pareto.mean_x_log_x(alpha)
    return {
        "N_1": -m1, "N_2": -m0, "N_3": -m0, "H": -m1,
        "gamma_1": 1.0, "gamma_2": m0 / m1, "gamma_3": m0 / m1,
        "k_dN_2_dl": 1.0 - pareto.mean_inverse(alpha),
        "k2_dN_1_dl": 1.0 / (alpha**2 - 1.0),
        "k_dH_dl": m1 - m0,
        "k_dgamma_1_dl": 1.0 / (alpha * (alpha - 1.0) * m1),
        "k_dgamma_2_dl": _sign_term(alpha) / (alpha * (alpha - 1.0) * (alpha + 1.0) * m1**2),
        "dgamma_2_over_dgamma_1": _sign_term(alpha) / ((alpha + 1.0) * m1),
    }


def _sign_term(alpha: float) -> float:
    return alpha * pareto.mean_x_log_x(alpha) + (alpha + 1.0) * pareto.mean_log(alpha)


def alpha_star() -> float:
    """The alpha at which lim k dgamma_2/dl changes sign (positive below, negative above)."""
    return brentq(_sign_term, 1.5, 5.0, xtol=1e-15, rtol=4 * math.ulp(1.0))


def symbolic_moments() -> dict:
    """sympy expressions, derived by integrating the density, in the symbol ``alpha``:
    the scale C solving E[X] = 1, m0, m1, E[1/X] and the limit k dN_2/dl = 1 - E[X]E[1/X]."""
    import sympy as sp

    a = sp.Symbol("a", positive=True)  # alpha = 1 + a > 1
    alpha = 1 + a
    x, c = sp.symbols("x c", positive=True)
    density = alpha * c**alpha / x ** (alpha + 1)

    def expect(g):
        return sp.simplify(sp.integrate(g * density, (x, c, sp.oo), conds="none"))

    scale = sp.solve(sp.Eq(expect(x), 1), c)[0]
    moments = {
        "C": scale,
        "m0": expect(sp.log(x)).subs(c, scale),
        "m1": expect(x * sp.log(x)).subs(c, scale),
        "E_inv": expect(1 / x).subs(c, scale),
    }
    moments["k_dN_2_dl"] = 1 - moments["E_inv"]
    alpha_sym = sp.Symbol("alpha", positive=True)
    return {name: sp.simplify(expr.subs(a, alpha_sym - 1)) for name, expr in moments.items()}
