"""Rates on finite trees (sim/rates.py) against a direct computation on the leaf laws: the
mixture's entropy, each dataset's cross-entropy under it, both normalized rates, log2 M."""

import math

import numpy as np
import pytest

from sim import rates, tree


def _trees():
    """Two binary datasets of 3-token responses (full length: every response is a leaf)."""
    a = np.array([[0, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]])
    b = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 0]])
    return [tree.build(x, np.full(len(x), 3), 2) for x in (a, b)], (a, b)


def _law(rows):
    keys, counts = np.unique([tuple(r) for r in rows], axis=0, return_counts=True)
    return {tuple(k): c / counts.sum() for k, c in zip(keys, counts, strict=True)}


def test_rates_are_the_direct_cross_entropies_under_the_mixture():
    trees, (a, b) = _trees()
    sizes = [3.0, 1.0]
    la, lb = _law(a), _law(b)
    support = set(la) | set(lb)
    mix = {r: (sizes[0] * la.get(r, 0) + sizes[1] * lb.get(r, 0)) / sum(sizes) for r in support}
    got = rates.rates(trees, sizes)
    entropy = -sum(p * math.log2(p) for p in mix.values())
    ce = [-sum(p * math.log2(mix[r]) for r, p in law.items()) for law in (la, lb)]
    log_m = 3.0  # M = 2^3 leaves of the depth-4 binary tree
    assert got["mixture_entropy_bits"] == pytest.approx(entropy, rel=1e-12)
    assert got["cross_entropy_bits"] == pytest.approx(ce, rel=1e-12)
    assert got["log2_M_bits"] == log_m and got["depth"] == 4
    assert got["gamma_difference_bits"] == pytest.approx([c - log_m for c in ce], rel=1e-12)
    assert got["gamma_ratio"] == pytest.approx([(c - log_m) / (entropy - log_m) for c in ce], rel=1e-12)
    assert entropy <= got["mixture_huffman_bits"] < entropy + 1


def test_aligned_eos_places_a_trees_mass_on_the_mixtures_nodes():
    trees, _ = _trees()
    mix = tree.mixture(trees, [1.0, 1.0])
    on_mix = rates.aligned_eos(trees[0], mix)
    assert on_mix.sum() == pytest.approx(1.0, rel=1e-15) and on_mix.size == mix.n_nodes
    with pytest.raises(ValueError, match="reference tree lacks nodes"):
        rates.aligned_eos(mix, trees[0])


@pytest.mark.parametrize("extra", [[0, 1, 1], [1, 1, 1]])
def test_aligned_eos_refuses_a_node_missing_inside_or_past_the_reference(extra):
    """[0, 1, 1]'s nodes sort among the reference's keys; [1, 1, 1]'s last node sorts past
    them all: both are missing from the reference and both are refused."""
    base = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0]])
    reference = tree.build(base, np.full(3, 3), 2)
    other = tree.build(np.vstack([base, extra]), np.full(4, 3), 2)
    assert (np.searchsorted(reference.key, other.key) >= reference.n_nodes).any() == (extra == [1, 1, 1])
    with pytest.raises(ValueError, match="reference tree lacks nodes"):
        rates.aligned_eos(other, reference)


def test_log2_leaves_is_depth_minus_one_times_log2_vocab():
    t = tree.build(np.array([[0, 2, 1, 1]]), np.array([4]), 3)
    assert t.depth == 5 and rates.log2_leaves(t) == pytest.approx(4 * math.log2(3), rel=1e-15)  # one product


def test_describe_files_reports_each_tree_and_the_mixture(tmp_path):
    _, (a, b) = _trees()
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    got = rates.describe_files([tmp_path / "a.npy", tmp_path / "b.npy"], 2, None, [3.0, 1.0])
    assert [t["responses"] for t in got["trees"]] == [4, 3]
    assert [t["eos_nodes"] for t in got["trees"]] == [3, 2]  # distinct responses per file
    assert got["trees"][0]["entropy_bits"] == pytest.approx(1.5, rel=1e-12)  # (1/2, 1/4, 1/4)
    assert got["mixture"] == rates.rates([tree.build(x, np.full(len(x), 3), 2) for x in (a, b)], [3.0, 1.0])
    assert "mixture" not in rates.describe_files([tmp_path / "a.npy"], 2)
    with pytest.raises(ValueError, match="--sizes needs 2 values"):
        rates.describe_files([tmp_path / "a.npy", tmp_path / "b.npy"], 2, None, [1.0])
