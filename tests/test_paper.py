"""The paper's formulas as printed: spot values worked by hand, and the unit conversion."""

import math

import pytest

from theory import paper, pareto
from theory.elasticity import exact


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
