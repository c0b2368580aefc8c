"""Elasticity metrics of a curve, on curves worked by hand."""

import pytest

from empirical.metrics import crossing_q2, curve_metrics, kl_below_q2, slopes


def test_crossing_is_interpolated():
    assert crossing_q2([0, 100, 200], [0.9, 0.7, 0.3], 0.5) == pytest.approx(150.0)
    assert crossing_q2([0, 100], [0.9, 0.8], 0.5) is None
    assert crossing_q2([0, 100], [0.9, 0.5], 0.5) == pytest.approx(100.0)


def test_crossing_from_below_for_the_reversed_variant():
    """reversed: the first stage lowers the score; the crossing is where it rises back."""
    assert crossing_q2([0, 100, 200], [0.1, 0.3, 0.7], 0.5) == pytest.approx(150.0)
    assert crossing_q2([0, 100, 200], [0.1, 0.6, 0.2], 0.5) == pytest.approx(80.0)
    assert crossing_q2([0, 100], [0.5, 0.9], 0.5) is None  # starts on the line: no side to return from


def test_fast_then_slow_slopes():
    q2, score = [0, 100, 200, 1000], [0.9, 0.5, 0.45, 0.4]
    cross = crossing_q2(q2, score, 0.5)
    before, after = slopes(q2, score, cross)
    assert cross == pytest.approx(100.0)
    assert before == pytest.approx(-0.004) and after == pytest.approx(-0.1 / 900)
    assert abs(before) > 10 * abs(after)


def test_kl_threshold_and_bundle():
    assert kl_below_q2([0, 10, 20], [0.5, 0.02, 0.005]) == 20
    assert kl_below_q2([0, 10], [0.5, 0.2]) is None
    m = curve_metrics([0, 100, 200], [0.9, 0.7, 0.3], [1.0, 0.1, 0.001], 0.5)
    assert m["crossing_q2"] == pytest.approx(150.0) and m["kl_below_threshold_q2"] == 200
