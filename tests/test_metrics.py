"""Elasticity metrics of a curve, on curves worked by hand."""

import pytest

from empirical.metrics import crossing_q2, kl_below_q2


def test_crossing_is_interpolated():
    assert crossing_q2([0, 100, 200], [0.9, 0.7, 0.3], 0.5) == pytest.approx(150.0)
    assert crossing_q2([0, 100], [0.9, 0.8], 0.5) is None
    assert crossing_q2([0, 100], [0.9, 0.5], 0.5) == pytest.approx(100.0)


def test_crossing_from_below_for_the_reversed_variant():
    """reversed: the first stage lowers the score; the crossing is where it rises back."""
    assert crossing_q2([0, 100, 200], [0.1, 0.3, 0.7], 0.5) == pytest.approx(150.0)
    assert crossing_q2([0, 100, 200], [0.1, 0.6, 0.2], 0.5) == pytest.approx(80.0)
    assert crossing_q2([0, 100], [0.5, 0.9], 0.5) is None  # starts on the line: no side to return from


def test_a_start_within_rounding_of_the_reference_is_on_it():
    """An arm without a first stage starts at its own reference; scored by another forward pass
    of the same model it lands within float32 rounding of it (measured 6e-10 to 2.5e-8), which must
    not read as a side to return from (a crossing at Q2 ~ 0). Just outside the tolerance, a real side."""
    reference = 0.43
    for noise in (6e-10, -3e-10, 1.1e-8, -2.5e-8, 1e-6):
        assert crossing_q2([0, 16, 64], [reference + noise, reference - 0.05, reference - 0.1], reference) is None
    assert crossing_q2([0, 16], [reference + 2e-6, reference - 2e-6], reference) == pytest.approx(8.0)


def test_kl_threshold():
    assert kl_below_q2([0, 10, 20], [0.5, 0.02, 0.005]) == 20
    assert kl_below_q2([0, 10], [0.5, 0.2]) is None
    assert kl_below_q2([0, 10], [0.5, 0.01]) is None  # strictly below the threshold
    with pytest.raises(ValueError):
        kl_below_q2([0, 10, 20], [0.5, 0.2])  # every point needs its KL
