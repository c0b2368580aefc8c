"""The mass-model fit recovers the law that generated the data."""

import numpy as np
import pytest
from scipy import stats

from sim.fit import fit_masses


def test_recovers_pareto_alpha():
    x = 1.0 + np.random.default_rng(0).pareto(3.0, 20_000)
    r = fit_masses(x)
    lo, hi = r["pareto"]["alpha_ci95"]
    assert lo <= 3.0 <= hi
    assert r["best_by_ks"] == "pareto" and r["vuong_pareto_vs_lognormal"]["favours"] == "pareto"


def test_prefers_lognormal_for_lognormal_data():
    r = fit_masses(np.random.default_rng(1).lognormal(0.0, 1.0, 20_000))
    assert r["best_by_ks"] == "lognormal" and r["vuong_pareto_vs_lognormal"]["favours"] == "lognormal"
    assert "zipf" not in r  # not integer counts


def test_prefers_zipf_for_integer_power_law():
    counts = stats.zipf.rvs(2.2, size=20_000, random_state=2).astype(float)
    r = fit_masses(counts)
    assert r["best_by_ks"] == "zipf" and abs(r["zipf"]["s"] - 2.2) < 0.05


@pytest.mark.parametrize("bad", [[], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 2.0, np.inf]])
def test_bad_input(bad):
    with pytest.raises(ValueError):
        fit_masses(bad)


def test_the_cli_text_says_which_law_the_vuong_test_favours():
    from elasticity import render

    base = {"n": 100, "pareto": {"alpha": 3.0, "alpha_ci95": [2.5, 3.5]}, "ks": {"pareto": 0.05},
            "best_by_ks": "pareto"}
    for z, p, favours, words in ((2.5, 0.012, "pareto", "favours Pareto, significant at 5%"),
                                 (-0.4, 0.69, "lognormal", "favours log-normal, not significant at 5%")):
        text = render.fit({**base, "vuong_pareto_vs_lognormal": {"z": z, "p_value": p, "favours": favours}})
        assert words in text and "(> 0 favours Pareto)" in text
