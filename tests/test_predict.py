"""Predictions for the rebound grid: the sim-tree optimal compressor against a direct
computation on the leaf laws, and the observed-rate bookkeeping."""

import math

import numpy as np
import pytest

from empirical import predict
from empirical.world import World, WorldConfig
from sim.tree import from_leaf_distribution

WORLD = World(WorldConfig(seed=2, n_pre=5000, n_held_out=10))


@pytest.mark.parametrize("q1, q2", [(1000, 0), (1000, 200), (300, 2000)])
def test_optimal_matches_direct_cross_entropy(q1, q2):
    """CE_j = -sum p_j log q_mix over the M leaves, per token (L + 1 tokens, EOS free)."""
    cfg = WORLD.config
    laws = [WORLD.response_distribution(cfg.pre_positive_fraction), WORLD.p_pos, WORLD.p_neg]
    sizes = np.array([cfg.n_pre, q1, q2], float)
    mix = sizes @ np.array(laws) / sizes.sum()
    got = predict.optimal(WORLD, q1, q2)["code_length_nats"]
    for name, law in zip(("pre", "first", "second"), laws, strict=False):
        if name not in got:
            continue
        support = law > 0
        direct = -(law[support] @ np.log(mix[support])) / (cfg.response_length + 1)
        assert math.isclose(got[name], direct, rel_tol=1e-12)


def test_more_negatives_hurt_the_aligned_set_more_than_pre_training():
    """The compression view of elasticity, exactly: adding Q2 negatives raises the optimal
    code length of D_align far more than that of D_pre."""
    a, b = predict.optimal(WORLD, 1000, 100), predict.optimal(WORLD, 1000, 1000)
    d_align = b["code_length_nats"]["first"] - a["code_length_nats"]["first"]
    d_pre = b["code_length_nats"]["pre"] - a["code_length_nats"]["pre"]
    assert d_align > 0 and d_align > 10 * abs(d_pre)


def test_observed_rates_difference_form():
    lengths = {"pre": 1.2, "align": 1.1, "perturb": 1.3}
    r = predict.observed_rates(lengths, WORLD, 1000, 100, "align", "perturb")
    log_m = WORLD.config.response_length * math.log(WORLD.config.content_vocab)
    assert math.isclose(r["gamma_difference_nats"][0], 1.2 * 6 - log_m)


def test_from_leaf_distribution_keeps_the_law():
    tree = from_leaf_distribution(WORLD.response_tokens(), WORLD.p_pos, WORLD.config.vocab_size)
    assert math.isclose(tree.total, 1.0) and math.isclose(tree.eos.sum(), 1.0)
    assert np.allclose(np.sort(tree.eos[tree.eos > 0]), np.sort(WORLD.p_pos[WORLD.p_pos > 0]))
    with pytest.raises(ValueError, match="sum to 1"):
        from_leaf_distribution(WORLD.response_tokens(), WORLD.p_pos * 2, WORLD.config.vocab_size)
