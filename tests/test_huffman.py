"""Huffman code lengths: Shannon's bounds, Kraft, the heapq twin, textbook cases, edges."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from naive_sim import heapq_code_lengths, heapq_expected_length
from sim import huffman, probability

# Sums of up to 300 merged float64 weights: 1e-12 absolute covers the rounding.
ROUNDING = 1e-12

weights = st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=300).filter(
    lambda w: sum(w) > 0)


def normalized(w):
    p = np.asarray(w, dtype=float)
    return p / p.sum()


@given(weights)
def test_shannon_bounds(w):
    """H <= L < H + 1."""
    p = normalized(w)
    h, length = probability.entropy_bits(p), huffman.expected_length_bits(p)
    assert h - ROUNDING <= length < h + 1 + ROUNDING


@given(weights)
def test_kraft_sum_is_one_and_lengths_match_expected_length(w):
    """A Huffman code is complete: sum 2^-l = 1 over coded symbols (two or more of them);
    and sum p l equals the merge cost."""
    p = normalized(w)
    lengths = huffman.code_lengths(p)
    if (p > 0).sum() >= 2:
        assert huffman.kraft_sum(lengths) == 1.0
    assert math.isclose(float(p @ lengths), huffman.expected_length_bits(p), rel_tol=1e-12, abs_tol=ROUNDING)
    assert (lengths[p == 0] == 0).all()


@given(weights, st.randoms(use_true_random=False))
def test_expected_length_invariant_under_permutation(w, rnd):
    p = normalized(w)
    q = p.copy()
    rnd.shuffle(q)
    assert math.isclose(huffman.expected_length_bits(p), huffman.expected_length_bits(q),
                        rel_tol=1e-12, abs_tol=ROUNDING)


@given(weights)
def test_agrees_with_heapq_twin(w):
    """Same optimal expected length as the textbook heap algorithm (code lengths may differ
    under ties, their expectation may not)."""
    p = normalized(w)
    assert math.isclose(huffman.expected_length_bits(p), heapq_expected_length(p), rel_tol=1e-12,
                        abs_tol=ROUNDING)
    assert math.isclose(float(p @ heapq_code_lengths(p)), float(p @ huffman.code_lengths(p)),
                        rel_tol=1e-12, abs_tol=ROUNDING)


@pytest.mark.parametrize("p, expected", [
    ([0.4, 0.2, 0.2, 0.1, 0.1], 2.2),          # the classic textbook example
    ([0.5, 0.25, 0.125, 0.125], 1.75),          # dyadic: L = H
    ([0.25] * 4, 2.0),
    ([1 / 3] * 3, 5 / 3),                       # ties
    ([1.0], 0.0),                               # one symbol: nothing to send
    ([0.7, 0.3], 1.0),
    ([0.0, 0.5, 0.0, 0.5], 1.0),                # zeros take no part
])
def test_textbook_cases(p, expected):
    assert math.isclose(huffman.expected_length_bits(p), expected, rel_tol=1e-12)


def test_dyadic_lengths_are_minus_log2_p():
    p = [0.5, 0.25, 0.125, 0.125]
    assert huffman.code_lengths(p).tolist() == [1, 2, 3, 3]


def test_extreme_skew_gives_a_chain():
    """Fibonacci weights force the deepest possible tree: lengths 1, 2, ..., n-1, n-1."""
    fib = [1, 1]
    for _ in range(28):
        fib.append(fib[-1] + fib[-2])
    p = normalized(fib[::-1])
    lengths = sorted(huffman.code_lengths(p).tolist())
    assert lengths == sorted(list(range(1, 30)) + [29])


@pytest.mark.parametrize("bad, match", [
    ([0.5, -0.1, 0.6], "non-negative"), ([0.5, float("nan"), 0.5], "finite"),
    ([0.5, 0.4], "sum to 1"), ([], "non-empty"), ([[0.5, 0.5]], "1-D"), (["a", "b"], "numbers"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        huffman.expected_length_bits(bad)
    with pytest.raises(ValueError, match=match):
        huffman.code_lengths(bad)


def test_summary_reports_the_code_of_a_law():
    p = np.array([0.4, 0.2, 0.2, 0.1, 0.1])
    got = huffman.summary(p)
    entropy = -(p @ np.log2(p))
    assert got["symbols"] == 5 and got["max_code_length"] == 3 and got["kraft_sum"] == 1.0
    assert got["expected_length_bits"] == pytest.approx(2.2, abs=1e-15)
    assert got["entropy_bits"] == got["arithmetic_length_bits"] == pytest.approx(entropy, rel=1e-14)
    assert got["seconds"] >= 0 and got["compile_seconds"] >= 0
    drawn = huffman.summary(n_random=1000, seed=3)
    assert drawn["symbols"] == 1000
    assert drawn["entropy_bits"] <= drawn["expected_length_bits"] < drawn["entropy_bits"] + 1
    assert drawn == {**huffman.summary(n_random=1000, seed=3), "seconds": drawn["seconds"],
                     "compile_seconds": drawn["compile_seconds"]}  # seeded


@pytest.mark.parametrize("kwargs, match", [({}, "exactly one"), ({"p": [1.0], "n_random": 3}, "exactly one"),
                                           ({"n_random": 0}, r"n_random must be in \[1, 1e8\]"),
                                           ({"n_random": 10**8 + 1}, r"n_random must be in \[1, 1e8\]")])
def test_summary_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        huffman.summary(**kwargs)


def test_summary_times_are_bounded_by_the_wall_clock():
    """Both times are durations within the call (a sum of clock readings would exceed it)."""
    import time

    start = time.perf_counter()
    got = huffman.summary(np.full(64, 1 / 64))
    wall = time.perf_counter() - start
    assert 0 <= got["seconds"] <= wall and 0 <= got["compile_seconds"] <= wall


def test_summary_draws_one_symbol_at_the_lower_limit():
    assert huffman.summary(n_random=1)["expected_length_bits"] == 0.0


def test_summary_draws_with_seed_zero_by_default():
    assert huffman.summary(n_random=50)["expected_length_bits"] == huffman.summary(
        n_random=50, seed=0)["expected_length_bits"]


def test_kraft_sum_counts_only_coded_symbols():
    """Length 0 marks a symbol with p = 0 (no code word): it adds nothing, not 2^0."""
    assert huffman.kraft_sum([0, 1, 2, 2, 0]) == 1.0
    assert huffman.kraft_sum([1, 2, 3]) == 0.875  # an incomplete prefix code


def test_ideal_lengths_are_minus_log2_p():
    got = probability.ideal_lengths_bits([0.5, 0.25, 0.125, 0.125, 0.0])
    assert got.tolist() == [1.0, 2.0, 3.0, 3.0, float("inf")]
