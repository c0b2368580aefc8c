"""Compression rates on finite trees: per-dataset cross-entropy under a mixture
(Definition C.10), the normalized rate in both forms (ratio, Definition C.16; difference,
the later version), and the Huffman length of the mixture (Definition 2.4). Bits.
"""

import math

import numpy as np

from sim import huffman, probability
from sim.tree import Tree, build, load_sequences, mixture


def aligned_eos(tree: Tree, reference: Tree) -> np.ndarray:
    """EOS probabilities of ``tree`` on the nodes of ``reference`` (0 where it has none).
    ``reference`` must contain every node of ``tree`` (a mixture that includes it does)."""
    where = np.searchsorted(reference.key, tree.key)
    # a key past the last reference key lands on n_nodes: clamped, it meets a different key
    if (reference.key[np.minimum(where, reference.n_nodes - 1)] != tree.key).any():
        raise ValueError("reference tree lacks nodes of tree: use the mixture that includes it")
    out = np.zeros(reference.n_nodes)
    out[where] = tree.eos / tree.total
    return out


def log2_leaves(tree: Tree) -> float:
    """log2 M, M = V^(d-1): the rate of the uniform law on a full tree of this depth."""
    return (tree.depth - 1) * math.log2(tree.vocab_size)


def rates(trees, sizes) -> dict:
    """Per-dataset cross-entropy (bits) under the size-weighted mixture and normalized rates."""
    trees = list(trees)
    mix = mixture(trees, sizes)
    p_mix = mix.eos / mix.total
    positive = p_mix > 0
    log_mix = np.zeros_like(p_mix)
    log_mix[positive] = np.log2(p_mix[positive])
    entropy = float(-(p_mix @ log_mix))
    log_m = log2_leaves(mix)
    ce = [float(-(aligned_eos(t, mix) @ log_mix)) for t in trees]
    return {
        "nodes": mix.n_nodes,
        "depth": mix.depth,
        "log2_M_bits": log_m,
        "mixture_entropy_bits": entropy,
        "mixture_huffman_bits": huffman.expected_length_bits(p_mix / p_mix.sum()),
        "cross_entropy_bits": ce,
        "gamma_ratio": [(c - log_m) / (entropy - log_m) for c in ce] if entropy != log_m else None,
        "gamma_difference_bits": [c - log_m for c in ce],
    }


def describe_files(files, vocab_size: int, depth: int | None = None, sizes=None) -> dict:
    """The trees of token files (``sim.tree.load_sequences``): per file its size, entropy and
    Huffman length; with several files, the rates of their size-weighted mixture."""
    trees = [build(*load_sequences(f), vocab_size, depth) for f in files]
    if sizes is not None and len(sizes) != len(trees):
        raise ValueError(f"--sizes needs {len(trees)} values (one per file), got {len(sizes)}")
    out = {"trees": []}
    for f, t in zip(files, trees, strict=True):
        p = t.eos_probabilities()
        p = p / p.sum()  # exact up to rounding: EOS mass is conserved
        out["trees"].append({
            "file": str(f), "responses": t.total, "nodes": t.n_nodes, "depth": t.depth,
            "eos_nodes": int((t.eos > 0).sum()),
            "entropy_bits": probability.entropy_bits(p),
            "huffman_bits": huffman.expected_length_bits(p),
        })
    if len(trees) > 1:
        out["mixture"] = rates(trees, list(sizes) if sizes is not None else [t.total for t in trees])
    return out
