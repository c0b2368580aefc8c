"""Slow, obviously-correct twins of the simulation kernels (used by tests and benchmarks)."""

import heapq
import itertools
from collections import defaultdict

import numpy as np


def heapq_code_lengths(p) -> np.ndarray:
    """Textbook Huffman with a heap of (weight, tiebreak, symbols); zeros get length 0."""
    lengths = np.zeros(len(p), dtype=np.int64)
    counter = itertools.count()
    heap = [(w, next(counter), [i]) for i, w in enumerate(p) if w > 0]
    heapq.heapify(heap)
    while len(heap) > 1:
        wa, _, a = heapq.heappop(heap)
        wb, _, b = heapq.heappop(heap)
        for i in a + b:
            lengths[i] += 1
        heapq.heappush(heap, (wa + wb, next(counter), a + b))
    return lengths


def heapq_expected_length(p) -> float:
    """Sum of the merged weights, with a plain heap."""
    heap = [w for w in p if w > 0]
    heapq.heapify(heap)
    total = 0.0
    while len(heap) > 1:
        s = heapq.heappop(heap) + heapq.heappop(heap)
        total += s
        heapq.heappush(heap, s)
    return total


def dict_tree(sequences, lengths, depth):
    """{prefix tuple: [mass, eos]} with responses truncated to depth - 1 tokens."""
    nodes = defaultdict(lambda: [0, 0])
    for row, n in zip(sequences, lengths, strict=True):
        t = min(int(n), depth - 1)
        prefix = tuple(int(x) for x in row[:t])
        for j in range(t + 1):
            nodes[prefix[:j]][0] += 1
        nodes[prefix][1] += 1
    return dict(nodes)
