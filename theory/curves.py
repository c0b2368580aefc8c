"""The exact theory on the grids the theory figures plot: gamma_j against l, the derivative ratio
against k, the sign of dgamma_2/dl over (alpha, k) with its boundary k*(alpha), and the paper's
printed closed forms beside exact values. Numbers in, numbers out (saved by ``elasticity
reproduce`` as the ``theory-curves`` result)."""

import numpy as np


def theory_curves() -> dict:
    """The exact theory on the grids the theory figures plot (about 10 s: the sign of dgamma_2/dl
    on a dense 48 x 61 map through theory.batch, and its boundary k*(alpha))."""
    from theory import batch, paper
    from theory.boundary import boundary
    from theory.exact import exact, normalized_rates
    from theory.limits import alpha_star, k_infinity

    def rates(alpha, k, l):
        return normalized_rates(exact(alpha, k, l))

    ls = [float(x) for x in np.linspace(0.0, 0.5, 11)]
    ks = [float(x) for x in np.logspace(1, 5, 9)]
    gamma = []
    for k in (10.0, 100.0, 1000.0):
        points = [rates(2.0, k, l) for l in ls]  # each point once: both rates come from it
        gamma.append({"alpha": 2.0, "k": k, "l": ls, "gamma_1": [p["gamma_1"] for p in points],
                      "gamma_2": [p["gamma_2"] for p in points]})
    ratio = []
    for alpha in (1.5, 2.0, 3.0, 6.0):
        points = [rates(alpha, k, 0.0) for k in ks]
        ratio.append(
            {"alpha": alpha, "k": ks, "ratio": [p["dgamma_2_dl"] / p["dgamma_1_dl"] for p in points]}
        )
    alphas = [float(a) for a in np.linspace(1.25, 6.0, 48)]
    sign_ks = [float(k) for k in np.logspace(0, 6, 61)]
    dense = batch.evaluate(np.asarray(alphas)[:, None], np.asarray(sign_ks)[None, :], 0.0, derivatives=False)
    sign = np.sign(dense["dgamma_2_dl"]).tolist()
    edge = [a for a in np.linspace(2.58, 6.0, 18)]  # above alpha* = 2.5733: a finite k* each
    limits_alphas = [float(a) for a in np.linspace(1.5, 6.0, 10)]
    closed = {
        "alpha": limits_alphas,
        "S_1_printed_eq77": [paper.eq77_S1_limit(a) for a in limits_alphas],
        "S_2_printed_eq81": [paper.eq81_S2_limit(a) for a in limits_alphas],
        "S_1_exact_k_inf": [_paper_limit(a, k_infinity, "N_1") for a in limits_alphas],
        "S_2_exact_k_inf": [_paper_limit(a, k_infinity, "N_2") for a in limits_alphas],
    }
    slopes = []
    for k in ks:
        exact_units = paper.to_paper_units(exact(2.0, k, 0.0))
        slopes.append(
            {
                "k": k,
                "dS_1_dl_printed_eq88": paper.eq88_dS1_dl(2.0, k),
                "dS_1_dl_exact": exact_units["dS_1_dl"],
                "dH_dl_printed_eq95": paper.eq95_dH_dl(2.0, k),
                "dH_dl_exact": exact_units["dH_p_dl"],
            }
        )
    closed["slopes_alpha_2"] = slopes
    return {
        "gamma_vs_l": gamma,
        "ratio_vs_k": ratio,
        "sign_dgamma_2_dl": {"alpha": alphas, "k": sign_ks, "sign": sign, "alpha_star": alpha_star(),
                             "boundary": boundary(edge)},
        "closed_forms": closed,
    }


def _paper_limit(alpha: float, k_infinity, name: str) -> float:
    """The exact k -> infinity limit of N_j in the paper's units S_j = -N_j / Z."""
    from theory import paper

    return -k_infinity(alpha)[name] / paper.normalizer(alpha)
