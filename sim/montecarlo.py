"""Monte Carlo check of Theorem 2.6 on finite trees (Lemma C.13 at finite M).

One replicate: draw the M = 2^(d-1) leaf masses of D_1, D_2, D_3 iid Pareto (E[X] = 1),
normalize each to a distribution p_j, mix p = (k p_1 + p_2 + l p_3)/T, and compute exactly
on that finite tree (natural logs)

    N_j = CE_j - log M = -sum p_j log p - log M,   H = -sum p log p - log M,
    dN_j/dl = (1 - sum p_j p_3 / p) / T,           dH/dl = (CE_3 - H_full)/T,

gamma_j = N_j/H and dgamma_j/dl by the quotient rule: the slopes are analytic derivatives
of the finite-tree quantities, not finite differences. Random numbers are drawn in numpy
from the caller's Generator (one stream, replicate after replicate), so a seed fixes
every number.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sim.limits import MAX_DEPTH, MAX_REPLICATES
from theory import pareto
from theory.exact import check_point, exact

REPORTED = ("gamma_1", "gamma_2", "dgamma_1_dl", "dgamma_2_dl")


@dataclass(frozen=True)
class Estimate:
    mean: float
    ci95: tuple[float, float]

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci95": list(self.ci95)}


def replicate(alpha: float, k: float, l: float, depth: int, rng: np.random.Generator) -> dict:
    """The finite-tree quantities of one draw of leaf masses."""
    m = 2 ** (depth - 1)
    T = k + 1.0 + l
    x = pareto.sample(alpha, (3, m), rng)
    p = x / x.sum(axis=1, keepdims=True)
    mix = (k * p[0] + p[1] + l * p[2]) / T
    log_mix = np.log(mix)
    log_m = math.log(m)
    ce = -(p @ log_mix)  # cross-entropies CE_j (nats)
    h_full = float(-(mix @ log_mix))
    n = ce - log_m
    h = h_full - log_m
    ratio3 = p[2] / mix
    dn = (1.0 - p[:2] @ ratio3) / T
    dh = (ce[2] - h_full) / T
    return {
        "N_1": n[0], "N_2": n[1], "N_3": n[2], "H": h,
        "gamma_1": n[0] / h, "gamma_2": n[1] / h,
        "dN_1_dl": dn[0], "dN_2_dl": dn[1], "dH_dl": dh,
        "dgamma_1_dl": (dn[0] * h - n[0] * dh) / h**2,
        "dgamma_2_dl": (dn[1] * h - n[1] * dh) / h**2,
    }


def _summary(values: np.ndarray) -> Estimate:
    mean = float(values.mean())
    if values.size < 2:
        return Estimate(mean, (math.nan, math.nan))
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    return Estimate(mean, (mean - half, mean + half))


def _integer_in(name: str, value, low: int, high: int, why: str) -> int:
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}] ({why}), got {value}")
    return int(value)


def check_inputs(alpha, k, l, depth, replicates) -> tuple[float, float, float, int, int]:
    """The validated (alpha, k, l, depth, replicates) of a check, or a ValueError naming the
    argument and its range."""
    alpha, k, l = check_point(alpha, k, l)
    depth = _integer_in("depth", depth, 2, MAX_DEPTH, "M = 2^(depth-1) leaves; memory")
    replicates = _integer_in("replicates", replicates, 2, MAX_REPLICATES, "an interval needs two; memory")
    return alpha, k, l, depth, replicates


def check(alpha, k, l, depth: int, replicates: int, rng: np.random.Generator,
          progress=None) -> dict:
    """Mean and 95% t-interval over replicates of gamma_1, gamma_2 and their l-slopes,
    the exact infinite-M values, and whether each exact value lies in its interval.
    ``progress(done, total)`` is called after each replicate."""
    alpha, k, l, depth, replicates = check_inputs(alpha, k, l, depth, replicates)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    draws = {name: np.empty(replicates) for name in REPORTED}
    for i in range(replicates):
        one = replicate(alpha, k, l, depth, rng)
        for name in REPORTED:
            draws[name][i] = one[name]
        if progress is not None:
            progress(i + 1, replicates)
    return summarize(draws, alpha, k, l, depth)


def summarize(draws: dict[str, np.ndarray], alpha: float, k: float, l: float, depth: int) -> dict:
    """A check's result from its draws (one array per REPORTED quantity), whichever backend drew
    them: mean and 95% t-interval of each, the exact value, and whether it lies inside."""
    truth = exact(alpha, k, l)
    replicates = len(draws[REPORTED[0]])
    out = {"alpha": alpha, "k": k, "l": l, "depth": depth, "leaves": 2 ** (depth - 1),
           "replicates": replicates, "exact": {}, "exact_inside_ci95": {}}
    for name in REPORTED:
        est = _summary(draws[name])
        out[name] = est.as_dict()
        value = getattr(truth, name)
        out["exact"][name] = value
        out["exact_inside_ci95"][name] = bool(est.ci95[0] <= value <= est.ci95[1])
    return out


def check_convergence_inputs(alpha, k, l, depths, replicates: int) -> tuple[float, float, float, list[int]]:
    """The validated point and depths of a convergence run (every depth as a check's, two or more
    different ones); raises ValueError naming what is wrong."""
    alpha, k, l = check_point(alpha, k, l)
    depths = [check_inputs(alpha, k, l, d, replicates)[3] for d in depths]
    if len(depths) < 2 or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be at least two different values, got {depths}")
    return alpha, k, l, depths


def convergence(alpha, k, l, depths, replicates: int, rng: np.random.Generator) -> dict:
    """Root-mean-square error of each finite-M quantity against the exact value, by depth, with
    its standard error (delta method: sd of the squared errors / (2 RMS sqrt(n))) and its bias
    part (the mean error: RMS^2 = bias^2 + variance, so a bias that shrinks slower than M^-1/2
    flattens the slope), and the fitted exponent of RMS error ~ M^slope (Lemma C.13: about -1/2)."""
    alpha, k, l, depths = check_convergence_inputs(alpha, k, l, depths, replicates)
    truth = exact(alpha, k, l)
    leaves = [2 ** (d - 1) for d in depths]
    rms, rms_se, bias = ({name: [] for name in REPORTED} for _ in range(3))
    for d in depths:
        draws = [replicate(alpha, k, l, d, rng) for _ in range(replicates)]
        for name in REPORTED:
            err = np.array([x[name] for x in draws]) - getattr(truth, name)
            root = float(np.sqrt(np.mean(err**2)))
            rms[name].append(root)
            # the delta method's se of the RMS; root > 0 (the draws are continuous)
            rms_se[name].append(float(np.std(err**2, ddof=1) / (2 * root * np.sqrt(len(err)))))
            bias[name].append(float(np.mean(err)))
    slopes = {name: float(np.polyfit(np.log(leaves), np.log(rms[name]), 1)[0]) for name in REPORTED}
    return {"depths": list(depths), "leaves": leaves, "rms_error": rms, "rms_error_se": rms_se, "bias": bias,
            "slope": slopes}
