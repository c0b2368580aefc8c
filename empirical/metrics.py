"""Elasticity metrics of a rebound curve (score against the number of negative examples).

- ``crossing_q2``: the number of second-stage examples at which the score first returns to the
  reference line (the score the arm started from) from the side the first stage left it on,
  by linear interpolation between grid points; None if it never does on the grid;
- ``kl_below_q2``: the first grid point where the KL to the pre-trained model falls below a
  threshold (the later version of the paper uses 0.01 nats); None without KL values (real
  models, where the KL is not computed).
"""

import numpy as np

# A curve that starts within this of its reference starts AT it (an arm without a first stage):
# it has no side to return from. Two forward passes of one model (HF's and the ensemble's
# batched one) score it within float32 rounding of the logits (relative 6e-8; measured up to
# 2.5e-8 on the micro rebound, once 1.1e-8), so the tolerance is 40x that; a first stage moves the
# score by far more (at least 6.5e-2 in the committed synthetic rebound runs).
AT_REFERENCE = 1e-6


def crossing_q2(q2, score, reference: float) -> float | None:
    """First Q2 where the curve reaches the reference from the side it started on: from above
    (sft, dpo: the first stage raised the score) or from below (reversed: it lowered it); None
    if it never does, or if it starts at the reference (``AT_REFERENCE``)."""
    q2, score = np.asarray(q2, float), np.asarray(score, float)
    gap = score - reference
    side = 0.0 if abs(gap[0]) <= AT_REFERENCE else np.sign(gap[0])
    for i in range(1, len(q2)):
        if side != 0 and side * gap[i - 1] > 0 >= side * gap[i]:
            t = gap[i - 1] / (gap[i - 1] - gap[i])
            return float(q2[i - 1] + t * (q2[i] - q2[i - 1]))
    return None


def kl_below_q2(q2, kl, threshold: float = 0.01) -> float | None:
    for q, value in zip(q2, kl, strict=True):
        if value < threshold:
            return float(q)
    return None
