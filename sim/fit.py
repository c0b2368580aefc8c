"""Does the Pareto mass model fit? (Assumption C.15; the paper's Limitations ask for evidence.)

Fits three laws to positive masses x (for example a tree's EOS counts):

- Pareto, by maximum likelihood with x_min = min(x): alpha = n / sum log(x / x_min),
  95% interval alpha (1 +- 1.96/sqrt(n)) (asymptotic normality of the MLE);
- log-normal, by maximum likelihood on log x;
- a Zipf-type discrete power law P(c) ~ c^-s for c >= c_min, when the masses are integer
  counts (maximum likelihood with the Hurwitz zeta normalizer).

and compares them: the Vuong likelihood-ratio test of Pareto against log-normal (both are
densities on the same data), and the Kolmogorov-Smirnov distance of each fitted law.
The law with the smallest KS distance is reported as the best fit.
"""

import math

import numpy as np
from scipy import optimize, special, stats


def _check_masses(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise ValueError("masses must be finite numbers (got NaN or infinity)")
    if (x < 0).any():
        raise ValueError(f"masses must be >= 0, got {x[x < 0][0]:g}")
    x = x[x > 0]  # a zero mass (no response ends at that node) says nothing about the tail
    if x.size < 3 or np.unique(x).size < 2:
        raise ValueError(f"need at least 3 positive masses with two distinct values, got {x.size}")
    if not np.isfinite(x).all():
        raise ValueError("masses must be finite")
    return np.sort(x)


def _ks(x_sorted: np.ndarray, cdf: np.ndarray) -> float:
    n = x_sorted.size
    upper = np.arange(1, n + 1) / n
    return float(max(np.max(upper - cdf), np.max(cdf - (upper - 1.0 / n))))


def fit_masses(x) -> dict:
    x = _check_masses(x)
    n = x.size
    x_min = float(x[0])
    logs = np.log(x / x_min)
    alpha = n / logs.sum() if logs.sum() > 0 else math.inf
    ll_pareto = math.log(alpha) + alpha * math.log(x_min) - (alpha + 1) * np.log(x)
    mu, sigma = float(np.log(x).mean()), float(np.log(x).std())
    ll_lognormal = stats.norm.logpdf(np.log(x), mu, sigma) - np.log(x)
    diff = ll_pareto - ll_lognormal
    z = float(diff.sum() / (diff.std() * math.sqrt(n))) if diff.std() > 0 else 0.0
    ks = {
        "pareto": _ks(x, 1.0 - (x_min / x) ** alpha),
        "lognormal": _ks(x, stats.norm.cdf((np.log(x) - mu) / sigma)),
    }
    out = {
        "n": n,
        "pareto": {"alpha": alpha, "alpha_ci95": [alpha * (1 - 1.96 / math.sqrt(n)),
                                                  alpha * (1 + 1.96 / math.sqrt(n))],
                   "x_min": x_min, "log_likelihood": float(ll_pareto.sum())},
        "lognormal": {"mu": mu, "sigma": sigma, "log_likelihood": float(ll_lognormal.sum())},
        "vuong_pareto_vs_lognormal": {"z": z, "p_value": float(2 * stats.norm.sf(abs(z))),
                                      "favours": "pareto" if z > 0 else "lognormal"},
    }
    if np.all(x == np.round(x)):
        out["zipf"] = _fit_zipf(x)
        ks["zipf"] = out["zipf"]["ks"]
    out["ks"] = ks
    out["best_by_ks"] = min(ks, key=ks.get)
    return out


def _fit_zipf(counts: np.ndarray) -> dict:
    c_min = float(counts[0])
    log_sum = float(np.log(counts).sum())
    n = counts.size

    def nll(s):
        return s * log_sum + n * math.log(special.zeta(s, c_min))

    res = optimize.minimize_scalar(nll, bounds=(1.0 + 1e-6, 30.0), method="bounded",
                                   options={"xatol": 1e-10})
    s = float(res.x)
    values, first = np.unique(counts, return_index=True)
    cdf_at = 1.0 - special.zeta(s, values + 1) / special.zeta(s, c_min)  # P(C <= value)
    empirical_upper = np.append(first[1:], n) / n
    empirical_lower = first / n
    ks = float(max(np.max(np.abs(empirical_upper - cdf_at)),
                   np.max(np.abs(empirical_lower - np.append(0.0, cdf_at[:-1])))))
    return {"s": s, "c_min": c_min, "log_likelihood": float(-res.fun), "ks": ks}


def fit_file(path, vocab_size: int = 2, depth: int | None = None, masses: bool = False) -> dict:
    """``fit_masses`` of a .npy of masses, or of the EOS masses of a token file's tree."""
    from sim import arrays, tree

    if masses:
        return arrays.load_vector(path, "mass vector", fit_masses)
    return fit_masses(tree.build(*tree.load_sequences(path), vocab_size, depth).eos)
