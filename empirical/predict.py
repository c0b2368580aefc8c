"""What the theorem predicts for an experiment: the effective k of the optimal compressor.

In difference form the theorem is the first-order identity k dCE_pre/dl + dCE_align/dl = 0 at
l = 0 for the optimal compressor of the mixture of D_pre (weight k), D_align (weight 1) and
D_perturb (weight l): the observable is the effective k = -dCE_align/dCE_pre, set against the
nominal k = |D_pre| / Q1 (``empirical.counterfactual`` and ``empirical.rebound`` measure it on
the fine-tuned models).
"""

from empirical.world import World


def effective_k_optimal(world: World, f: float, n_pre: int, q1: int) -> float:
    """-dCE_align/dCE_pre at l = 0 for the optimal compressor of the mixture of D_pre (the law
    at share f, weight n_pre), D_align (weight q1) and D_perturb (weight l q1), from the world's
    exact laws: with p = (k p_pre + p_align)/(k + 1), d log p/dl = (p_perturb - p)/((k + 1) p),
    so dCE_j/dl = -sum_r p_j (p_perturb - p)/((k + 1) p). The identity makes this k = n_pre/q1
    for any laws; computing it checks the identity on the world itself."""
    k = n_pre / q1
    laws = world.laws(f)
    mix = (k * laws["pre"] + laws["align"]) / (k + 1.0)
    on = mix > 0
    change = (laws["perturb"][on] - mix[on]) / ((k + 1.0) * mix[on])
    d_pre = -float(laws["pre"][on] @ change)
    d_align = -float(laws["align"][on] @ change)
    return -d_align / d_pre
