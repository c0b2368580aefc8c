"""Token response trees (Definition 2.3) as flat arrays; pruning (Remark C.2); the
size-weighted mixture of several datasets' trees (Definition C.9); the binary reduction
of V-ary tokens (Theorem C.8).

Depth follows the paper: the root is layer 1 and a tree of depth d has layers 1..d, so a
response of t tokens ends at layer t + 1 and a full binary tree of depth d has 2^(d-1)
leaves. ``build(..., depth=d)`` keeps the first d - 1 tokens of every response: a longer
response ends, as Remark C.2 prescribes, at the EOS node of its layer-d ancestor.

Every node has a 63-bit key, (token prefix left-aligned in 57 bits) << 6 | tokens, which
identifies it across trees of the same vocabulary; so ``bits_per_token * (depth - 1)``
must be at most 57 (binary trees up to depth 58; V = 256 up to depth 8).
"""

import math
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from sim import arrays

PREFIX_BITS = 57
LENGTH_BITS = 6  # tokens per node < 64


@dataclass(frozen=True)
class Tree:
    """A token response tree. Node 0 is the root; arrays are aligned by node.

    layer:  int8, the paper's layer (root = 1)
    parent: int32, parent node (-1 for the root); parents come before their children
    token:  int32, the token that leads to the node (-1 for the root)
    mass:   float64, mass of all responses through the node (integer counts when built)
    eos:    float64, mass of the responses that end at the node (its EOS child)
    key:    int64, the node's identity across trees (see module docstring); computed on
            first use, since building does not need it (25 instead of 33 bytes a node)
    """

    vocab_size: int
    depth: int
    layer: np.ndarray
    parent: np.ndarray
    token: np.ndarray
    mass: np.ndarray
    eos: np.ndarray
    _key: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> np.ndarray:
        if self._key is None:
            object.__setattr__(self, "_key", _node_keys(self.layer, self.parent, self.token,
                                                        bits_per_token(self.vocab_size)))
        return self._key

    @property
    def n_nodes(self) -> int:
        return int(self.layer.size)

    @property
    def total(self) -> float:
        return float(self.mass[0])

    def eos_probabilities(self) -> np.ndarray:
        """Probability of each node's EOS token: the letters of Definition 2.4."""
        return self.eos / self.total

    def children(self, node: int) -> np.ndarray:
        """The children of ``node`` (node indices)."""
        return np.flatnonzero(self.parent == node)


def bits_per_token(vocab_size: int) -> int:
    return max(1, math.ceil(math.log2(vocab_size)))


def _check_depth(depth, vocab_size: int, name: str = "depth") -> int:
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {depth!r}")
    limit = PREFIX_BITS // bits_per_token(vocab_size) + 1
    if not 1 <= depth <= limit:
        raise ValueError(f"{name} must be in [1, {limit}] for vocab_size {vocab_size} "
                         f"({bits_per_token(vocab_size)} bits per token, {PREFIX_BITS}-bit keys), "
                         f"got {depth}")
    return int(depth)


def _check_sequences(sequences, lengths, vocab_size):
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")
    try:
        seq = np.asarray(sequences)
    except ValueError as err:  # numpy refuses inhomogeneous nested lists
        raise ValueError("sequences is ragged: pad every response to one width and pass "
                         "the true lengths in `lengths`") from err
    if seq.ndim != 2:
        raise ValueError(f"sequences must be a 2-D (n, max_length) array padded on the right, "
                         f"got shape {seq.shape} (ragged input is not supported: pad it)")
    if seq.shape[0] == 0:
        raise ValueError("sequences is empty: a tree needs at least one response")
    if not np.issubdtype(seq.dtype, np.integer):
        raise ValueError(f"sequences must hold integer token ids, got dtype {seq.dtype}")
    lens = np.asarray(lengths)
    if lens.shape != (seq.shape[0],) or not np.issubdtype(lens.dtype, np.integer):
        raise ValueError(f"lengths must be {seq.shape[0]} integers (one per row), got "
                         f"shape {lens.shape} dtype {lens.dtype}")
    if (lens < 0).any() or (lens > seq.shape[1]).any():
        raise ValueError(f"lengths must lie in [0, {seq.shape[1]}] (the padded width)")
    return seq, lens


def build(sequences, lengths, vocab_size: int, depth: int | None = None) -> Tree:
    """The tree of a dataset of token sequences (one response per row, padded on the right).

    ``depth`` (layers, root = 1) defaults to the longest response + 1, i.e. no pruning.
    Masses are the integer counts of responses.
    """
    seq, lens = _check_sequences(sequences, lengths, vocab_size)
    depth = _check_depth(int(lens.max()) + 1 if depth is None else depth, vocab_size)
    b = bits_per_token(vocab_size)
    tokens = min(depth - 1, seq.shape[1])
    keys, low, high = _encode(seq, lens, tokens, b)
    if low < 0 or high >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size - 1}], found [{low}, {high}]")
    keys.sort()
    return Tree(vocab_size, depth, *_build_sorted(keys, depth - 1, b))


@nb.njit(cache=True)
def _encode(seq, lens, tokens, b):
    """Sort keys (prefix code of the first ``tokens`` tokens, left-aligned in 57 bits) << 6
    | kept length, and the range of every token id within the responses (for validation)."""
    n = seq.shape[0]
    keys = np.empty(n, np.int64)
    low, high = np.int64(0), np.int64(0)
    for s in range(n):
        c = np.int64(0)
        for i in range(lens[s]):
            tok = np.int64(seq[s, i])
            if s == 0 and i == 0:
                low, high = tok, tok
            low, high = min(low, tok), max(high, tok)
            if i < tokens:
                c |= tok << (57 - b * (i + 1))
        keys[s] = (c << 6) | min(np.int64(lens[s]), np.int64(tokens))
    return keys, low, high


@nb.njit(cache=True)
def _grow(a, size, fill):
    out = np.full(size, fill, a.dtype)
    out[: a.size] = a
    return out


@nb.njit(cache=True)
def _build_sorted(keys, max_tokens, b):
    """One pass over responses sorted by (prefix code, length).

    In that order a response shares with the tree built so far exactly the common prefix
    it has with the previous response (capped by both lengths), so only deeper nodes are
    new. Nodes come out in depth-first preorder (parents before children), which lets the
    masses be summed bottom-up at the end: mass = own EOS + children's masses.
    """
    n = keys.size
    cap = min(n * (max_tokens + 1) + 1, 2 * n + 1024)
    layer = np.empty(cap, np.int8)
    parent = np.empty(cap, np.int32)
    token = np.empty(cap, np.int32)
    eos = np.zeros(cap)
    path = np.zeros(max_tokens + 1, np.int32)  # node at each level of the current path
    layer[0], parent[0], token[0] = 1, -1, -1
    count = 1
    prev_code, prev_t = np.int64(0), 0
    token_mask = (1 << b) - 1
    for s in range(n):
        t = keys[s] & 63
        code = keys[s] >> 6
        diff = code ^ prev_code
        if diff == 0:
            common = max_tokens
        else:
            top = int(np.log2(float(diff)))  # highest differing bit, corrected for rounding
            if (np.int64(1) << top) > diff:
                top -= 1
            common = (56 - top) // b
        common = min(common, t, prev_t) if s > 0 else 0
        if count + t - common > layer.size:
            size = max(layer.size + layer.size // 2, count + t + 1)
            layer = _grow(layer, size, 0)
            parent = _grow(parent, size, 0)
            token = _grow(token, size, 0)
            eos = _grow(eos, size, 0.0)
        for j in range(common + 1, t + 1):
            shift = 57 - b * j
            prefix = code >> shift
            layer[count] = j + 1
            parent[count] = path[j - 1]
            token[count] = prefix & token_mask
            path[j] = count
            count += 1
        eos[path[t]] += 1.0
        prev_code, prev_t = code, t
    mass = eos[:count].copy()
    for node in range(count - 1, 0, -1):
        mass[parent[node]] += mass[node]
    return layer[:count], parent[:count], token[:count], mass, eos[:count]


@nb.njit(cache=True)
def _node_keys(layer, parent, token, b):
    """Node keys from the structure (parents precede children in every tree we make)."""
    n = layer.size
    code = np.zeros(n, np.int64)
    keys = np.zeros(n, np.int64)
    for node in range(1, n):
        j = np.int64(layer[node]) - 1
        code[node] = code[parent[node]] | (np.int64(token[node]) << (57 - b * j))
        keys[node] = (code[node] << 6) | j
    return keys


def from_leaf_distribution(responses, probabilities, vocab_size: int) -> Tree:
    """The tree of a known law over distinct full-length responses (one per row, all of the
    same length, in any order): EOS masses are the probabilities (which must sum to 1)."""
    responses = np.asarray(responses)
    p = np.asarray(probabilities, dtype=np.float64)
    if responses.ndim != 2 or p.shape != (responses.shape[0],):
        raise ValueError("responses must be (M, L) and probabilities (M,)")
    if (p < 0).any() or not np.isclose(p.sum(), 1.0, rtol=0, atol=1e-9):
        raise ValueError("probabilities must be non-negative and sum to 1")
    lengths = np.full(responses.shape[0], responses.shape[1])
    shape = build(responses, lengths, vocab_size)
    leaves = np.flatnonzero(shape.eos > 0)
    if leaves.size != responses.shape[0]:
        raise ValueError("responses must be distinct")
    order = np.lexsort(responses.T[::-1])  # leaves come out in lexicographic order
    eos = np.zeros(shape.n_nodes)
    eos[leaves] = p[order]
    mass = eos.copy()
    for node in range(shape.n_nodes - 1, 0, -1):  # parents precede children
        mass[shape.parent[node]] += mass[node]
    return Tree(vocab_size, shape.depth, shape.layer, shape.parent, shape.token, mass, eos)


def prune(tree: Tree, depth: int) -> Tree:
    """Keep layers 1..depth; each removed node's mass moves to its parent's EOS (Remark C.2)."""
    depth = _check_depth(depth, tree.vocab_size)
    if depth >= tree.depth:
        return tree
    keep = tree.layer <= depth
    boundary = tree.layer == depth + 1
    eos = tree.eos.copy()
    np.add.at(eos, tree.parent[boundary], tree.mass[boundary])
    new_index = np.cumsum(keep) - 1
    parent = np.where(tree.parent[keep] >= 0, new_index[np.maximum(tree.parent[keep], 0)], -1)
    key = None if tree._key is None else tree._key[keep]
    return Tree(tree.vocab_size, depth, tree.layer[keep], parent.astype(np.int32),
                tree.token[keep], tree.mass[keep], eos[keep], key)


def mixture(trees, sizes) -> Tree:
    """The tree of the union of datasets (Definition C.9): node probabilities are the
    size-weighted average of each tree's (normalized) node probabilities. Total mass 1."""
    trees = list(trees)
    if not trees:
        raise ValueError("mixture needs at least one tree")
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.shape != (len(trees),) or not np.isfinite(sizes).all() or (sizes < 0).any() \
            or sizes.sum() <= 0:
        raise ValueError(f"sizes must be {len(trees)} finite non-negative numbers with a "
                         f"positive sum, got {sizes.tolist()}")
    vocab = {t.vocab_size for t in trees}
    if len(vocab) != 1:
        raise ValueError(f"all trees must share one vocabulary, got vocab sizes {sorted(vocab)}")
    weights = sizes / sizes.sum()
    keys = np.concatenate([t.key for t in trees])
    union, inverse = np.unique(keys, return_inverse=True)
    mass = np.zeros(union.size)
    eos = np.zeros(union.size)
    offset = 0
    for w, t in zip(weights, trees, strict=True):
        idx = inverse[offset:offset + t.n_nodes]
        mass[idx] += w * t.mass / t.total
        eos[idx] += w * t.eos / t.total
        offset += t.n_nodes
    return _from_keys(trees[0].vocab_size, max(t.depth for t in trees), union, mass, eos)


def _from_keys(vocab_size, depth, keys, mass, eos) -> Tree:
    """Rebuild layer, parent and token from sorted node keys."""
    b = bits_per_token(vocab_size)
    tokens = (keys & ((1 << LENGTH_BITS) - 1)).astype(np.int64)
    code = keys >> LENGTH_BITS
    shift = PREFIX_BITS - b * tokens
    token = np.where(tokens > 0, (code >> np.minimum(shift, 62)) & ((1 << b) - 1), -1)
    parent_tokens = np.maximum(tokens - 1, 0)
    parent_shift = PREFIX_BITS - b * parent_tokens
    parent_code = (code >> parent_shift) << parent_shift
    parent_key = (parent_code << LENGTH_BITS) | parent_tokens
    parent = np.where(tokens > 0, np.searchsorted(keys, parent_key), -1)
    return Tree(vocab_size, depth, (tokens + 1).astype(np.int8), parent.astype(np.int32),
                token.astype(np.int32), mass, eos, keys)


def binary_reduction(sequences, lengths, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Write every V-ary token as ceil(log2 V) bits, most significant first (Theorem C.8).
    Returns (binary sequences, lengths); responses map one to one."""
    seq, lens = _check_sequences(sequences, lengths, vocab_size)
    b = bits_per_token(vocab_size)
    bits = (seq[:, :, None] >> np.arange(b - 1, -1, -1)) & 1
    return bits.reshape(seq.shape[0], -1).astype(np.int8), lens * b


def load_sequences(path) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences from ``.npy`` (a padded 2-D array; every row full length) or ``.npz``
    (arrays ``sequences`` and ``lengths``). Never unpickles."""
    data = arrays.load(path, "token file")
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValueError(f"{path}: a .npy file must hold a 2-D array, got shape {data.shape}")
        return data, np.full(data.shape[0], data.shape[1], dtype=np.int64)
    missing = {"sequences", "lengths"} - set(data)
    if missing:
        raise ValueError(f"{path}: a .npz file needs arrays 'sequences' and 'lengths' "
                         f"(missing {sorted(missing)}; found {sorted(data)})")
    return data["sequences"], data["lengths"]
