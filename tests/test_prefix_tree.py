"""empirical.prefix_tree: a batch's distinct prefixes, and the model run once on each."""

import pytest
import torch
from hf_wide import widen_hf
from hypothesis import given, settings
from hypothesis import strategies as st
from test_llama_fn import CASES, LENGTH, RTOL32, RTOL64, _models, assert_members_equal_hf

from empirical import llama_fn as L
from empirical import prefix_tree as P


@st.composite
def _rows(draw):
    """ids [E, B, T] over a small alphabet, so that rows share prefixes and repeat whole."""
    members, rows, length = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
    alphabet = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    return torch.randint(0, alphabet, (members, rows, length), generator=torch.Generator().manual_seed(seed))


def _prefixes(ids_member: torch.Tensor) -> set:
    return {tuple(row[:t + 1].tolist()) for row in ids_member for t in range(ids_member.shape[1])}


@settings(max_examples=200, deadline=None)
@given(_rows())
def test_the_tree_holds_each_distinct_prefix_once(ids):
    """Every node a distinct prefix of its member's rows, every prefix one node: node_of agrees
    exactly where the rows agree up to t; each node's token, depth and path are its prefix's."""
    tree = P.build(ids)
    members, rows, length = ids.shape
    assert tree.distinct.tolist() == [len(_prefixes(ids[e])) for e in range(members)]
    assert tree.nodes % L.NODE_BLOCK == 0 and 0 <= tree.nodes - int(tree.distinct.max()) < L.NODE_BLOCK
    for e in range(members):
        prefix_of = {}
        for b in range(rows):
            for t in range(length):
                n = int(tree.node_of[e, b, t])
                prefix = tuple(ids[e, b, :t + 1].tolist())
                assert prefix_of.setdefault(n, prefix) == prefix  # one node, one prefix
                assert int(tree.token[e, n]) == prefix[-1] and int(tree.depth[e, n]) == t
                assert tree.path[e, n, :t + 1].tolist() == tree.node_of[e, b, :t + 1].tolist()
                assert (tree.path[e, n, t + 1:] == n).all()  # beyond its depth: itself (never attended)
        assert len(set(prefix_of.values())) == len(prefix_of) == len(_prefixes(ids[e]))  # and each prefix once


@settings(max_examples=50, deadline=None)
@given(_rows())
def test_a_members_tree_depends_on_its_own_rows_alone(ids):
    """Members are grouped freely (`empirical.ensemble`), so member e's nodes must be numbered the
    same alone or among others; the others only add padding nodes after its own."""
    tree = P.build(ids)
    for e in range(ids.shape[0]):
        alone = P.build(ids[e:e + 1])
        own = alone.nodes
        assert torch.equal(alone.node_of[0], tree.node_of[e])
        assert torch.equal(alone.token[0], tree.token[e, :own]) and torch.equal(alone.depth[0], tree.depth[e, :own])
        assert torch.equal(alone.path[0], tree.path[e, :own])


def _shared_rows(vocab: int, pad: int | None) -> torch.Tensor:
    """[2, 6, LENGTH] rows with shared prefixes, a repeated row and (where the model has a padding
    token) right padding, as the synthetic worlds' batches have."""
    g = torch.Generator().manual_seed(8)
    ids = torch.randint(1, vocab, (2, 6, LENGTH), generator=g)
    ids[:, :, :2] = ids[:, :1, :2]  # every row shares its first two tokens
    ids[:, 1, :4] = ids[:, 2, :4]
    ids[:, 3] = ids[:, 4]  # a whole row twice
    if pad is not None:
        ids[:, 5, 5:] = pad
    return ids


@pytest.mark.parametrize(("kind", "dtype"), CASES)
@pytest.mark.parametrize("first", [0, 2])
def test_shared_logits_equal_hf_on_every_row(kind, dtype, first, request):
    """The logits a row's positions receive from their prefixes' nodes, and the gradients of a
    loss on them, equal HF's on the full rows: a shared prefix's gradient is the sum of its rows'.
    Tolerances those of `test_llama_fn` (float32: the attention sums in another order)."""
    if dtype == torch.float64:
        widen_hf(request.getfixturevalue("monkeypatch"))
    tol = RTOL32 if dtype == torch.float32 else RTOL64
    models = _models(kind, [0, 1], dtype)
    shape = L.LlamaShape.from_hf_config(models[0].config)
    ids = _shared_rows(shape.vocab, shape.padding_idx)
    assert int(P.build(ids).distinct.max()) < ids.shape[1] * ids.shape[2]  # the rows do share
    weights = torch.randn(*ids.shape[:2], LENGTH - first, shape.vocab, generator=torch.Generator().manual_seed(9),
                          dtype=dtype)
    assert_members_equal_hf(models, ids, weights, first, tol,
                            lambda params: P.shared_logits(params, ids, shape, first=first))


def test_shared_logits_refuse_what_they_cannot_compute():
    (model,) = _models("tiny", [0], torch.float32)
    shape = L.LlamaShape.from_hf_config(model.config)
    params = L.stack_params([L.params_from_hf(model)])
    ids = torch.ones(1, 2, LENGTH, dtype=torch.long)
    for first in (-1, LENGTH):
        with pytest.raises(ValueError, match="first"):
            P.shared_logits(params, ids, shape, first=first)
    with pytest.raises(ValueError, match=r"\[E, B, T\]"):
        P.shared_logits(params, ids[0], shape)


@pytest.mark.parametrize("forward", [P.shared_logits, L.forward_logits], ids=["shared-prefixes", "every-row"])
def test_both_forwards_train_under_bf16_autocast(forward):
    """Under autocast (bf16 matmuls, as the ensemble trains on a GPU) the tree's own autograd
    functions take the gradient in the dtype the forward computed in and hand each parameter a
    gradient of its own dtype, close to float32's. CPU autocast stands in for CUDA's here (the
    same bf16 casts of bmm). Tolerance 5e-2 on the norm: bf16 keeps 8 bits (about 4e-3 a
    rounding), over two layers' forward and backward; measured 9.3e-3 with shared prefixes."""
    models = _models("tiny", [0, 1], torch.float32)
    shape = L.LlamaShape.from_hf_config(models[0].config)
    ids = _shared_rows(shape.vocab, shape.padding_idx)
    weights = torch.randn(*ids.shape[:2], LENGTH, shape.vocab, generator=torch.Generator().manual_seed(9))
    grads = {}
    for bf16 in (False, True):
        params = {n: p.requires_grad_() for n, p in L.stack_params([L.params_from_hf(m) for m in models]).items()}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = (forward(params, ids, shape).float() * weights).sum()
        loss.backward()  # outside autocast, as the ensemble's step takes it
        assert all(p.grad.dtype == torch.float32 for p in params.values())
        grads[bf16] = {n: p.grad for n, p in params.items()}
    for name, exact in grads[False].items():
        assert float((grads[True][name] - exact).norm() / exact.norm()) < 5e-2, name
