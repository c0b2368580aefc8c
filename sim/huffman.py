"""Huffman codes over a probability vector (Definition 2.4).

Huffman codes are not unique under ties, so everything here is about code *lengths*: the
expected length is the sum of the internal node weights of the merge tree, and after one
sort the merge is the linear two-queue algorithm (leaves in sorted order, merged nodes in
the order they are made, which is also sorted).

Conventions: symbols with p = 0 get no code word (length 0) and take no part in the merge;
a single symbol with p = 1 needs no bits (length 0, expected length 0), so H <= L < H + 1
holds in every case.
"""

import time

import numba as nb
import numpy as np

from sim import arrays
from sim.limits import MAX_RANDOM_SYMBOLS
from sim.probability import as_vector, check_probabilities, check_sorted, entropy_bits


def expected_length_bits(p) -> float:
    """Expected Huffman code length of the distribution ``p``, in bits.

    One sort is the only copy: the checks read the sorted array's ends and sum it once, and the
    zeros are skipped as a prefix of it (the cost sits at the sorting limit; bench_sim.py)."""
    leaves = np.sort(as_vector(p))
    return float(_merge_cost(leaves[check_sorted(leaves):]))


def code_lengths(p) -> np.ndarray:
    """Huffman code length of every symbol (int64, aligned with ``p``; 0 where p = 0)."""
    p = check_probabilities(p)
    positive = np.flatnonzero(p > 0)
    order = positive[np.argsort(p[positive], kind="stable")]
    lengths = np.zeros(p.size, dtype=np.int64)
    lengths[order] = _sorted_code_lengths(p[order])
    return lengths


def kraft_sum(lengths) -> float:
    """sum 2^-length over the coded symbols (length > 0); 1 for a complete prefix code."""
    lengths = np.asarray(lengths)
    coded = lengths[lengths > 0]
    return float(np.ldexp(1.0, -coded).sum())


def load_probabilities(path) -> np.ndarray:
    """A probability vector from a .npy file (checked: 1-D, real, finite, sums to 1)."""
    return arrays.load_vector(path, "probability vector", check_probabilities)


def summary(p=None, n_random: int | None = None, seed: int = 0) -> dict:
    """Expected length, entropy, Kraft sum and the longest code word of ``p`` (or of
    ``n_random`` probabilities from a flat Dirichlet); ``seconds`` times the coding alone,
    after a first call that compiles the kernels (``compile_seconds``)."""
    if (p is None) == (n_random is None):
        raise ValueError("give exactly one of p and n_random")
    if p is None:
        if not 1 <= n_random <= MAX_RANDOM_SYMBOLS:
            limit = f"{MAX_RANDOM_SYMBOLS:.0e}".replace("e+0", "e")
            raise ValueError(f"n_random must be in [1, {limit}] (memory), got {n_random}")
        p = np.random.default_rng(seed).dirichlet(np.ones(n_random))
    p = check_probabilities(p)
    start = time.perf_counter()
    code_lengths(np.array([0.5, 0.25, 0.25]))  # compiles (or loads) the kernels
    compiled = time.perf_counter()
    lengths = code_lengths(p)
    length = expected_length_bits(p)
    done = time.perf_counter()
    entropy = entropy_bits(p)
    return {"symbols": int(p.size), "expected_length_bits": length, "entropy_bits": entropy,
            "arithmetic_length_bits": entropy, "kraft_sum": kraft_sum(lengths),
            "max_code_length": int(lengths.max()), "seconds": done - compiled,
            "compile_seconds": compiled - start}


@nb.njit(cache=True)
def _take(leaves, i, merged, head, tail):
    """Index and weight of the lighter front item (ties go to the leaf)."""
    if i < leaves.size and (head >= tail or leaves[i] <= merged[head]):
        return leaves[i], i + 1, head, i
    return merged[head], i, head + 1, leaves.size + head


@nb.njit(cache=True)
def _merge_cost(leaves):
    n = leaves.size
    if n < 2:
        return 0.0
    merged = np.empty(n - 1)
    i = head = tail = 0
    total = 0.0
    for _ in range(n - 1):
        a, i, head, _a = _take(leaves, i, merged, head, tail)
        b, i, head, _b = _take(leaves, i, merged, head, tail)
        merged[tail] = a + b
        tail += 1
        total += a + b
    return total


@nb.njit(cache=True)
def _sorted_code_lengths(leaves):
    """Code lengths of ascending weights: nodes 0..n-1 are leaves, n.. the merged nodes."""
    n = leaves.size
    lengths = np.zeros(n, dtype=np.int64)
    if n < 2:
        return lengths
    merged = np.empty(n - 1)
    parent = np.empty(2 * n - 1, dtype=np.int64)
    i = head = tail = 0
    for _ in range(n - 1):
        a, i, head, node_a = _take(leaves, i, merged, head, tail)
        b, i, head, node_b = _take(leaves, i, merged, head, tail)
        merged[tail] = a + b
        parent[node_a] = n + tail
        parent[node_b] = n + tail
        tail += 1
    depth = np.zeros(2 * n - 1, dtype=np.int64)  # the root is node 2n - 2, depth 0
    for node in range(2 * n - 3, -1, -1):
        depth[node] = depth[parent[node]] + 1
    lengths[:] = depth[:n]
    return lengths
