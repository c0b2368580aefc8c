"""The ensemble trainer: E models of one architecture trained in one batched step.

Why: one tiny model at a time runs at a few percent of the CPU's rate (overhead-bound) and
would be launch-bound on a GPU; stacking the members on a leading axis turns E small matmuls
into one batched matmul (docs/design.md, "The ensemble trainer").

How it is laid out (nanoGPT-style: a readable loop, no framework):

- **State** (`EnsembleState`): every member's parameters in one flat tensor [E, P] (the tree of
  HF names is a set of views into it, `state.params()`), AdamW's two moments [E, P] and a step
  counter [E]. A flat buffer makes the optimizer and the per-member gradient norm a few
  whole-buffer ops, whatever the number of parameter tensors.
- **Groups**: on a CPU a step runs the members group by group (forward, backward, update),
  each group small enough for its activations to stay in cache; on a GPU all at once.
- **Data** is drawn OUTSIDE the batched step, per member, exactly as the per-model loop of
  `empirical.trajectory` draws it for that seed (`pretrain_batches`, `trajectory_batches`);
  `collate` stacks one step's member batches into a `Batch` [E, B, T], padding ragged rows
  (row mask 0) and marking a member with no batch inactive.
- **Objective**: a tuple of loss terms, each a callable ``term(ctx) -> [E]`` (one loss per
  member): `ResponseCE`, `Spring`, `OutputAnchor`, `DPO`. Replay is data (extra rows in the
  batch, `trajectory_batches`), not a term. The step backpropagates the SUM over members of
  their losses: members share no parameter, so each member's gradient is its own loss's.
- **Optimizer** (`AdamW`, `adamw_update`): torch.optim.AdamW's arithmetic with per-member
  tensors for lr, betas, eps and weight decay, gradient clipping per member (the global norm
  over that member's parameters, torch's clip_grad_norm_ rule) and an ``active`` mask: an
  inactive member's parameters, moments and step counter are left bit for bit unchanged.

Equivalence with the per-model loop (`tests/test_ensemble.py`): same seeds, data order and
settings give the same parameters after 20 steps within 1e-4 relative (float32, per parameter
tensor, norm) and within 1e-9 in float64 (the same arithmetic).
"""

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from empirical.llama_fn import LlamaShape, forward_logits, load_into_hf, params_from_hf, unstack_params
from empirical.prefix_tree import shared_logits

__all__ = ["EnsembleState", "AdamW", "MemberBatch", "Batch", "Context", "ResponseCE", "Spring", "OutputAnchor",
           "DPO", "response_logits", "collate", "pretrain_batches", "trajectory_batches", "member_schedule",
           "linear_decay", "adamw_update", "train_step", "fit", "export_member", "members_as_trees"]


# --- state: flat parameters and moments ---

# On a CPU a step runs the members in groups (forward, backward and update of one group, then
# the next) whose activations [group, B*T, hidden] hold about this many numbers (8 tiny members
# at batch 128): a group's activations then stay in cache instead of streaming ~200 MB through
# memory per step (measured at E = 48, one thread: 7.3-7.9 ms per member-step in groups of 4-8
# against 9.3 all at once); at batch 16 the whole ensemble is one group (fewer, larger ops).
# Members share nothing, so the grouping does not change any result (tested bit for bit).
CPU_GROUP_ACTIVATIONS = 8 * 128 * 7 * 32


@dataclass
class EnsembleState:
    """Parameters [E, P], AdamW moments [E, P], steps taken [E]; a step differentiates a
    detached view of a group's rows of ``flat``."""

    shape: LlamaShape
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]  # one member's shape of each parameter
    flat: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    step: torch.Tensor  # float64: exact integer counts, and the bias correction's power
    # a step in groups of this many members; None: all at once (the default on a GPU);
    # "auto": groups of about CPU_GROUP_ACTIVATIONS activations (the default on a CPU)
    member_chunk: int | str | None = None
    # True (the default): each distinct prefix of a member's rows computed once
    # (`empirical.prefix_tree`: the synthetic worlds' rows share most prefixes); False: every row
    # at every position (`llama_fn.forward_logits`). The same maths up to float rounding, and a
    # member's bits do not depend on its group either way (tested). Sharing gathers each node's
    # keys along its path (memory ~ nodes x T x hidden): made for the worlds' short rows; switch it
    # off for rows of hundreds of tokens, where SDPA over every row is the lighter form.
    share_prefixes: bool = True

    @classmethod
    def from_params(cls, members: Sequence[dict[str, torch.Tensor]], shape: LlamaShape, *, device=None,
                    dtype=torch.float32) -> "EnsembleState":
        """From E parameter trees (no member axis) of one architecture; fresh optimizer state."""
        names = tuple(members[0])
        if any(tuple(m) != names for m in members):
            raise ValueError("members must have the same parameter names (one architecture per ensemble)")
        shapes = tuple(tuple(members[0][n].shape) for n in names)
        if any(tuple(m[n].shape) != s for m in members for n, s in zip(names, shapes, strict=True)):
            raise ValueError("members must have the same parameter shapes (one architecture per ensemble)")
        flat = torch.stack([torch.cat([m[n].detach().reshape(-1) for n in names]) for m in members])
        flat = flat.to(device=device, dtype=dtype)
        zeros = torch.zeros_like(flat)
        chunk = "auto" if flat.device.type == "cpu" else None
        return cls(shape, names, shapes, flat, zeros, zeros.clone(),
                   torch.zeros(len(members), dtype=torch.float64, device=flat.device), chunk)

    @classmethod
    def from_models(cls, models, **kwargs) -> "EnsembleState":
        return cls.from_params([params_from_hf(m) for m in models], LlamaShape.from_hf_config(models[0].config),
                               **kwargs)

    @property
    def members(self) -> int:
        return self.flat.shape[0]

    def groups(self, batch_rows: int, length: int) -> list[slice]:
        """The member groups a step runs one after the other (see CPU_GROUP_ACTIVATIONS)."""
        size = self.member_chunk
        if size == "auto":
            size = max(1, CPU_GROUP_ACTIVATIONS // (batch_rows * length * self.shape.hidden))
        size = self.members if size is None else int(size)
        return [slice(start, min(start + size, self.members)) for start in range(0, self.members, size)]

    def params(self, flat: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The parameter tree [E, ...] as views of ``flat`` (default the state's; gradients flow)."""
        flat = self.flat if flat is None else flat
        sizes = [math.prod(s) for s in self.shapes]
        chunks = flat.split(sizes, dim=1)
        return {n: c.view(flat.shape[0], *s) for n, c, s in zip(self.names, chunks, self.shapes, strict=True)}


def export_member(params: dict[str, torch.Tensor], i: int, hf_model_template):
    """Member ``i`` of a stacked tree (or of an `EnsembleState`) as a new HF model: a deep copy
    of ``hf_model_template`` (same architecture) with member i's weights; the template is left
    unchanged."""
    if isinstance(params, EnsembleState):
        params = params.params()
    member = {name: p[i].detach() for name, p in params.items()}
    model = copy.deepcopy(hf_model_template)
    dtype = next(model.parameters()).dtype
    return load_into_hf({n: p.to(dtype) for n, p in member.items()}, model)


# --- data: drawn per member outside the step, as the per-model loop draws it ---


@dataclass(frozen=True)
class MemberBatch:
    """One member's rows for one step: tokens [B, T]; the first ``own`` rows are the stage's own
    examples (the output anchor applies to them; the rest are replayed); ``rejected`` [B, T]
    pairs with ``tokens`` for DPO."""

    tokens: torch.Tensor
    own: int
    rejected: torch.Tensor | None = None


@dataclass(frozen=True)
class Batch:
    """One step's rows of every member: tokens [E, B, T]; rows [E, B] 1 for a real row, 0 for
    padding; own [E, B] 1 for a stage row; active [E] bool; rejected [E, B, T] or None."""

    tokens: torch.Tensor
    rows: torch.Tensor
    own: torch.Tensor
    active: torch.Tensor
    rejected: torch.Tensor | None = None

    def select(self, members: slice) -> "Batch":
        """The rows of a group of members (views)."""
        return Batch(self.tokens[members], self.rows[members], self.own[members], self.active[members],
                     None if self.rejected is None else self.rejected[members])


def collate(member_batches: Sequence[MemberBatch | None], device=None) -> Batch:
    """Stack one step's member batches; ``None`` marks a member that does not train this step
    (stopped, or its stage is shorter): it gets padding rows and ``active`` False."""
    present = [b for b in member_batches if b is not None]
    if not present:
        raise ValueError("at least one member must train in a step")
    width = max(b.tokens.shape[0] for b in present)
    length = present[0].tokens.shape[1]
    dpo = present[0].rejected is not None
    members = len(member_batches)
    tokens = torch.zeros(members, width, length, dtype=torch.long)
    rejected = torch.zeros_like(tokens) if dpo else None
    rows, own = torch.zeros(members, width), torch.zeros(members, width)
    for e, b in enumerate(member_batches):
        if b is None:
            continue
        if (b.rejected is not None) != dpo or b.tokens.shape[1] != length:
            raise ValueError("every member of a step needs the same objective (DPO or not) and sequence length")
        n = b.tokens.shape[0]
        tokens[e, :n], rows[e, :n], own[e, :b.own] = b.tokens, 1.0, 1.0
        if dpo:
            rejected[e, :n] = b.rejected
    active = torch.tensor([b is not None for b in member_batches])
    move = functools.partial(torch.Tensor.to, device=device)
    return Batch(move(tokens), move(rows), move(own), move(active), None if rejected is None else move(rejected))


def pretrain_batches(tokens: np.ndarray, *, steps: int, batch_size: int, seed: int) -> list[MemberBatch]:
    """The batches `empirical.trajectory.pretrain` draws for this seed: seeded epochs of
    permutations of the dataset, cut into ``steps`` batches."""
    data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    generator = torch.Generator().manual_seed(seed)
    epochs = math.ceil(steps * batch_size / data.shape[0])
    order = torch.cat([torch.randperm(data.shape[0], generator=generator) for _ in range(epochs)])
    return [MemberBatch(data[order[s * batch_size:(s + 1) * batch_size]], batch_size) for s in range(steps)]


def trajectory_batches(tokens: np.ndarray, checkpoints, *, batch_size: int, seed: int,
                       replay: np.ndarray | None = None, replay_fraction: float = 0.0,
                       rejected: np.ndarray | None = None) -> list[MemberBatch]:
    """The batches `empirical.trajectory.trajectory` trains on for this seed: the stage's
    examples in order, a batch cut at each checkpoint, plus ``round(take f / (1 - f))`` rows
    drawn from the replay pool with the seeded generator; DPO rows paired with ``rejected``."""
    data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    pool = torch.from_numpy(np.asarray(replay, dtype=np.int64)) if replay_fraction > 0 else None
    worse = torch.from_numpy(np.asarray(rejected, dtype=np.int64)) if rejected is not None else None
    generator = torch.Generator().manual_seed(seed)
    out, seen = [], 0
    for target in sorted(int(q) for q in checkpoints):
        while seen < target:
            take = min(batch_size, target - seen)
            rows = data[seen:seen + take]
            if pool is not None:
                extra = round(take * replay_fraction / (1.0 - replay_fraction))
                rows = torch.cat([rows, pool[torch.randint(0, len(pool), (extra,), generator=generator)]])
            out.append(MemberBatch(rows, take, None if worse is None else worse[seen:seen + take]))
            seen += take
    return out


def linear_decay(lr: torch.Tensor, total_steps: torch.Tensor, step: int) -> torch.Tensor:
    """pretrain's schedule (LambdaLR 1 - i / steps) per member: lr at optimizer step ``step``
    (0-based) of a member that trains ``total_steps`` steps."""
    return lr * (1.0 - step / total_steps.to(lr.dtype))


# --- the objective: loss terms, each one loss per member [E] ---


def _wide(x: torch.Tensor) -> torch.Tensor:
    """bf16 / fp16 logits (autocast) to float32 for softmax and cross-entropy; float32 and
    float64 as they are (a float64 ensemble stays float64)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class Context:
    """What a loss term sees in one step for one group of members (``members``, a slice of the
    ensemble; ``flat`` and ``batch`` are the group's): the response logits of the batch, computed once on
    first use, and ``pick`` for a term's own per-member tensors."""

    def __init__(self, state: EnsembleState, flat: torch.Tensor, batch: Batch, loss_from: int,
                 members: slice = slice(None)):
        self.state, self.flat, self.batch, self.loss_from, self.members = state, flat, batch, loss_from, members
        self.params = state.params(flat)

    def pick(self, per_member):
        """The group's rows of a tensor [E, ...] or of a stacked tree (views; moved to the state's
        device if the term's tensors live elsewhere)."""
        device = self.flat.device
        if isinstance(per_member, dict):
            return {n: p[self.members].to(device) for n, p in per_member.items()}
        return per_member[self.members].to(device)

    @functools.cached_property
    def logits(self) -> torch.Tensor:
        """The group's response logits (`response_logits`), computed once for every term."""
        return response_logits(self.params, self.batch.tokens, self.state.shape, self.loss_from,
                               shared=self.state.share_prefixes)


def response_logits(params: dict, tokens: torch.Tensor, shape: LlamaShape, loss_from: int, *,
                    shared: bool = True) -> torch.Tensor:
    """The logits that predict tokens[..., loss_from:], those of positions loss_from - 1 .. T - 2:
    [E, B, T - loss_from, vocab]. Every loss term reads these alone, so the forward leaves out
    the last token (an input to no prediction read). ``shared``: each distinct prefix of a
    member's rows computed once (`prefix_tree.shared_logits`: about a third of the positions of
    a pre-training batch of the synthetic world); else every position, the last layer's
    queries, MLP and head at the read positions only (`forward_logits`' ``first``). The same
    numbers up to float rounding."""
    if shared:
        return shared_logits(params, tokens[..., :-1], shape, first=loss_from - 1)
    return forward_logits(params, tokens[..., :-1], shape, first=loss_from - 1)


def _per_member_mean(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean over the real rows and every position of values [E, B, T'] -> [E]."""
    count = (rows.sum(1) * values.shape[2]).clamp(min=1)  # an inactive member has no rows: loss 0
    return (values * rows[:, :, None]).sum((1, 2)) / count


class ResponseCE:
    """Mean cross-entropy (nats) of the tokens from ``loss_from`` on, over a member's real rows
    (the stage's and the replayed): `trajectory._loss` without the anchor."""

    def __call__(self, ctx: Context) -> torch.Tensor:
        logits = ctx.logits
        targets = ctx.batch.tokens[:, :, ctx.loss_from:]
        ce = F.cross_entropy(_wide(logits.flatten(0, 2)), targets.flatten(), reduction="none")
        return _per_member_mean(ce.view(targets.shape), ctx.batch.rows)


@dataclass(frozen=True)
class Spring:
    """weight * ||theta - theta_ref||^2 per member (all of a member's parameters, the tied
    embedding once): reference [E, P] flat like the state, weight [E]."""

    reference: torch.Tensor
    weight: torch.Tensor

    def __call__(self, ctx: Context) -> torch.Tensor:
        return ctx.pick(self.weight) * (ctx.flat - ctx.pick(self.reference)).pow(2).sum(1)


@dataclass(frozen=True)
class OutputAnchor:
    """beta * mean KL(model || anchor) per response token of the stage's own rows (not the
    replayed ones), with the anchor's predictions held fixed: anchor a stacked tree [E, ...]
    (member e's anchor), beta [E]."""

    anchor: dict
    beta: torch.Tensor

    def __call__(self, ctx: Context) -> torch.Tensor:
        with torch.no_grad():
            anchor_logits = response_logits(ctx.pick(self.anchor), ctx.batch.tokens, ctx.state.shape, ctx.loss_from,
                                            shared=ctx.state.share_prefixes)
            reference = torch.log_softmax(_wide(anchor_logits), -1)
        log_q = torch.log_softmax(_wide(ctx.logits), -1)
        kl = (log_q.exp() * (log_q - reference)).sum(-1)  # [E, B, T']
        return ctx.pick(self.beta) * _per_member_mean(kl, ctx.batch.own)


def _sequence_log_probs(params: dict, tokens: torch.Tensor, shape: LlamaShape, loss_from: int,
                        shared: bool) -> torch.Tensor:
    """Sum over positions >= loss_from of log q(token | prefix): [E, B]."""
    log_q = torch.log_softmax(_wide(response_logits(params, tokens, shape, loss_from, shared=shared)), -1)
    return log_q.gather(-1, tokens[:, :, loss_from:, None])[..., 0].sum(-1)


@dataclass(frozen=True)
class DPO:
    """-log sigmoid(beta [(log pi(c) - log ref(c)) - (log pi(r) - log ref(r))]), mean over a
    member's real rows: `trajectory._dpo_loss`; reference a stacked tree (the members as they
    entered the stage), beta [E]. Chosen = the batch's tokens, rejected = ``batch.rejected``."""

    reference: dict
    beta: torch.Tensor

    def __call__(self, ctx: Context) -> torch.Tensor:
        b = ctx.batch
        if b.rejected is None:
            raise ValueError("DPO needs rejected rows in the batch")
        both = torch.cat([b.tokens, b.rejected], dim=1)  # one forward for chosen and rejected
        with torch.no_grad():
            ref = _sequence_log_probs(ctx.pick(self.reference), both, ctx.state.shape, ctx.loss_from,
                                      ctx.state.share_prefixes)
        own = _sequence_log_probs(ctx.params, both, ctx.state.shape, ctx.loss_from, ctx.state.share_prefixes)
        width = b.tokens.shape[1]
        margin = (own - ref)[:, :width] - (own - ref)[:, width:]
        loss = -F.logsigmoid(ctx.pick(self.beta)[:, None] * margin)
        return (loss * b.rows).sum(1) / b.rows.sum(1).clamp(min=1)


# --- the optimizer ---


@dataclass(frozen=True)
class AdamW:
    """Per-member AdamW settings, each a tensor [E]; ``max_grad_norm`` inf = no clipping. The
    defaults of `for_members` are torch.optim.AdamW's (the plain loop of `empirical.trajectory`:
    weight decay 0.01, no clipping)."""

    beta1: torch.Tensor
    beta2: torch.Tensor
    eps: torch.Tensor
    weight_decay: torch.Tensor
    max_grad_norm: torch.Tensor

    def select(self, members: slice, device=None) -> "AdamW":
        """The settings of a group of members (on ``device``)."""
        return AdamW(*(getattr(self, f.name)[members].to(device) for f in dataclasses.fields(self)))

    @classmethod
    def for_members(cls, members: int, *, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                    max_grad_norm=math.inf, device=None) -> "AdamW":
        """Each setting a number (every member) or a sequence of E numbers."""
        def column(x):
            t = torch.as_tensor(x, dtype=torch.float64, device=device).expand(members).clone()
            return t
        out = cls(column(beta1), column(beta2), column(eps), column(weight_decay), column(max_grad_norm))
        bad = [(name, getattr(out, name)) for name, ok in (("beta1", lambda b: (b >= 0) & (b < 1)),
                                                            ("beta2", lambda b: (b >= 0) & (b < 1)),
                                                            ("eps", lambda x: x > 0),
                                                            ("weight_decay", lambda x: x >= 0),
                                                            ("max_grad_norm", lambda x: x > 0))
               if not bool(ok(getattr(out, name)).all())]
        if bad:
            raise ValueError(f"AdamW settings out of range: {', '.join(n for n, _ in bad)} (betas in [0, 1), "
                             "eps > 0, weight_decay >= 0, max_grad_norm > 0)")
        return out


def _clip(grad: torch.Tensor, max_grad_norm: torch.Tensor) -> torch.Tensor:
    """torch's clip_grad_norm_ per member: scale by min(1, max / (norm + 1e-6))."""
    if bool(torch.isinf(max_grad_norm).all()):
        return grad
    norm = torch.linalg.vector_norm(grad, dim=1).to(torch.float64)
    scale = (max_grad_norm / (norm + 1e-6)).clamp(max=1.0)
    return grad * scale.to(grad.dtype)[:, None]


@torch.no_grad()
def adamw_update(state: EnsembleState, grad: torch.Tensor, lr: torch.Tensor, opt: AdamW,
                 active: torch.Tensor, members: slice = slice(None)) -> None:
    """One AdamW step in place for the active members of the group ``members`` (``grad``, ``lr``,
    ``opt`` and ``active`` are the group's): torch.optim.AdamW's update (decoupled weight decay,
    bias-corrected moments), rearranged into 8 whole-buffer passes instead of 13 (the optimizer
    is memory-bound): with c1 = 1 - beta1^t, c2 = 1 - beta2^t,

        lr/c1 * m / (sqrt(v)/sqrt(c2) + eps) = (lr sqrt(c2)/c1) * m / (sqrt(v) + eps sqrt(c2)).

    An inactive member's parameters, moments and step are left exactly as they were: its
    coefficients are the identity (x * 1, lerp weight 0, a zero step) whatever its gradient."""
    column = lambda x: x.to(state.flat.dtype)[:, None]  # noqa: E731 - per-member coefficient [E, 1]
    flat, exp_avg, exp_avg_sq = state.flat[members], state.exp_avg[members], state.exp_avg_sq[members]
    grad = _clip(grad, opt.max_grad_norm)
    lr = torch.where(active, lr.to(torch.float64), 0.0)
    state.step[members] += active.to(torch.float64)
    steps = state.step[members].clamp(min=1)  # a member that never trained: no division by 1 - beta^0 = 0
    root_c2 = (1.0 - opt.beta2 ** steps).sqrt()
    flat.mul_(column(1.0 - lr * opt.weight_decay))
    exp_avg.lerp_(grad, column(torch.where(active, 1.0 - opt.beta1, 0.0)))
    exp_avg_sq.lerp_(grad.square(), column(torch.where(active, 1.0 - opt.beta2, 0.0)))
    denom = exp_avg_sq.sqrt().add_(column(opt.eps * root_c2))
    flat.addcdiv_(exp_avg * column(-lr * root_c2 / (1.0 - opt.beta1 ** steps)), denom)


# --- the step and the loop ---


def _group_step(state: EnsembleState, batch: Batch, terms, opt: AdamW, lr: torch.Tensor, members: slice, *,
                loss_from: int, autocast: bool) -> torch.Tensor:
    """Forward, backward and update of one group of members; its losses [group]."""
    flat = state.flat[members].detach().requires_grad_()  # a view: the update below writes the state
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        ctx = Context(state, flat, batch, loss_from, members)
        loss = sum(term(ctx) for term in terms)
    # members share no parameter: each gets its own loss's gradient; an inactive member's is 0
    torch.where(batch.active, loss, 0.0).sum().backward()
    adamw_update(state, flat.grad, lr, opt, batch.active, members)
    return loss.detach()


def train_step(state: EnsembleState, batch: Batch, terms: Sequence[Callable[[Context], torch.Tensor]],
               opt: AdamW, lr: torch.Tensor, *, loss_from: int, autocast: bool = False) -> torch.Tensor:
    """One optimizer step of every active member on its rows, group by group
    (`EnsembleState.groups`); returns the per-member loss [E] (detached, nats; no .item(): no
    device sync)."""
    if autocast and state.flat.device.type != "cuda":
        raise ValueError("bf16 autocast is for CUDA; on CPU train in float32")
    _, rows, length = batch.tokens.shape
    device = state.flat.device
    lr = lr.to(device)
    return torch.cat([_group_step(state, batch.select(g), terms, opt.select(g, device), lr[g], g,
                                  loss_from=loss_from, autocast=autocast) for g in state.groups(rows, length)])


def fit(state: EnsembleState, schedule: Sequence[Sequence[MemberBatch | None]], terms, opt: AdamW,
        lr_at: Callable[[int], torch.Tensor], *, loss_from: int, autocast: bool = False) -> torch.Tensor:
    """Train through ``schedule`` (one entry per step: each member's batch or None); ``lr_at(s)``
    is the per-member learning rate [E] of step s. Returns the losses [steps, E] (0 where
    inactive)."""
    losses = []
    for s, member_batches in enumerate(schedule):
        batch = collate(member_batches, device=state.flat.device)
        losses.append(train_step(state, batch, terms, opt, lr_at(s), loss_from=loss_from, autocast=autocast))
    return torch.stack(losses) if losses else torch.zeros(0, state.members)


def member_schedule(per_member: Sequence[Sequence[MemberBatch]], stop_at: Sequence[int | None] = ()
                    ) -> list[list[MemberBatch | None]]:
    """Steps x members from each member's own list of batches: a member whose list is shorter,
    or whose ``stop_at[e]`` step is reached, is None (inactive) from then on."""
    stops = list(stop_at) + [None] * (len(per_member) - len(stop_at))
    lengths = [len(b) if s is None else min(s, len(b)) for b, s in zip(per_member, stops, strict=True)]
    return [[b[s] if s < n else None for b, n in zip(per_member, lengths, strict=True)]
            for s in range(max(lengths, default=0))]


def members_as_trees(state: EnsembleState) -> list[dict[str, torch.Tensor]]:
    """Each member's detached parameter tree (views of the state)."""
    return unstack_params({n: p.detach() for n, p in state.params().items()})
