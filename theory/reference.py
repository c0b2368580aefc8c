"""Slow, obviously-correct twins in arbitrary precision (mpmath). Used by tests and by the
golden-value generator only, never by the fast path.

``elasticity_reference`` uses the same Frullani/Laplace identities as theory.exact but
evaluates the Pareto Laplace transforms in closed form, Phi(s) = alpha E_{alpha+1}(s) and
Psi(s) = alpha E_alpha(s) (generalized exponential integrals), instead of our Pareto
quadrature rule, and integrates with mpmath's adaptive tanh-sinh. ``n_1_direct`` is an
independent brute-force check at l = 0: the two-dimensional integral itself.
"""

import mpmath as mp


def _laplace(alpha):
    mean = alpha / (alpha - 1)

    def phi(s):  # E[exp(-s W)]
        return mp.mpf(1) if s == 0 else alpha * mp.expint(alpha + 1, s)

    def psi(s):  # E[W exp(-s W)]
        return mean if s == 0 else alpha * mp.expint(alpha, s)

    return mean, phi, psi


def _breaks(alpha):
    """Breakpoints in t. The integrands are plateaus in log t from t ~ 1/R to t ~ 1 and vanish
    like t^min(1, alpha - 1) as t -> 0, so heavy tails need breakpoints down to 1e-(35/(alpha-1))."""
    lowest = int(mp.ceil(35 / min(1, alpha - 1)))
    stride = max(3, lowest // 25)
    return [0] + [mp.mpf(10) ** -e for e in range(lowest, 0, -stride)] + [1, 8, 45, mp.inf]


def elasticity_reference(alpha, k, l, dps: int = 30) -> dict:
    """N_j, H, dN_j/dl, dH/dl, gamma_j, dgamma_j/dl as mpf numbers at ``dps`` digits."""
    with mp.workdps(dps):
        alpha, k, l = mp.mpf(alpha), mp.mpf(k), mp.mpf(l)
        C = (alpha - 1) / alpha
        T = k + 1 + l
        b = [k / T, 1 / T, l / T]
        mean, phi, psi = _laplace(alpha)

        def e_w_log_r(j):
            def f(t):
                prod = psi(b[j] * t)
                for i in range(3):
                    if i != j:
                        prod *= phi(b[i] * t)
                return (mean * mp.exp(-t) - prod) / t
            return mp.quad(f, _breaks(alpha))

        def e_w_w3_over_r(j):
            m = 1 - j
            return mp.quad(lambda t: psi(b[j] * t) * psi(b[2] * t) * phi(b[m] * t), _breaks(alpha))

        N = [-mp.log(C) - C * e_w_log_r(j) for j in range(3)]
        dN = [(1 - C * e_w_w3_over_r(j)) / T for j in range(2)]
        H = (k * N[0] + N[1] + l * N[2]) / T
        dH = (N[2] - H) / T
        return {
            "N_1": N[0], "N_2": N[1], "N_3": N[2], "H": H,
            "gamma_1": N[0] / H, "gamma_2": N[1] / H, "gamma_3": N[2] / H,
            "dN_1_dl": dN[0], "dN_2_dl": dN[1], "dH_dl": dH,
            "dgamma_1_dl": (dN[0] * H - N[0] * dH) / H**2,
            "dgamma_2_dl": (dN[1] * H - N[1] * dH) / H**2,
        }


def n_1_direct(alpha, k, dps: int = 25):
    """N_1 at l = 0 as the plain double integral over (u_1, u_2) in (0,1)^2, X = C u^(-1/alpha)."""
    with mp.workdps(dps):
        alpha, k = mp.mpf(alpha), mp.mpf(k)
        C = (alpha - 1) / alpha

        def x(u):
            return C * u ** (-1 / alpha)

        return mp.quad(lambda u1, u2: -x(u1) * mp.log((k * x(u1) + x(u2)) / (k + 1)), [0, 1], [0, 1])
