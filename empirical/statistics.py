"""Statistics of experimental claims (docs/design.md, section 6): means with 95% t-intervals over
seeds, effects paired by seed, the minimal detectable effect, equivalence against a smallest
effect of interest (two one-sided tests), Holm's adjustment for a family of secondary
endpoints, a covariate-adjusted paired effect, Fieller's interval for a ratio of means, and
verdicts read from intervals.

Plain numpy/scipy. An interval needs two seeds: with one, ``ci95`` is None ("no interval"),
never a zero-width interval.
"""

import math

import numpy as np
from scipy import stats

VERDICTS = ("elasticity", "opposite", "significant, inside the margin", "equivalent", "not resolved")


def mean_ci(values) -> dict:
    """Mean, 95% t-interval, n and the sample standard deviation of ``values``."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"need a non-empty list of finite numbers, got {values!r}")
    mean = float(values.mean())
    if values.size < 2:
        return {"mean": mean, "ci95": None, "n": 1, "sd": None}
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, values.size - 1) * sd / math.sqrt(values.size))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": int(values.size), "sd": sd}


def paired(a: dict, b: dict) -> dict:
    """``mean_ci`` of a[seed] - b[seed]: each difference between arms that share a seed. The
    two arms must hold the same seeds (a pairing across seeds is a bug, refused)."""
    if set(a) != set(b) or not a:
        raise ValueError(f"paired arms must hold the same seeds, got {sorted(a)} and {sorted(b)}")
    seeds = sorted(a)
    out = mean_ci([a[s] - b[s] for s in seeds])
    out["per_seed"] = {str(s): a[s] - b[s] for s in seeds}
    return out


def minimal_detectable_effect(sd: float | None, n: int, power: float = 0.8) -> float | None:
    """The smallest true mean a two-sided 5% t-test on n paired differences of standard
    deviation ``sd`` detects with probability ``power``: (t_0.975 + t_power) sd / sqrt(n),
    both quantiles at n - 1 degrees of freedom. None with fewer than two seeds."""
    if sd is None or n < 2:
        return None
    return float((stats.t.ppf(0.975, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def verdict(ci95, equivalent: dict | None = None) -> str:
    """``elasticity`` when the 95% interval lies above 0, ``opposite`` below; else
    ``equivalent`` when ``equivalent`` (from ``equivalence``) says the 90% interval lies inside
    the margin; else ``not resolved`` (one seed, no interval, is not resolved either). A
    significant effect smaller than the margin is still reported as significant: its
    equivalence record says it is small: with ``equivalent`` given, a significant effect whose
    90% interval lies inside the margin is ``significant, inside the margin`` (its sign is the
    mean's)."""
    if ci95 is None:
        return "not resolved"
    low, high = ci95
    small = equivalent is not None and equivalent["within_margin"]
    if low > 0 or high < 0:
        return "significant, inside the margin" if small else ("elasticity" if low > 0 else "opposite")
    return "equivalent" if small else "not resolved"


def logit(p: float) -> float:
    """log(p / (1 - p)), with p kept 1e-12 inside (0, 1) so that a saturated score stays finite."""
    p = min(max(float(p), 1e-12), 1.0 - 1e-12)
    return math.log(p / (1.0 - p))


def slope(x, y) -> float:
    """Least-squares slope of y on x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError("a slope needs at least two distinct x values")
    return float(np.polyfit(x, y, 1)[0])


def t_interval(mean: float, sd: float | None, n: int, level: float) -> list[float] | None:
    """The two-sided t-interval at ``level`` of a mean of n values with sample sd; None under two."""
    if sd is None or n < 2:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))
    return [mean - half, mean + half]


def equivalence(stat: dict, sesoi: float) -> dict:
    """Two one-sided tests at 5% each against the margin [-sesoi, +sesoi]: equivalent when the
    90% t-interval lies strictly inside it (Schuirmann's TOST)."""
    if not (math.isfinite(sesoi) and sesoi > 0):
        raise ValueError(f"sesoi must be a finite number > 0, got {sesoi}")
    ci90 = t_interval(stat["mean"], stat["sd"], stat["n"], 0.90)
    return {"ci90": ci90, "sesoi": sesoi, "p_tost": _p_tost(stat, sesoi), "p_one_sided": _p_one_sided(stat),
            "within_margin": ci90 is not None and -sesoi < ci90[0] and ci90[1] < sesoi}


def _standard_error(stat: dict) -> float | None:
    return None if stat["sd"] is None or stat["n"] < 2 or stat["sd"] == 0 else stat["sd"] / math.sqrt(stat["n"])


def _p_tost(stat: dict, sesoi: float) -> float | None:
    """TOST's p-value: the larger of the two one-sided t-tests against -sesoi and +sesoi (< 0.05
    exactly when the 90% interval lies inside the margin)."""
    se = _standard_error(stat)
    if se is None:
        return None
    df = stat["n"] - 1
    return float(max(stats.t.sf((stat["mean"] + sesoi) / se, df), stats.t.cdf((stat["mean"] - sesoi) / se, df)))


def _p_one_sided(stat: dict) -> float | None:
    """One-sided t-test of 0 in the direction of the observed mean (how firmly its sign is seen)."""
    se = _standard_error(stat)
    return None if se is None else float(stats.t.sf(abs(stat["mean"]) / se, stat["n"] - 1))


REPLICATION_DRAWS = 20_000  # Monte Carlo error of a probability about 0.0035 at most (sqrt(.25 / 20000))


def replication(stat: dict, sesoi: float, control_detected: bool = True) -> dict | None:
    """The chance that a rerun with as many seeds reads each verdict, if the true effect were the
    observed mean and the per-seed spread the observed sd (a plug-in: it ignores the uncertainty
    of both, so it says how fragile a verdict is, not how likely it is true). Each rerun draws its
    mean and sd from their sampling laws (normal, scaled chi-square); fixed seed, so the numbers
    are reproducible."""
    se = _standard_error(stat)
    if se is None:
        return None
    n, rng = stat["n"], np.random.default_rng(0)
    means = rng.normal(stat["mean"], se, REPLICATION_DRAWS)
    ses = stat["sd"] * np.sqrt(rng.chisquare(n - 1, REPLICATION_DRAWS) / (n - 1)) / math.sqrt(n)
    half95, half90 = (stats.t.ppf(q, n - 1) * ses for q in (0.975, 0.95))  # as t_interval draws them
    significant = (means - half95 > 0) | (means + half95 < 0)
    small = (means - half90 > -sesoi) & (means + half90 < sesoi)  # as equivalence's within_margin
    counts = {"elasticity": (means - half95 > 0) & ~small, "opposite": (means + half95 < 0) & ~small,
              "significant, inside the margin": significant & small,
              "equivalent": ~significant & small & control_detected,
              "not resolved": ~significant & ~(small & control_detected)}
    counts = {name: int(hits.sum()) for name, hits in counts.items()}
    return {name: count / REPLICATION_DRAWS for name, count in counts.items()}


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def family(stats_: list[dict]) -> list[dict]:
    """Secondary (exploratory) endpoints as a family: each one's two-sided t-test p-value, its
    Holm-adjusted p-value, and its interval at the Bonferroni level 1 - 0.05/m (simultaneous
    coverage; the adjusted p-value < 0.05 is Holm's decision, the interval a conservative one)."""
    m = len(stats_)
    raw = [p_value(s) for s in stats_]
    adjusted = holm([1.0 if p is None else p for p in raw])
    return [{"p": p, "p_holm": a if p is not None else None,
             "ci95_adjusted": t_interval(s["mean"], s["sd"], s["n"], 1 - 0.05 / m)}
            for s, p, a in zip(stats_, raw, adjusted, strict=True)]


def p_value(stat: dict) -> float | None:
    """Two-sided one-sample t-test of mean 0; None under two values or with sd 0."""
    if stat["sd"] is None or stat["n"] < 2 or stat["sd"] == 0:
        return None
    t = stat["mean"] / (stat["sd"] / math.sqrt(stat["n"]))
    return float(2 * stats.t.sf(abs(t), stat["n"] - 1))


def adjusted_effect(effects: dict, covariates: dict[str, dict]) -> dict:
    """The intercept of a paired regression: per seed, effect = a + sum_j b_j x_j + error, with
    x_j the per-seed difference of covariate j between the arms; ``a`` is the effect at equal
    covariates, with its 95% t-interval (n - p degrees of freedom). A covariate that does not
    vary over seeds is dropped (it is absorbed by the intercept) and named. ``covariate_means``
    says how far the data lie from equal covariates: the intercept is an extrapolation when
    they lie far from 0 on one side."""
    seeds = sorted(effects)
    if any(set(c) != set(effects) for c in covariates.values()):
        raise ValueError("covariates must hold the same seeds as the effects")
    y = np.array([effects[s] for s in seeds], float)
    used = [name for name, c in covariates.items() if np.ptp([c[s] for s in seeds]) > 1e-12]
    x = np.column_stack([np.ones(len(seeds))] + [[covariates[name][s] for s in seeds] for name in used])
    dof = len(seeds) - x.shape[1]
    if dof < 1 or np.linalg.matrix_rank(x) < x.shape[1]:
        return {"mean": None, "ci95": None, "n": len(seeds), "covariates": used,
                "note": "too few seeds or collinear covariates for the regression"}
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    sigma2 = float(residual @ residual) / dof
    se = math.sqrt(sigma2 * float(np.linalg.inv(x.T @ x)[0, 0]))
    half = float(stats.t.ppf(0.975, dof) * se)
    return {"mean": float(coef[0]), "ci95": [float(coef[0]) - half, float(coef[0]) + half], "n": len(seeds),
            "covariates": used, "slopes": {name: float(b) for name, b in zip(used, coef[1:], strict=True)},
            "covariate_means": {name: float(np.mean(x[:, i + 1])) for i, name in enumerate(used)}}


def fieller(numerators, denominators) -> dict:
    """mean(numerators) / mean(denominators) over seeds (paired by position), with Fieller's 95%
    interval: the set of ratios r for which mean(num) - r mean(den) is not significantly
    different from 0 (t at n - 1 degrees of freedom, the two means' covariance included). The
    interval is None, with the reason, where it is unbounded: the denominator's mean is not
    significantly different from 0 (g >= 1), so no finite interval holds the ratio."""
    num, den = np.asarray(numerators, float), np.asarray(denominators, float)
    if num.shape != den.shape or num.ndim != 1 or num.size == 0 or not np.isfinite([num, den]).all():
        raise ValueError("numerators and denominators must be paired, finite and non-empty")
    n = num.size
    a, b = float(num.mean()), float(den.mean())
    mean = a / b if b != 0 else None
    if n < 2:
        return {"mean": mean, "ci95": None, "n": n, "undefined": "one seed: no interval"}
    cov = np.cov(num, den, ddof=1) / n  # covariance of the two means
    v11, v12, v22 = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    t = float(stats.t.ppf(0.975, n - 1))
    if b == 0 or t * t * v22 >= b * b:
        return {"mean": mean, "ci95": None, "n": n,
                "undefined": "the denominator's mean is not significantly different from 0: unbounded"}
    g = t * t * v22 / (b * b)
    r = a / b
    spread = v11 - 2 * r * v12 + r * r * v22 - g * (v11 - v12 * v12 / v22 if v22 > 0 else 0.0)
    half = t / abs(b) * math.sqrt(max(spread, 0.0))
    centre = r - g * v12 / v22 if v22 > 0 else r
    low, high = (centre - half) / (1 - g), (centre + half) / (1 - g)
    return {"mean": mean, "ci95": [low, high], "n": n, "undefined": None}
