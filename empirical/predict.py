"""What the theory predicts for a cell of the rebound grid, to set next to what was observed.

The optimal compressor of the union of D_pre, D_1 (Q1 examples of the first style) and D_2
(Q2 of the other) is the size-weighted mixture of their laws (Definition C.9). On the
world's own trees (``sim``), its per-dataset cross-entropies and normalized rates are exact;
the Pareto model (``theory``) gives gamma at k = |D_pre|/Q1, l = Q2/Q1. The world differs from
the theory's assumptions (D_pre is itself a mixture of the two styles, and the styles have
disjoint supports), so the gap is reported, not tuned away.
"""

import math

import numpy as np

from empirical.world import World
from sim import rates
from sim.tree import from_leaf_distribution
from theory.elasticity import exact


def optimal(world: World, q1: int, q2: int, first_is_positive: bool = True) -> dict:
    """Per-dataset code lengths of the optimal compressor (nats per token, EOS included) and
    both normalized rates, for datasets (pre, first, second) of sizes (n_pre, q1, q2)."""
    cfg = world.config
    pre = world.response_distribution(cfg.pre_positive_fraction)
    first, second = (world.p_pos, world.p_neg) if first_is_positive else (world.p_neg, world.p_pos)
    responses = world.response_tokens()
    trees = [from_leaf_distribution(responses, p, cfg.vocab_size) for p in (pre, first, second)]
    sizes = [cfg.n_pre, q1, q2]
    r = rates.rates(trees, sizes) if q2 > 0 else rates.rates(trees[:2], sizes[:2])
    tokens = cfg.response_length + 1
    to_nats = math.log(2)
    ce = [c * to_nats / tokens for c in r["cross_entropy_bits"]]
    log_m = cfg.response_length * math.log(cfg.content_vocab)
    h = r["mixture_entropy_bits"] * to_nats
    per_response = [c * tokens for c in ce]
    return {
        "code_length_nats": dict(zip(("pre", "first", "second"), ce, strict=False)),
        "gamma_ratio": [(c - log_m) / (h - log_m) for c in per_response],
        "gamma_difference_nats": [c - log_m for c in per_response],
    }


def observed_rates(code_length_nats: dict, world: World, q1: int, q2: int, first: str, second: str) -> dict:
    """Both normalized rates from a model's measured per-token code lengths (nats)."""
    cfg = world.config
    tokens = cfg.response_length + 1
    log_m = cfg.response_length * math.log(cfg.content_vocab)
    per = [code_length_nats[k] * tokens for k in ("pre", first, second)]
    sizes = np.array([cfg.n_pre, q1, q2], float)
    mix = float(sizes @ per / sizes.sum())
    return {"gamma_ratio": [(c - log_m) / (mix - log_m) for c in per],
            "gamma_difference_nats": [c - log_m for c in per]}


def pareto_theory(world: World, q1: int, q2: int) -> dict:
    """gamma_1, gamma_2 and slopes of the Pareto model at k = n_pre/Q1, l = Q2/Q1."""
    k, l = world.config.n_pre / q1, q2 / q1
    p = exact(max(world.config.alpha, 1.1), k, l)
    return {"k": k, "l": l, "gamma_1": p.gamma_1, "gamma_2": p.gamma_2,
            "dgamma_1_dl": p.dgamma_1_dl, "dgamma_2_dl": p.dgamma_2_dl}


def effective_k_optimal(world: World, f: float, n_pre: int, q1: int) -> float:
    """-dCE_align/dCE_pre at l = 0 for the optimal compressor of the mixture of D_pre (the law
    at share f, weight n_pre), D_align (weight q1) and D_perturb (weight l q1), from the world's
    exact laws: with p = (k p_pre + p_align)/(k + 1), d log p/dl = (p_perturb - p)/((k + 1) p),
    so dCE_j/dl = -sum_r p_j (p_perturb - p)/((k + 1) p). The theorem's first-order identity
    k dCE_pre/dl + dCE_align/dl = 0 makes this k = n_pre/q1 for any laws; computing it checks
    the identity on the world itself."""
    k = n_pre / q1
    laws = world.laws(f)
    mix = (k * laws["pre"] + laws["align"]) / (k + 1.0)
    on = mix > 0
    change = (laws["perturb"][on] - mix[on]) / ((k + 1.0) * mix[on])
    d_pre = -float(laws["pre"][on] @ change)
    d_align = -float(laws["align"][on] @ change)
    return -d_align / d_pre
