"""The Llama maths of this project's models as plain functions of a parameter tree.

A parameter tree is a dict ``name -> tensor`` with the names of the HF state_dict
(``model.layers.0.self_attn.q_proj.weight``, ...). The tied ``lm_head.weight`` is not a
separate entry (the embedding is used); an untied model's ``lm_head.weight`` is. Every
parameter may carry a leading **member axis** E (an ensemble of models of one architecture):
``forward_logits`` then takes ``input_ids`` [E, B, T] and runs every member in the same
batched matmuls.

What is covered: the models of ``empirical.models`` (``LlamaForCausalLM`` with
``num_key_value_heads == num_attention_heads``, no biases, SiLU-gated MLP, RMSNorm, default
rotary embeddings, causal attention). Padding must be on the right (causal attention then
never lets a real token see a pad; the loss masks the pads), so no attention mask is taken.

Numerics: everything is computed in the parameters' dtype (float64 stays float64, unlike HF,
which computes RMSNorm and the rotary table in float32); under CUDA autocast the matmuls run
in bf16 and the normalisation in float32.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["LlamaShape", "params_from_hf", "load_into_hf", "forward_logits", "forward_tree", "check_first",
           "stack_params", "unstack_params", "count_params", "parameter_names"]

EMBED = "model.embed_tokens.weight"
LM_HEAD = "lm_head.weight"
FINAL_NORM = "model.norm.weight"


@dataclass(frozen=True)
class LlamaShape:
    """The architecture numbers a forward pass needs (one per ensemble: members share it)."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    rope_theta: float = 10_000.0
    rms_eps: float = 1e-6
    max_length: int = 2048
    padding_idx: int | None = None  # HF's nn.Embedding(padding_idx): that row gets no gradient as an input

    def __post_init__(self):
        if min(self.vocab, self.hidden, self.layers, self.heads, self.intermediate, self.max_length) < 1:
            raise ValueError(f"every size must be >= 1, got {self}")
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ValueError(f"hidden ({self.hidden}) must split into heads ({self.heads}) of even size")
        if not (math.isfinite(self.rope_theta) and self.rope_theta > 0 and self.rms_eps > 0):
            raise ValueError(f"need rope_theta > 0 and rms_eps > 0, got {self.rope_theta}, {self.rms_eps}")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @classmethod
    def from_hf_config(cls, cfg) -> "LlamaShape":
        """From a ``LlamaConfig``; refuses the features these functions do not implement."""
        rope = getattr(cfg, "rope_parameters", None) or {}
        unsupported = [
            (cfg.num_key_value_heads != cfg.num_attention_heads, "grouped-query attention"),
            (getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False), "biases"),
            (cfg.hidden_act != "silu", f"activation {cfg.hidden_act!r}"),
            (rope.get("rope_type", "default") != "default", f"rope type {rope.get('rope_type')!r}"),
            (getattr(cfg, "head_dim", None) not in (None, cfg.hidden_size // cfg.num_attention_heads),
             "a head_dim other than hidden / heads"),
        ]
        named = [what for bad, what in unsupported if bad]
        if named:
            raise ValueError(f"llama_fn does not implement: {', '.join(named)}")
        theta = rope.get("rope_theta", getattr(cfg, "rope_theta", 10_000.0))
        return cls(vocab=cfg.vocab_size, hidden=cfg.hidden_size, layers=cfg.num_hidden_layers,
                   heads=cfg.num_attention_heads, intermediate=cfg.intermediate_size, rope_theta=float(theta),
                   rms_eps=float(cfg.rms_norm_eps), max_length=cfg.max_position_embeddings,
                   padding_idx=cfg.pad_token_id)


def parameter_names(shape: LlamaShape, tied: bool = True) -> list[str]:
    """The tree's names in the order of ``model.named_parameters()``."""
    names = [EMBED]
    for i in range(shape.layers):
        p = f"model.layers.{i}."
        names += [p + f"self_attn.{x}_proj.weight" for x in "qkvo"]
        names += [p + f"mlp.{x}_proj.weight" for x in ("gate", "up", "down")]
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
    names.append(FINAL_NORM)
    return names if tied else names + [LM_HEAD]


def params_from_hf(model) -> dict[str, torch.Tensor]:
    """Detached clones of the model's parameters (a tied lm_head appears once, as the embedding)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def load_into_hf(params: dict[str, torch.Tensor], model):
    """Copy one member's parameters (no member axis) into ``model`` in place; returns it."""
    own = dict(model.named_parameters())
    if set(own) != set(params):
        raise ValueError(f"parameter names differ: missing {sorted(set(own) - set(params))[:3]}, "
                         f"extra {sorted(set(params) - set(own))[:3]}")
    with torch.no_grad():
        for name, p in own.items():
            if p.shape != params[name].shape:
                raise ValueError(f"{name}: shape {tuple(params[name].shape)}, the model has {tuple(p.shape)}")
            p.copy_(params[name])
    return model


def stack_params(members: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One tree with a leading member axis from E trees of the same names and shapes."""
    if not members:
        raise ValueError("need at least one member")
    names = set(members[0])
    if any(set(m) != names for m in members):
        raise ValueError("members must have the same parameter names")
    return {name: torch.stack([m[name] for m in members]) for name in members[0]}


def unstack_params(params: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """E trees (views into ``params``) from a tree with a leading member axis."""
    sizes = {p.shape[0] for p in params.values()}
    if len(sizes) != 1:
        raise ValueError(f"the member axis differs between parameters: {sorted(sizes)}")
    return [{name: p[i] for name, p in params.items()} for i in range(sizes.pop())]


def count_params(params: dict[str, torch.Tensor], members: bool = False) -> int:
    """Parameters of ONE model; ``members=True``: the tree carries a leading member axis, which
    is not counted (every member has the same count)."""
    return sum(p[0].numel() if members else p.numel() for p in params.values())


# --- the forward pass: every tensor carries the member axis E (a single model gets E = 1) ---


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, gain=None) -> torch.Tensor:
    """x / rms(x) * weight; in at least float32 (bf16 squares lose the variance). ``gain(weight,
    normed)``: another form of the last product (the prefix tree's)."""
    wide = x.to(torch.promote_types(x.dtype, torch.float32))
    normed = (wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    return weight[:, None, :] * normed if gain is None else gain(weight, normed)


def _linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x [E, N, in] times weight [E, out, in] transposed: one batched matmul for all members."""
    return torch.bmm(x, weight.transpose(1, 2))


def _rotary_tables(shape: LlamaShape, length: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [T, head_dim] of the default rotary embedding (computed in float64, then cast)."""
    half = torch.arange(0, shape.head_dim, 2, dtype=torch.float64, device=device) / shape.head_dim
    inv_freq = 1.0 / shape.rope_theta ** half
    angles = torch.arange(length, dtype=torch.float64, device=device)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate_half_rows(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Rows of a projection [E, heads * hd, H] permuted so that its output is HF's
    rotate_half(output) = cat(-x2, x1) per head: rotating the (small) weight instead of the
    (large) activations saves two copies of every query and key per layer."""
    members, rows, hidden = weight.shape
    w = weight.view(members, heads, 2, rows // heads // 2, hidden)
    return torch.cat([-w[:, :, 1:], w[:, :, :1]], dim=2).view(members, rows, hidden)


def _attention(x, params, prefix, shape, rope, batch: int, length: int, first: int = 0) -> torch.Tensor:
    """Causal multi-head self-attention with rotary positions; x [E, B*T, H] -> [E, B*T', H]
    for the queries at positions first..T-1 (T' = T - first; keys and values at every position).
    Three matmuls give [q, k], [rotate_half(q), rotate_half(k)] and v, each contiguous (slices
    of one fused output cost a zero-filled copy each in the backward); then the rotary
    embedding, q cos + rotate_half(q) sin (HF's apply_rotary_pos_emb), is one fused multiply-add
    for q and k together."""
    members = x.shape[0]
    q_w, k_w, v_w = (params[prefix + f"self_attn.{n}_proj.weight"] for n in "qkv")
    qk_w = torch.cat([q_w, k_w], dim=1)
    rotated_w = torch.cat([_rotate_half_rows(q_w, shape.heads), _rotate_half_rows(k_w, shape.heads)], dim=1)
    rows = (members * batch, length * 2 * shape.hidden)  # a sequence's q and k in one contiguous row
    qk, rotated = _linear(x, qk_w).view(rows), _linear(x, rotated_w).view(rows)
    # the tables tiled to one such row, [T * 2 * H], so that the multiply broadcasts over rows
    # only (a [T, 1, 1, hd] table against [E*B, T, 2, heads, hd] was a few percent slower)
    cos, sin = (t.to(qk.dtype)[:, None, :].expand(length, 2 * shape.heads, shape.head_dim).reshape(-1) for t in rope)
    rotary = torch.addcmul(qk * cos, rotated, sin).view(members * batch, length, 2, shape.heads, shape.head_dim)
    q, k = rotary.transpose(1, 3).unbind(2)  # [E*B, heads, T, hd]
    v = _linear(x, v_w).view(members * batch, length, shape.heads, shape.head_dim).transpose(1, 2)
    if first:  # query i sits at position first + i: it sees the keys up to there (SDPA's is_causal
        # aligns a shorter query block to the first keys, not the last)
        sees = torch.ones(length - first, length, dtype=torch.bool, device=x.device).tril(first)
        attended = F.scaled_dot_product_attention(q[:, :, first:], k, v, attn_mask=sees)
    else:
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [E*B, heads, T, hd]
    attended = attended.transpose(1, 2).reshape(members, batch * (length - first), shape.hidden)
    return _linear(attended, params[prefix + "self_attn.o_proj.weight"])


def _mlp(x, params, prefix, linear=_linear) -> torch.Tensor:
    """down(silu(gate x) * up x); gate and up as two matmuls, each output contiguous (one fused
    matmul whose strided halves feed silu was not faster, A/B in one process). ``linear``:
    another form of `_linear` (the prefix tree's)."""
    gate = linear(x, params[prefix + "mlp.gate_proj.weight"])
    up = linear(x, params[prefix + "mlp.up_proj.weight"])
    return linear(F.silu(gate) * up, params[prefix + "mlp.down_proj.weight"])


def _embed(embed: torch.Tensor, ids: torch.Tensor, padding_idx: int | None) -> torch.Tensor:
    """Rows of each member's embedding [E, V, H] for ids [E, N] -> [E, N, H]. As HF's
    nn.Embedding(padding_idx), the padding row receives no gradient through the lookup (it still
    does as the tied output head): the lookup reads a copy of the table whose padding row is
    detached (the table is small; the activations are not)."""
    members, vocab, hidden = embed.shape
    if padding_idx is not None:
        is_pad = (torch.arange(vocab, device=embed.device) == padding_idx)[None, :, None]
        embed = torch.where(is_pad, embed.detach(), embed)
    offsets = torch.arange(members, device=ids.device)[:, None] * vocab
    return F.embedding(ids + offsets, embed.reshape(members * vocab, hidden))


def _from_position(x: torch.Tensor, batch: int, length: int, first: int) -> torch.Tensor:
    """The rows of positions first..T-1 of activations [E, B*T, H] -> [E, B*(T - first), H]."""
    if not first:
        return x
    members, _, hidden = x.shape
    return x.view(members, batch, length, hidden)[:, :, first:].reshape(members, -1, hidden)


def _forward_members(params, input_ids, shape: LlamaShape, first: int = 0) -> torch.Tensor:
    members, batch, length = input_ids.shape
    if length > shape.max_length:
        raise ValueError(f"sequences of {length} tokens exceed max_length {shape.max_length}")
    embed = params[EMBED]
    rope = _rotary_tables(shape, length, embed.dtype, embed.device)
    x = _embed(embed, input_ids.reshape(members, batch * length), shape.padding_idx)
    for i in range(shape.layers):
        prefix = f"model.layers.{i}."
        # the last layer's positions before `first` would only feed logits nobody reads
        kept = first if i == shape.layers - 1 else 0
        attended = _attention(_rms_norm(x, params[prefix + "input_layernorm.weight"], shape.rms_eps), params,
                              prefix, shape, rope, batch, length, kept)
        x = _from_position(x, batch, length, kept) + attended
        x = x + _mlp(_rms_norm(x, params[prefix + "post_attention_layernorm.weight"], shape.rms_eps), params, prefix)
    x = _rms_norm(x, params[FINAL_NORM], shape.rms_eps)
    logits = _linear(x, params.get(LM_HEAD, embed))
    return logits.view(members, batch, length - first, shape.vocab)


# A prefix tree's members are padded to a common node count (the group's largest, rounded up to
# a multiple of NODE_BLOCK: `empirical.prefix_tree`), so every reduction over nodes is made in
# blocks of NODE_BLOCK nodes summed in order: a member's real nodes then meet the same additions,
# and its padding nodes (zero gradient) add exact zeros, whatever the other members of its group.
NODE_BLOCK = 32


def _sum_blocks(per_block: torch.Tensor, members: int) -> torch.Tensor:
    """[E * blocks, ...] -> [E, ...]: each member's blocks added one after the other, in order."""
    per_block = per_block.view(members, -1, *per_block.shape[1:])
    total = per_block[:, 0]
    for b in range(1, per_block.shape[1]):
        total = total + per_block[:, b]
    return total


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """[E, N, ...] -> [E * N / NODE_BLOCK, NODE_BLOCK, ...] (N a multiple of NODE_BLOCK)."""
    return x.reshape(-1, NODE_BLOCK, *x.shape[2:])


class _NodeLinear(torch.autograd.Function):
    """`_linear` on nodes [E, N, in]; the weight's gradient summed over node blocks in order.
    Under autocast the forward's bmm ran in bf16 and the backward (outside autocast) receives a
    bf16 gradient: it computes in that dtype too, the blocks summed in at least float32 (autograd
    hands each input its own dtype back). Without autocast every cast is a no-op."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return torch.bmm(x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad):
        x, weight = (t.to(grad.dtype) for t in ctx.saved_tensors)
        per_block = torch.bmm(_blocks(grad).transpose(1, 2), _blocks(x))
        grad_weight = _sum_blocks(per_block.to(torch.promote_types(grad.dtype, torch.float32)), x.shape[0])
        return torch.bmm(grad, weight), grad_weight


class _NodeScale(torch.autograd.Function):
    """weight [E, H] times normed [E, N, H] (RMSNorm's gain); its gradient summed over node blocks."""

    @staticmethod
    def forward(ctx, weight, normed):
        ctx.save_for_backward(weight, normed)
        return weight[:, None, :] * normed

    @staticmethod
    def backward(ctx, grad):
        weight, normed = ctx.saved_tensors
        grad_weight = _sum_blocks((_blocks(grad) * _blocks(normed)).sum(1), normed.shape[0])
        return grad_weight, grad * weight[:, None, :]


def _node_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """`_rms_norm` on nodes, its gain's gradient summed in node blocks."""
    return _rms_norm(x, weight, eps, _NodeScale.apply)


def _path_attention(x, params, prefix, shape, rope, tree) -> torch.Tensor:
    """`_attention` on the nodes of a prefix tree (`empirical.prefix_tree`): x [E, N, H] -> [E, N, H].
    Node n sits at position depth[n] and attends to the nodes of its own prefix, path[n, :depth + 1]
    (gathered keys and values: at most T of them, so the scores are an elementwise product, not a
    matmul)."""
    members, nodes, hidden = x.shape
    heads, head_dim = shape.heads, shape.head_dim
    q_w, k_w, v_w = (params[prefix + f"self_attn.{n}_proj.weight"] for n in "qkv")
    qk = _NodeLinear.apply(x, torch.cat([q_w, k_w], dim=1)).view(members, nodes, 2, heads, head_dim)
    rotated_w = torch.cat([_rotate_half_rows(q_w, heads), _rotate_half_rows(k_w, heads)], dim=1)
    rotated = _NodeLinear.apply(x, rotated_w).view(members, nodes, 2, heads, head_dim)
    cos, sin = rope  # [E, N, head_dim]: each node's position
    q, k = torch.addcmul(qk * cos[:, :, None, None], rotated, sin[:, :, None, None]).unbind(2)  # [E, N, heads, hd]
    v = _NodeLinear.apply(x, v_w)
    length = tree.path.shape[2]
    along = tree.flat(tree.path)  # [E * N * T]: each node's prefix, as rows of [E * N, H]
    k_path = k.reshape(members * nodes, hidden).index_select(0, along).view(members, nodes, length, heads, head_dim)
    v_path = v.reshape(members * nodes, hidden).index_select(0, along).view(members, nodes, length, heads, head_dim)
    scores = (q[:, :, None] * k_path).sum(-1) / math.sqrt(head_dim)  # [E, N, T, heads]
    sees = torch.arange(length, device=x.device) <= tree.depth[:, :, None]  # [E, N, T]
    weights = torch.softmax(scores.masked_fill(~sees[..., None], -math.inf), dim=2)
    attended = (weights[..., None] * v_path).sum(2)  # [E, N, heads, hd]
    return _NodeLinear.apply(attended.reshape(members, nodes, hidden), params[prefix + "self_attn.o_proj.weight"])


def forward_tree(params: dict[str, torch.Tensor], tree, shape: LlamaShape) -> torch.Tensor:
    """Next-token logits [E, N, vocab] of every node of a prefix tree (`empirical.prefix_tree.PrefixTree`:
    each node a distinct prefix of a member's rows): the same maths as `forward_logits` on the
    rows, computed once per prefix. Every parameter carries the member axis E."""
    embed = params[EMBED]
    length = tree.path.shape[2]
    if length > shape.max_length:
        raise ValueError(f"sequences of {length} tokens exceed max_length {shape.max_length}")
    cos, sin = _rotary_tables(shape, length, embed.dtype, embed.device)
    rope = (cos[tree.depth], sin[tree.depth])
    x = _embed(embed, tree.token, shape.padding_idx)
    for i in range(shape.layers):
        prefix = f"model.layers.{i}."
        x = x + _path_attention(_node_rms_norm(x, params[prefix + "input_layernorm.weight"], shape.rms_eps),
                                params, prefix, shape, rope, tree)
        x = x + _mlp(_node_rms_norm(x, params[prefix + "post_attention_layernorm.weight"], shape.rms_eps), params,
                     prefix, _NodeLinear.apply)
    return _NodeLinear.apply(_node_rms_norm(x, params[FINAL_NORM], shape.rms_eps), params.get(LM_HEAD, embed))


def check_first(first: int, length: int) -> None:
    """Refuse a first logit position outside sequences of ``length`` tokens."""
    if not 0 <= first < length:
        raise ValueError(f"first must be a position of the {length}-token sequences, got {first}")


def forward_logits(params: dict[str, torch.Tensor], input_ids: torch.Tensor, shape: LlamaShape, *,
                   member_chunk: int | None = None, first: int = 0) -> torch.Tensor:
    """Next-token logits. Without a member axis: ``input_ids`` [B, T] -> [B, T, vocab]; with
    one (every parameter [E, ...]): ``input_ids`` [E, B, T] -> [E, B, T, vocab], member e's rows
    through member e's weights. Causal attention; padding, if any, on the right.

    ``first``: only the logits of positions first..T-1 ([..., T - first, vocab]), the same numbers
    as ``forward_logits(...)[..., first:, :]``: the last layer then computes its queries, MLP and
    output head at those positions only (the earlier positions still give every layer's keys
    and values), which a loss on the response tokens alone does not need.

    ``member_chunk``: run the members in groups of this many (same result): on a CPU a group's
    activations stay in cache (E = 48 tiny members at once spill every elementwise pass to
    memory); default all at once (a GPU wants the largest kernels)."""
    embed = params[EMBED]
    check_first(first, input_ids.shape[-1])
    if input_ids.dim() == 2 and embed.dim() == 2:
        return _forward_members({n: p[None] for n, p in params.items()}, input_ids[None], shape, first)[0]
    if not (input_ids.dim() == 3 and embed.dim() == 3 and input_ids.shape[0] == embed.shape[0]):
        raise ValueError(f"input_ids {tuple(input_ids.shape)} do not match the embedding {tuple(embed.shape)}: "
                         "[B, T] for a single model, [E, B, T] for E members")
    if member_chunk is None or member_chunk >= input_ids.shape[0]:
        return _forward_members(params, input_ids, shape, first)
    if member_chunk < 1:
        raise ValueError(f"member_chunk must be >= 1, got {member_chunk}")
    # split, not slicing: split's backward is one concatenation per parameter, no zero fill per chunk
    pieces = {n: p.split(member_chunk) for n, p in params.items()}
    groups = [{n: pieces[n][g] for n in params} for g in range(len(pieces[EMBED]))]
    return torch.cat([_forward_members(tree, ids, shape, first)
                      for tree, ids in zip(groups, input_ids.split(member_chunk), strict=True)])
