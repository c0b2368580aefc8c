"""empirical.llama_fn: the functional Llama equals LlamaForCausalLM on the same weights."""

import pytest
import torch
from hf_wide import widen_hf
from transformers import LlamaConfig, LlamaForCausalLM

from empirical import llama_fn as L
from empirical.models import build_model, count_parameters

VOCAB, LENGTH = 18, 7  # the default world: 4 special + 8 prompt + 6 content tokens; 7-token rows

# float32: the two paths sum in different orders (q, k, v fused into one matmul, gate and up
# into another), so logits differ by a few float32 ulps of the activations; measured <= 6e-8
# absolute on logits of size ~1; 2e-6 relative to the largest logit leaves 30x room and is still
# ~1e5 times smaller than any wrong weight, head or position would make it.
RTOL32 = 2e-6
# float64, against HF with its float32 islands (RMSNorm, rotary table) widened to float64 (see
# tests/hf_wide.py): only summation order differs, ~1e-16 per operation.
RTOL64 = 1e-12


def _other_model(seed: int, tied: bool = True, dtype=torch.float32) -> LlamaForCausalLM:
    """A second shape: 3 layers, 3 heads of 16, vocabulary 23, intermediate 3 x hidden, theta 500."""
    config = LlamaConfig(vocab_size=23, hidden_size=48, intermediate_size=144, num_hidden_layers=3,
                         num_attention_heads=3, num_key_value_heads=3, max_position_embeddings=16,
                         tie_word_embeddings=tied, rope_parameters={"rope_type": "default", "rope_theta": 500.0},
                         rms_norm_eps=1e-5)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).to(dtype)


def _models(kind: str, seeds, dtype) -> list[LlamaForCausalLM]:
    if kind == "tiny":
        return [build_model(VOCAB, LENGTH, "tiny", seed).to(dtype) for seed in seeds]
    return [_other_model(seed, tied=kind == "other", dtype=dtype) for seed in seeds]


@pytest.fixture
def hf_float64(monkeypatch):
    widen_hf(monkeypatch)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max())


CASES = [(kind, dtype) for kind in ("tiny", "other", "untied") for dtype in (torch.float32, torch.float64)]


@pytest.mark.parametrize(("kind", "dtype"), CASES)
def test_logits_and_gradients_equal_hf_single_model(kind, dtype, request):
    if dtype == torch.float64:
        request.getfixturevalue("hf_float64")
    tol = RTOL32 if dtype == torch.float32 else RTOL64
    (model,) = _models(kind, [3], dtype)
    shape = L.LlamaShape.from_hf_config(model.config)
    ids = torch.randint(0, shape.vocab, (4, LENGTH), generator=torch.Generator().manual_seed(1))
    weights = torch.randn(4, LENGTH, shape.vocab, generator=torch.Generator().manual_seed(2), dtype=dtype)

    reference = model(input_ids=ids).logits
    (reference * weights).sum().backward()
    params = {n: p.requires_grad_() for n, p in L.params_from_hf(model).items()}
    logits = L.forward_logits(params, ids, shape)
    (logits * weights).sum().backward()

    assert logits.shape == (4, LENGTH, shape.vocab) and logits.dtype == dtype
    assert _rel(logits, reference) < tol
    for name, p in model.named_parameters():
        assert _rel(params[name].grad, p.grad) < tol * 10, name  # gradients: one more pass of sums


@pytest.mark.parametrize(("kind", "dtype"), CASES)
def test_member_axis_runs_each_member_through_its_own_weights(kind, dtype, request):
    if dtype == torch.float64:
        request.getfixturevalue("hf_float64")
    tol = RTOL32 if dtype == torch.float32 else RTOL64
    models = _models(kind, [0, 1, 2], dtype)
    shape = L.LlamaShape.from_hf_config(models[0].config)
    ids = torch.randint(0, shape.vocab, (3, 5, LENGTH), generator=torch.Generator().manual_seed(4))
    weights = torch.randn(3, 5, LENGTH, shape.vocab, generator=torch.Generator().manual_seed(5), dtype=dtype)
    stacked = {n: p.requires_grad_() for n, p in L.stack_params([L.params_from_hf(m) for m in models]).items()}
    logits = L.forward_logits(stacked, ids, shape)
    (logits * weights).sum().backward()
    assert logits.shape == (3, 5, LENGTH, shape.vocab)
    for e, model in enumerate(models):
        reference = model(input_ids=ids[e]).logits
        (reference * weights[e]).sum().backward()
        assert _rel(logits[e], reference) < tol
        for name, p in model.named_parameters():
            assert _rel(stacked[name].grad[e], p.grad) < tol * 10, (e, name)


@pytest.mark.parametrize(("kind", "dtype"), CASES)
@pytest.mark.parametrize("first", [1, 3, LENGTH - 1])
def test_logits_from_a_position_equal_hf_there(kind, dtype, first, request):
    """``first`` trims the last layer to the kept positions: its logits and the gradients of a loss
    on them equal HF's on the full rows, sliced (the keys and values of the dropped positions
    still matter: a wrong causal alignment of the shorter query block would fail here)."""
    if dtype == torch.float64:
        request.getfixturevalue("hf_float64")
    tol = RTOL32 if dtype == torch.float32 else RTOL64
    models = _models(kind, [0, 1], dtype)
    shape = L.LlamaShape.from_hf_config(models[0].config)
    ids = torch.randint(0, shape.vocab, (2, 4, LENGTH), generator=torch.Generator().manual_seed(8))
    weights = torch.randn(2, 4, LENGTH - first, shape.vocab, generator=torch.Generator().manual_seed(9), dtype=dtype)
    assert_members_equal_hf(models, ids, weights, first, tol,
                            lambda params: L.forward_logits(params, ids, shape, first=first))


def assert_members_equal_hf(models, ids, weights, first: int, tol: float, forward) -> None:
    """``forward(stacked params)`` -> logits [E, B, T - first, vocab] of the models stacked as
    members: each member's logits, and the gradients of sum(logits * weights), equal HF's on its
    rows (full rows, sliced at ``first``) within ``tol`` (gradients 10 tol: a sum over positions)."""
    stacked = {n: p.requires_grad_() for n, p in L.stack_params([L.params_from_hf(m) for m in models]).items()}
    logits = forward(stacked)
    (logits * weights).sum().backward()
    assert logits.shape == (*ids.shape[:2], ids.shape[2] - first, models[0].config.vocab_size)
    for e, model in enumerate(models):
        reference = model(input_ids=ids[e]).logits[:, first:]
        (reference * weights[e]).sum().backward()
        assert _rel(logits[e], reference) < tol
        for name, p in model.named_parameters():
            assert _rel(stacked[name].grad[e], p.grad) < tol * 10, (e, name)


def test_attention_is_causal_so_right_padding_is_harmless():
    (model,) = _models("tiny", [0], torch.float32)
    shape = L.LlamaShape.from_hf_config(model.config)
    params = L.params_from_hf(model)
    ids = torch.randint(4, VOCAB, (2, LENGTH), generator=torch.Generator().manual_seed(0))
    padded = ids.clone()
    padded[:, 4:] = 0
    a, b = L.forward_logits(params, ids, shape), L.forward_logits(params, padded, shape)
    assert torch.equal(a[:, :4], b[:, :4])  # positions before the pad never see it
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_tree_helpers_round_trip():
    models = _models("tiny", [0, 1], torch.float32)
    trees = [L.params_from_hf(m) for m in models]
    assert list(trees[0]) == L.parameter_names(L.LlamaShape.from_hf_config(models[0].config))
    assert "lm_head.weight" not in trees[0]  # tied: the embedding is the head
    assert L.count_params(trees[0]) == count_parameters(models[0]) == 21_216
    stacked = L.stack_params(trees)
    assert stacked["model.norm.weight"].shape == (2, 32)
    assert L.count_params(stacked, members=True) == 21_216
    back = L.unstack_params(stacked)
    assert all(torch.equal(back[1][n], trees[1][n]) for n in trees[1])
    target = L.load_into_hf(back[1], build_model(VOCAB, LENGTH, "tiny", seed=9))
    assert all(torch.equal(p, trees[1][n]) for n, p in target.named_parameters())
    assert target.lm_head.weight.data_ptr() == target.model.embed_tokens.weight.data_ptr()  # still tied
    trees[0]["model.embed_tokens.weight"] += 1  # clones: the model is untouched
    assert not torch.equal(models[0].model.embed_tokens.weight, trees[0]["model.embed_tokens.weight"])


def test_refusals():
    (model,) = _models("tiny", [0], torch.float32)
    shape = L.LlamaShape.from_hf_config(model.config)
    params = L.params_from_hf(model)
    with pytest.raises(ValueError, match="do not match"):
        L.forward_logits(params, torch.zeros(2, 3, LENGTH, dtype=torch.long), shape)
    with pytest.raises(ValueError, match="max_length"):
        L.forward_logits(params, torch.zeros(2, LENGTH + 1, dtype=torch.long), shape)
    for first in (-1, LENGTH):
        with pytest.raises(ValueError, match="first must be a position"):
            L.forward_logits(params, torch.zeros(2, LENGTH, dtype=torch.long), shape, first=first)
    with pytest.raises(ValueError, match="grouped-query"):
        L.LlamaShape.from_hf_config(LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2))
    with pytest.raises(ValueError, match="names differ"):
        L.load_into_hf(params, _other_model(0))
    with pytest.raises(ValueError, match="shape"):
        L.load_into_hf(params, build_model(VOCAB + 1, LENGTH, "tiny"))


def test_member_chunks_give_the_same_logits_and_gradients():
    models = _models("tiny", range(5), torch.float32)
    shape = L.LlamaShape.from_hf_config(models[0].config)
    ids = torch.randint(0, shape.vocab, (5, 3, LENGTH), generator=torch.Generator().manual_seed(6))
    weights = torch.randn(5, 3, LENGTH, shape.vocab, generator=torch.Generator().manual_seed(7))
    out = []
    for chunk in (None, 2):
        stacked = {n: p.requires_grad_() for n, p in L.stack_params([L.params_from_hf(m) for m in models]).items()}
        logits = L.forward_logits(stacked, ids, shape, member_chunk=chunk)
        (logits * weights).sum().backward()
        out.append((logits.detach(), {n: p.grad for n, p in stacked.items()}))
    assert torch.equal(out[0][0], out[1][0])  # the same kernels on the same rows: bit for bit
    assert all(torch.equal(out[0][1][n], out[1][1][n]) for n in out[0][1])
