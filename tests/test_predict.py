"""The optimal compressor's effective k: the analytic l-derivatives against finite differences
of the mixture's cross-entropies, and the theorem's identity (k for any laws)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from empirical import predict
from empirical.world import World, WorldConfig

WORLD = World(WorldConfig(n_pre=10, n_align=10, n_perturb=10, n_held_out=10), 2)


def _cross_entropies(f: float, k: float, l: float) -> tuple[float, float]:
    laws = WORLD.laws(f)
    mix = (k * laws["pre"] + laws["align"] + l * laws["perturb"]) / (k + 1 + l)
    log = np.log(np.where(mix > 0, mix, 1.0))
    return -float(laws["pre"] @ log), -float(laws["align"] @ log)


@pytest.mark.parametrize("f, n_pre, q1", [(0.5, 640, 64), (0.2, 20_000, 64), (0.8, 100, 1000)])
def test_effective_k_is_the_ratio_of_the_mixtures_slopes(f, n_pre, q1):
    """Central differences at l = h (the formula is the derivative at l = 0, one-sided: h small)."""
    k, h = n_pre / q1, 1e-6
    (pre_lo, align_lo), (pre_hi, align_hi) = _cross_entropies(f, k, 0.0), _cross_entropies(f, k, 2 * h)
    numeric = -(align_hi - align_lo) / (pre_hi - pre_lo)
    got = predict.effective_k_optimal(WORLD, f, n_pre, q1)
    assert got == pytest.approx(numeric, rel=1e-4)  # O(h) one-sided truncation with h = 1e-6
    assert got == pytest.approx(k, rel=1e-9)  # the theorem's identity; rounding only


@given(st.floats(0.05, 0.95), st.integers(1, 10**6), st.integers(1, 10**4))
def test_the_identity_holds_for_any_share_and_sizes(f, n_pre, q1):
    assert predict.effective_k_optimal(WORLD, f, n_pre, q1) == pytest.approx(n_pre / q1, rel=1e-7)
