"""A batch's rows as a prefix tree, so that a causal model computes each distinct prefix once.

Why: under causal attention the activations at position t are a function of tokens 0..t alone,
so rows that agree up to t agree there. The synthetic worlds' rows share most of their prefixes
(every row starts with BOS, a few prompts, then a few content tokens): a pre-training batch of
128 rows of 6 input tokens holds about 250 distinct prefixes, not 768, and the enumerated
responses a measurement scores share all but their last token. `shared_logits` runs the model on
the distinct prefixes (`llama_fn.forward_tree`) and hands every row's positions their prefix's
logits: the same numbers as `llama_fn.forward_logits` up to float rounding (the attention sums
in another order), and the same gradients, since a shared prefix's logits receive the sum of its
rows' gradients, as the rows' separate copies did.

Padding is a token like any other here (rows padded on the right share their padded prefixes);
the loss terms decide which positions count, as they do on the dense logits.
"""

from dataclasses import dataclass

import torch

from empirical.llama_fn import NODE_BLOCK, LlamaShape, check_first, forward_tree

__all__ = ["PrefixTree", "build", "shared_logits"]


@dataclass(frozen=True)
class PrefixTree:
    """The distinct prefixes of each member's rows, N nodes per member (N a multiple of
    `llama_fn.NODE_BLOCK`; a member's nodes after its ``distinct`` are padding no row uses).
    Node n of member e is the prefix that ends with token ``token[e, n]`` at position
    ``depth[e, n]``; ``path[e, n, j]`` is the node of its first j + 1 tokens for j <= depth
    (beyond: n itself, never attended); ``node_of[e, b, t]`` is the node of row b's first t + 1
    tokens."""

    token: torch.Tensor  # [E, N]
    depth: torch.Tensor  # [E, N]
    path: torch.Tensor  # [E, N, T]
    node_of: torch.Tensor  # [E, B, T]
    distinct: torch.Tensor  # [E]: each member's distinct prefixes (its nodes before the padding)

    @property
    def nodes(self) -> int:
        return self.token.shape[1]

    def flat(self, index: torch.Tensor) -> torch.Tensor:
        """Node indices [E, ...] of this tree as rows of a [E * N, ...] tensor, flattened."""
        members = index.shape[0]
        offsets = torch.arange(members, device=index.device).view(members, *[1] * (index.dim() - 1)) * self.nodes
        return (index + offsets).reshape(-1)


def build(ids: torch.Tensor) -> PrefixTree:
    """The prefix tree of each member's rows ``ids`` [E, B, T]. Nodes are numbered depth by
    depth, and within a depth in the lexicographic order of their prefixes: a member's tree
    depends on its own rows alone, not on the other members'."""
    members, rows, length = ids.shape
    order = torch.arange(rows, device=ids.device).repeat(members, 1)
    for d in reversed(range(length)):  # stable sorts, the last position first: lexicographic rows
        order = order.gather(1, ids[:, :, d].gather(1, order).argsort(dim=1, stable=True))
    rows_sorted = ids.gather(1, order[:, :, None].expand(members, rows, length))
    # in sorted rows, a row starts a new prefix at position d if it differs from the row above
    # at d or before (the first row starts one at every position)
    new = torch.ones(members, rows, length, dtype=torch.bool, device=ids.device)
    new[:, 1:] = (rows_sorted[:, 1:] != rows_sorted[:, :-1]).cummax(dim=2).values
    # number the new prefixes depth-major; a row's node is then the latest number at its depth
    numbered = new.transpose(1, 2).reshape(members, -1).cumsum(1) - 1
    node_sorted = numbered.view(members, length, rows).transpose(1, 2)  # [E, B, T]
    # padded to a multiple of NODE_BLOCK: `llama_fn.forward_tree` sums over nodes in such blocks
    distinct = new.sum((1, 2))
    nodes = -(-int(distinct.max()) // NODE_BLOCK) * NODE_BLOCK
    token = torch.zeros(members, nodes, dtype=ids.dtype, device=ids.device)
    token.scatter_(1, node_sorted.reshape(members, -1), rows_sorted.reshape(members, -1))
    depth = torch.zeros_like(token)
    positions = torch.arange(length, device=ids.device)
    depth.scatter_(1, node_sorted.reshape(members, -1), positions.expand(members, rows, length).reshape(members, -1))
    # the path of the node at (row, d): the row's nodes up to d, then the node itself
    upto = node_sorted[:, :, None, :].expand(members, rows, length, length)  # [E, B, d, j]
    path_rows = upto.gather(3, torch.minimum(positions[:, None], positions[None, :]).expand_as(upto))
    path = torch.zeros(members, nodes, length, dtype=torch.long, device=ids.device)
    path.scatter_(1, node_sorted.reshape(members, -1, 1).expand(-1, -1, length), path_rows.reshape(members, -1, length))
    node_of = torch.empty_like(node_sorted).scatter_(1, order[:, :, None].expand_as(node_sorted), node_sorted)
    return PrefixTree(token, depth, path, node_of, distinct)


def shared_logits(params: dict, input_ids: torch.Tensor, shape: LlamaShape, *, first: int = 0) -> torch.Tensor:
    """``llama_fn.forward_logits(params, input_ids, shape, first=first)`` for a member axis
    (``input_ids`` [E, B, T] -> [E, B, T - first, vocab]), computed once per distinct prefix."""
    if input_ids.dim() != 3:
        raise ValueError(f"shared_logits takes input_ids [E, B, T], got {tuple(input_ids.shape)}")
    check_first(first, input_ids.shape[-1])
    tree = build(input_ids)
    node_logits = forward_tree(params, tree, shape)  # [E, N, vocab]
    members, batch, length = input_ids.shape
    picked = node_logits.reshape(members * tree.nodes, -1).index_select(0, tree.flat(tree.node_of[:, :, first:]))
    return picked.view(members, batch, length - first, -1)
