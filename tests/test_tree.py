"""Token response trees: the dict-of-prefixes twin, pruning, mixtures, binary reduction."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from naive_sim import dict_tree
from sim import huffman, probability
from sim.tree import binary_reduction, build, load_sequences, mixture, prune


@st.composite
def datasets(draw, max_vocab=4):
    vocab = draw(st.integers(2, max_vocab))
    n = draw(st.integers(1, 60))
    width = draw(st.integers(0, 7))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    seq = rng.integers(0, vocab, (n, width))
    lens = rng.integers(0, width + 1, n)
    return seq, lens, vocab


def paths(tree):
    """{prefix tuple: (mass, eos)} read off the flat arrays by walking parents."""
    out = {}
    for node in range(tree.n_nodes):
        path, x = [], node
        while tree.parent[x] >= 0:
            path.append(int(tree.token[x]))
            x = tree.parent[x]
        out[tuple(reversed(path))] = (tree.mass[node], tree.eos[node])
    return out


@given(datasets(), st.integers(1, 9))
def test_agrees_with_dict_of_prefixes(data, depth):
    seq, lens, vocab = data
    tree = build(seq, lens, vocab, depth)
    naive = dict_tree(seq, lens, depth)
    assert paths(tree) == {k: (float(m), float(e)) for k, (m, e) in naive.items()}
    assert (tree.layer[1:] == tree.layer[tree.parent[1:]] + 1).all()


@given(datasets(), st.integers(1, 8))
def test_prune_equals_building_shallower_and_conserves_mass(data, depth):
    """Remark C.2: pruning keeps total EOS mass (exactly: integer counts) and gives the tree
    that building with the smaller depth gives."""
    seq, lens, vocab = data
    full = build(seq, lens, vocab, 9)
    pruned = prune(full, depth)
    assert pruned.eos.sum() == full.eos.sum() == len(seq)
    assert paths(pruned) == paths(build(seq, lens, vocab, depth))


@given(datasets(), st.integers(1, 8))
def test_pruning_never_increases_entropy(data, depth):
    """Pruning merges EOS masses into ancestors: a coarser law has no more entropy."""
    seq, lens, vocab = data
    full = build(seq, lens, vocab, 9)
    h_full = probability.entropy_bits(full.eos_probabilities() / full.eos_probabilities().sum())
    p = prune(full, depth).eos_probabilities()
    assert probability.entropy_bits(p / p.sum()) <= h_full + 1e-12


@given(datasets())
def test_mixture_of_one_tree_is_itself(data):
    seq, lens, vocab = data
    tree = build(seq, lens, vocab)
    mix = mixture([tree], [3.0])
    assert paths(mix) == {k: (m / tree.total, e / tree.total) for k, (m, e) in paths(tree).items()}


@given(datasets(max_vocab=2), datasets(max_vocab=2), st.floats(0.1, 100))
def test_mixture_is_size_weighted(a, b, k):
    """Definition C.9: node probabilities are the size-weighted average."""
    ta, tb = build(a[0], a[1], 2), build(b[0], b[1], 2)
    mix = mixture([ta, tb], [k, 1.0])
    pa, pb, pm = paths(ta), paths(tb), paths(mix)
    assert set(pm) == set(pa) | set(pb)
    for key, (m, e) in pm.items():
        ma, ea = pa.get(key, (0.0, 0.0))
        mb, eb = pb.get(key, (0.0, 0.0))
        assert math.isclose(e, (k * ea / ta.total + eb / tb.total) / (k + 1), rel_tol=1e-12, abs_tol=1e-15)
        assert math.isclose(m, (k * ma / ta.total + mb / tb.total) / (k + 1), rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(mix.eos.sum(), 1.0, rel_tol=1e-12)


@given(datasets(max_vocab=5))
def test_binary_reduction_preserves_huffman_length(data):
    """Theorem C.8's reduction maps responses one to one, so the unpruned EOS law and hence
    the expected Huffman length are the same in both alphabets."""
    seq, lens, vocab = data
    vary = build(seq, lens, vocab)
    bseq, blens = binary_reduction(seq, lens, vocab)
    binary = build(bseq, blens, 2)
    assert math.isclose(huffman.expected_length_bits(vary.eos_probabilities()),
                        huffman.expected_length_bits(binary.eos_probabilities()), rel_tol=1e-12)


def test_small_tree_by_hand():
    seq = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]])
    tree = build(seq, np.array([2, 3, 1, 0]), 2)
    assert tree.depth == 4 and tree.n_nodes == 5 and tree.total == 4
    assert paths(tree) == {(): (4, 1), (0,): (2, 0), (0, 1): (2, 1), (0, 1, 1): (1, 1), (1,): (1, 1)}
    assert sorted(tree.children(0).tolist()) == [1, 4]


@pytest.mark.parametrize("args, match", [
    ((np.zeros((0, 3), int), np.zeros(0, int), 2), "empty"),
    ((np.zeros(3, int), np.array([1, 1, 1]), 2), "2-D"),
    ((np.array([[0, 1], [1, 0]]), np.array([2]), 2), "one per row"),
    ((np.array([[0, 2]]), np.array([2]), 2), r"token ids must lie in \[0, 1\]"),
    ((np.array([[0, 1]]), np.array([3]), 2), "lengths must lie"),
    ((np.array([[0.5, 1.0]]), np.array([2]), 2), "integer token ids"),
    ((np.array([[0, 1]]), np.array([2]), 1), "vocab_size"),
    (([[0, 1], [1]], np.array([2, 1]), 2), "ragged"),
])
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        build(*args)


@pytest.mark.parametrize("depth", [0, 59, 2.5])
def test_depth_out_of_range(depth):
    with pytest.raises(ValueError, match="depth"):
        build(np.array([[0, 1]]), np.array([2]), 2, depth)


def test_mixture_bad_sizes():
    tree = build(np.array([[0, 1]]), np.array([2]), 2)
    with pytest.raises(ValueError, match="sizes"):
        mixture([tree, tree], [1.0])
    with pytest.raises(ValueError, match="sizes"):
        mixture([tree], [-1.0])


def test_load_sequences(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[0, 1], [1, 1]]))
    seq, lens = load_sequences(tmp_path / "a.npy")
    assert lens.tolist() == [2, 2]
    np.savez(tmp_path / "b.npz", sequences=np.array([[0, 1]]), lengths=np.array([1]))
    assert load_sequences(tmp_path / "b.npz")[1].tolist() == [1]
    np.savez(tmp_path / "c.npz", tokens=np.array([[0, 1]]))
    with pytest.raises(ValueError, match="'sequences' and 'lengths'"):
        load_sequences(tmp_path / "c.npz")
    np.save(tmp_path / "d.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a readable"):
        load_sequences(tmp_path / "d.npy")
    with pytest.raises(ValueError, match="no such file"):
        load_sequences(tmp_path / "missing.npy")
