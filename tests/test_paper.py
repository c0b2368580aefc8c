"""The paper's formulas as printed: spot values worked by hand, and the unit conversion."""

import math

import pytest

from theory import paper, pareto
from theory.exact import exact


def test_printed_scale_is_negative():
    """Definition C.11 prints c = (1 - alpha)/alpha: -1/2 at alpha = 2."""
    assert paper.defC11_scale(2.0) == -0.5
    assert pareto.scale(2.0) == 0.5


def test_eq98_constant_by_hand():
    """alpha (alpha+1)(1 - log c) at alpha = 2, c = 1/2: 6 (1 + log 2)."""
    assert math.isclose(paper.eq98_ratio_limit(2.0), 6 * (1 + math.log(2)), rel_tol=1e-15)


def test_eq77_equals_eq85_and_matches_m1():
    """(77) and (85) print the same expression; it equals m1/Z, the k -> inf limit of S_1."""
    for alpha in (2.0, 3.5, 10.0):
        assert paper.eq77_S1_limit(alpha) == paper.eq85_H_limit(alpha)
        assert math.isclose(paper.eq77_S1_limit(alpha),
                            pareto.mean_x_log_x(alpha) / paper.normalizer(alpha), rel_tol=1e-12)


def test_paper_units_sign_and_scale():
    """S_j = -N_j/Z, H_p = -H/Z with Z = alpha^3 C^(3 alpha) (the density constants)."""
    p = exact(3.0, 100.0, 0.01)
    units = paper.to_paper_units(p)
    z = 27 * (2 / 3) ** 9
    assert math.isclose(units["S_1"], -p.N_1 / z, rel_tol=1e-15)
    assert math.isclose(units["dH_p_dl"], -p.dH_dl / z, rel_tol=1e-15)


def test_thm2_5_as_printed():
    """ceil(|x|/d) ceil(H): H = 1.5 bits for (1/2, 1/4, 1/4); |x| = 5, d = 2 gives 3 * 2."""
    assert paper.thm2_5_expected_length([0.5, 0.25, 0.25], 5, 2) == 6


@pytest.mark.parametrize("vocab, ratio", [(2, 1.0), (4, 0.5), (256, 0.125)])
def test_thmC8_as_printed(vocab, ratio):
    assert paper.thmC8_length_ratio(vocab) == ratio


def test_printed_derivatives_by_hand():
    """At alpha = 2 (C = 1/2, C^(3 alpha - 1) = 1/32) and k = 3:
    (81) (2 log(1/2) + 1) / (8 * 1/32) = 4 (1 - 2 log 2); (88) 1 / (3 * 4 * 4 * 1/32) = 2/3;
    (91) 1 / (3 * 4 * 1 * 3/32) = 8/9; (95) (2 log(1/2) - 1) / (16 * 1 * 4/32) = -(1 + 2 log 2)/2."""
    # a few float64 operations on each side: rounding only (1e-14 where a log enters a difference)
    assert math.isclose(paper.eq81_S2_limit(2.0), 4 * (1 - 2 * math.log(2)), rel_tol=1e-14)
    assert math.isclose(paper.eq88_dS1_dl(2.0, 3.0), 2 / 3, rel_tol=1e-15)
    assert math.isclose(paper.eq91_dS2_dl(2.0, 3.0), 8 / 9, rel_tol=1e-15)
    assert math.isclose(paper.eq95_dH_dl(2.0, 3.0), -(1 + 2 * math.log(2)) / 2, rel_tol=1e-15)


def test_printed_derivatives_by_hand_where_no_factor_is_1_or_2():
    """alpha = 2 hides alpha**2 = alpha*2 and (alpha - 1) = 1; at alpha = 4 (C = 3/4,
    C^11 = 177147/4194304) and k = 2 every factor counts: (88) 1 / (2*3 * 16 * 3 * C^11),
    (91) 1 / (2 * 16 * 9 * 5 * C^11), (95) (4 log(3/4) - 1) / (9 * 9 * 16 * C^11)."""
    c11 = 177147 / 4194304  # the same numbers in another order: rounding only
    assert math.isclose(paper.eq88_dS1_dl(4.0, 2.0), 1 / (288 * c11), rel_tol=1e-14)
    assert math.isclose(paper.eq91_dS2_dl(4.0, 2.0), 1 / (1440 * c11), rel_tol=1e-14)
    assert math.isclose(paper.eq95_dH_dl(4.0, 2.0), (4 * math.log(0.75) - 1) / (1296 * c11), rel_tol=1e-14)


def test_thm2_5_skips_zeros_and_reads_the_base():
    """(1/2, 1/2, 0): H = 1 bit (the zero takes no part), |x| = 4, d = 2 gives 2 * 1; in nats
    H = log 2 < 1 still rounds up to 1."""
    assert paper.thm2_5_expected_length([0.5, 0.5, 0.0], 4, 2) == 2
    assert paper.thm2_5_expected_length([0.5, 0.5], 4, 2, base=math.e) == 2
    assert paper.thm2_5_expected_length([0.25] * 4, 5, 2) == 6  # H = 2 bits exactly
