"""Statistics of experimental claims (docs/design.md, section 6): means with 95% t-intervals over
seeds, effects paired by seed, the minimal detectable effect, verdicts read from intervals.

Plain numpy/scipy. An interval needs two seeds: with one, ``ci95`` is None ("no interval"),
never a zero-width interval.
"""

import math

import numpy as np
from scipy import stats

VERDICTS = ("elasticity", "opposite", "not resolved")


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


def verdict(ci95) -> str:
    """``elasticity`` when the interval lies above 0, ``opposite`` below, else ``not resolved``
    (one seed, no interval, is not resolved either)."""
    if ci95 is None:
        return "not resolved"
    low, high = ci95
    if low > 0:
        return "elasticity"
    if high < 0:
        return "opposite"
    return "not resolved"


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


def ratio_ci(numerators, denominators, seed: int = 0, draws: int = 4000) -> dict:
    """mean(numerators) / mean(denominators) over seeds (paired by position), with a
    percentile bootstrap 95% interval that resamples seeds; None where a resample's
    denominator is 0 too often to say (over 2.5% of draws)."""
    num, den = np.asarray(numerators, float), np.asarray(denominators, float)
    if num.shape != den.shape or num.size == 0:
        raise ValueError("numerators and denominators must be paired and non-empty")
    mean = float(num.mean() / den.mean()) if den.mean() != 0 else None
    if num.size < 2:
        return {"mean": mean, "ci95": None, "n": int(num.size)}
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, num.size, (draws, num.size))
    d = den[pick].mean(axis=1)
    ok = d != 0
    if ok.mean() < 0.975:
        return {"mean": mean, "ci95": None, "n": int(num.size)}
    r = num[pick].mean(axis=1)[ok] / d[ok]
    return {"mean": mean, "ci95": [float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))],
            "n": int(num.size)}
