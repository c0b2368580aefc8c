"""Exact N_j, H, gamma_j and their l-derivatives under the Pareto model (Appendix C).

Model (Lemma C.13, Remark C.12, Assumption C.15): X_1, X_2, X_3 iid Pareto with E[X] = 1,
X_D = (k X_1 + X_2 + l X_3)/(k + 1 + l), and

    N_j = E[-X_j log X_D]   (cross-entropy of D_j under the mixture, minus log M; nats)
    H   = E[-X_D log X_D]   (entropy of the mixture minus log M; nats)
    gamma_j = N_j / H       (Definition C.16, ratio form)

The later version of the paper normalizes by difference instead: rate minus log M, which in
this limit is N_j itself.

Method. Write X = C W with W standard Pareto and R = X_D / C = sum_i b_i W_i, b = (k, 1, l)/T,
T = k + 1 + l. Then, exactly,

    N_j     = -log C - C E[W_j log R]
    dN_j/dl = (1 - C E[W_j W_3 / R]) / T
    H       = (k N_1 + N_2 + l N_3) / T
    dH/dl   = (N_3 - H) / T

and the two expectations become one-dimensional integrals of products of Laplace transforms,
because log R = int_0^inf (e^-t - e^-tR) dt/t (Frullani) and 1/R = int_0^inf e^-tR dt:

    E[W_j log R]     = int (mu e^-t - Psi_j(t) prod_{i != j} Phi_i(t)) dt/t
    E[W_j W_3 / R]   = int Psi_j(t) Psi_3(t) Phi_m(t) dt            ({j, m} = {1, 2})

with Phi_i(t) = E[e^(-b_i t W)], Psi_i(t) = E[W e^(-b_i t W)], mu = E[W]. Every
three-dimensional integral is thus a sum over (t-node, w-node) pairs: O(n_t n_w) work.
The error estimate is the difference from the same computation with both steps 1.25x
larger; the mpmath twin (theory/reference.py) shows the true error is far below it.
"""

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from theory import pareto, quadrature, validate

# Trapezoid steps of the two rules; halving them changes no result by more than ~1e-14
# (tests/test_exact.py checks the error estimate against the mpmath twin).
W_STEP = 0.05
T_STEP = 0.25
# Largest k and l offered: at k = 1e12 the error estimate of dN_1/dl is already ~10% of its
# value (it is computed as (1 - C B_1)/T, a difference of near-equal numbers), while every
# other quantity keeps ~1e-11; the estimate (--errors) says so point by point.
MAX_SIZE_RATIO = 1e12


@dataclass(frozen=True)
class Elasticity:
    """Every quantity of Theorem C.17 at one (alpha, k, l); natural logs; ratio form."""

    alpha: float
    k: float
    l: float
    N_1: float
    N_2: float
    N_3: float
    H: float
    gamma_1: float
    gamma_2: float
    gamma_3: float
    dN_1_dl: float
    dN_2_dl: float
    dH_dl: float
    dgamma_1_dl: float
    dgamma_2_dl: float

    def as_dict(self) -> dict:
        return asdict(self)


QUANTITIES = tuple(f.name for f in fields(Elasticity) if f.name not in ("alpha", "k", "l"))


def check_point(alpha, k, l) -> tuple[float, float, float]:
    alpha = validate.at_least(
        "alpha", alpha, quadrature.ALPHA_MIN,
        "E[X] diverges for alpha <= 1; below 1.1 the tail beyond float64 range "
        "exceeds the 1e-10 accuracy target",
    )
    if alpha > quadrature.ALPHA_MAX:
        raise ValueError(f"alpha must be <= {quadrature.ALPHA_MAX:g}, got {alpha!r} (beyond it the "
                         f"quadrature's relative error exceeds 1e-10)")
    k = validate.greater("k", k, 0.0, "k = |D_1|/|D_2|")
    l = validate.at_least("l", l, 0.0, "l = |D_3|/|D_2|")
    for name, value in (("k", k), ("l", l)):
        if value > MAX_SIZE_RATIO:
            raise ValueError(f"{name} must be <= {MAX_SIZE_RATIO:g}, got {value!r} (beyond it the "
                             f"l-derivatives lose their digits to cancellation)")
    return alpha, k, l


def exact(alpha, k, l=0.0) -> Elasticity:
    """All quantities at (alpha, k, l) to about 1e-13 (l = 0 is the limit from the right)."""
    alpha, k, l = check_point(alpha, k, l)
    return _evaluate(alpha, k, l, W_STEP, T_STEP)


def exact_with_error(alpha, k, l=0.0) -> tuple[Elasticity, dict[str, float]]:
    """``exact`` plus, per quantity, an absolute error estimate.

    The primitive numbers (N_j, dN_j/dl) get the change seen when both quadrature steps grow
    1.25x, plus a float64 rounding floor of 64 ulp of the terms they are summed from (6e-15
    was the worst rounding error seen against the 30-digit twin); H, gamma and their
    derivatives get that error propagated to first order with absolute values.
    """
    alpha, k, l = check_point(alpha, k, l)
    p = _evaluate(alpha, k, l, W_STEP, T_STEP)
    q = _evaluate(alpha, k, l, 1.25 * W_STEP, 1.25 * T_STEP)
    ulp64 = 64 * np.finfo(float).eps
    log_c = abs(math.log(pareto.scale(alpha)))
    T = k + 1.0 + l

    def primitive(name: str, scale: float) -> float:
        return abs(getattr(p, name) - getattr(q, name)) + ulp64 * scale

    e = {f"N_{j}": primitive(f"N_{j}", 2 * log_c + abs(getattr(p, f"N_{j}"))) for j in (1, 2, 3)}
    for j in (1, 2):
        e[f"dN_{j}_dl"] = primitive(f"dN_{j}_dl", 2.0 / T)
    e["H"] = (k * e["N_1"] + e["N_2"] + l * e["N_3"]) / T
    e["dH_dl"] = (e["N_3"] + e["H"]) / T
    h = abs(p.H)
    for j in (1, 2, 3):
        e[f"gamma_{j}"] = (e[f"N_{j}"] + abs(getattr(p, f"gamma_{j}")) * e["H"]) / h
    for j in (1, 2):  # dgamma = dN/H - N dH/H^2
        n, dn = abs(getattr(p, f"N_{j}")), abs(getattr(p, f"dN_{j}_dl"))
        e[f"dgamma_{j}_dl"] = (e[f"dN_{j}_dl"] / h + dn * e["H"] / h**2
                               + (e[f"N_{j}"] * abs(p.dH_dl) + n * e["dH_dl"]) / h**2
                               + 2 * n * abs(p.dH_dl) * e["H"] / h**3)
    return p, {name: e[name] for name in QUANTITIES}


# A quantity whose error estimate exceeds this fraction of its value is flagged to the user.
FLAG_RELATIVE_ERROR = 1e-8


def evaluate_points(alphas, ks, ls, with_errors: bool = False, progress=None) -> tuple[list, list]:
    """Every (alpha, k, l) of the three lists, each point checked before any work starts.

    Returns (rows, flagged): rows as ``Elasticity.as_dict()`` (plus ``abs_error`` when asked),
    and (row, names) for points where some quantity's error estimate exceeds
    FLAG_RELATIVE_ERROR of its value. ``progress(done, total)`` after each point."""
    points = [check_point(a, k, l) for a in alphas for k in ks for l in ls]
    rows, flagged = [], []
    for i, point in enumerate(points):
        value, error = exact_with_error(*point)
        row = value.as_dict()
        names = [q for q in QUANTITIES if error[q] > FLAG_RELATIVE_ERROR * abs(row[q])]
        if names:
            flagged.append((row, names))
        if with_errors:
            row = row | {"abs_error": error}
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(points))
    return rows, flagged


def _evaluate(alpha: float, k: float, l: float, w_step: float, t_step: float) -> Elasticity:
    C = pareto.scale(alpha)
    T = k + 1.0 + l
    b = np.array([k / T, 1.0 / T, l / T])
    w_rule = quadrature.pareto_rule(alpha, w_step)
    w, v = w_rule.nodes, w_rule.weights
    t_rule = quadrature.log_time_rule(alpha, t_step)
    t, dtau = t_rule.nodes, t_rule.weights

    decay = np.exp(-(b[:, None, None] * t[None, :, None]) * w[None, None, :])  # (3, n_t, n_w)
    phi = decay @ v  # Phi_i(t)
    psi = decay @ (v * w)  # Psi_i(t)
    mu = float(v @ w)

    def e_w_log_r(j: int) -> float:
        others = np.prod([phi[i] for i in range(3) if i != j], axis=0)
        return float(dtau @ (mu * np.exp(-t) - psi[j] * others))

    def e_w_w3_over_r(j: int) -> float:
        m = 1 - j
        return float(dtau @ (t * psi[j] * psi[2] * phi[m]))

    N = [-math.log(C) - C * e_w_log_r(j) for j in range(3)]
    dN = [(1.0 - C * e_w_w3_over_r(j)) / T for j in range(2)]
    H = (k * N[0] + N[1] + l * N[2]) / T
    dH = (N[2] - H) / T
    return Elasticity(
        alpha=alpha, k=k, l=l,
        N_1=N[0], N_2=N[1], N_3=N[2], H=H,
        gamma_1=N[0] / H, gamma_2=N[1] / H, gamma_3=N[2] / H,
        dN_1_dl=dN[0], dN_2_dl=dN[1], dH_dl=dH,
        dgamma_1_dl=(dN[0] * H - N[0] * dH) / H**2,
        dgamma_2_dl=(dN[1] * H - N[1] * dH) / H**2,
    )


def normalized_rates(point: Elasticity, form: str = "ratio") -> dict[str, float]:
    """gamma_1, gamma_2 and their l-derivatives in either normalization.

    ``ratio`` (Definition C.16): gamma_j = (CE_j - log M)/(CE_D - log M) = N_j / H.
    ``difference`` (later version of the paper): gamma_j = CE_j - log M = N_j (nats).
    """
    if form == "ratio":
        return {"gamma_1": point.gamma_1, "gamma_2": point.gamma_2,
                "dgamma_1_dl": point.dgamma_1_dl, "dgamma_2_dl": point.dgamma_2_dl}
    if form == "difference":
        return {"gamma_1": point.N_1, "gamma_2": point.N_2,
                "dgamma_1_dl": point.dN_1_dl, "dgamma_2_dl": point.dN_2_dl}
    raise ValueError(f"form must be 'ratio' or 'difference', got {form!r}")
