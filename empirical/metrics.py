"""Elasticity metrics of a rebound curve (score against the number of negative examples).

- ``crossing_q2``: the number of second-stage examples at which the score first returns to the
  reference line (the pre-trained model's own score) from the side the first stage left it on,
  by linear interpolation between grid points; None if it never does on the grid;
- ``slope_before`` / ``slope_after``: the mean slope of the score (per negative example)
  before and after that point: the paper's "fast then slow";
- ``kl_below_q2``: the first grid point where the KL to the pre-trained model falls below a
  threshold (the later version of the paper uses 0.01 nats); None without KL values (real
  models, where the KL is not computed).
"""

import numpy as np


def crossing_q2(q2, score, reference: float) -> float | None:
    """First Q2 where the curve reaches the reference from the side it started on: from above
    (sft, dpo: the first stage raised the score) or from below (reversed: it lowered it)."""
    q2, score = np.asarray(q2, float), np.asarray(score, float)
    gap = score - reference
    side = np.sign(gap[0])
    for i in range(1, len(q2)):
        if side != 0 and side * gap[i - 1] > 0 >= side * gap[i]:
            t = gap[i - 1] / (gap[i - 1] - gap[i])
            return float(q2[i - 1] + t * (q2[i] - q2[i - 1]))
    return None


def slopes(q2, score, crossing: float | None) -> tuple[float | None, float | None]:
    q2, score = np.asarray(q2, float), np.asarray(score, float)
    if crossing is None:
        return None, None
    at = np.interp(crossing, q2, score)
    before = (at - score[0]) / (crossing - q2[0]) if crossing > q2[0] else None
    after = (score[-1] - at) / (q2[-1] - crossing) if q2[-1] > crossing else None
    return before, after


def kl_below_q2(q2, kl, threshold: float = 0.01) -> float | None:
    for q, value in zip(q2, kl, strict=True):
        if value < threshold:
            return float(q)
    return None


def curve_metrics(q2, score, kl, reference: float, kl_threshold: float = 0.01) -> dict:
    cross = crossing_q2(q2, score, reference)
    before, after = slopes(q2, score, cross)
    return {"crossing_q2": cross, "slope_before_per_example": before,
            "slope_after_per_example": after,
            "kl_below_threshold_q2": kl_below_q2(q2, kl, kl_threshold) if len(kl) else None,
            "kl_threshold_nats": kl_threshold}
