"""empirical.ensemble: the ensemble trainer equals the per-model loop of empirical.trajectory.

The comparison uses the loop's own optimizer settings (torch.optim.AdamW defaults: betas 0.9 and
0.999, eps 1e-8, weight decay 0.01, no gradient clipping); `pretrain`'s learning rate decays
linearly to 0 over each member's own steps, `trajectory`'s is constant. Clipping, other betas and
weight decay 0 (the trl path's settings) are checked against torch.optim.AdamW +
clip_grad_norm_ directly.
"""

import copy

import numpy as np
import pytest
import torch
from hf_wide import widen_hf

from empirical import ensemble as ens
from empirical import trajectory
from empirical.llama_fn import forward_logits, params_from_hf
from empirical.models import build_model
from empirical.world import World, WorldConfig

WORLD = WorldConfig(n_pre=400, n_align=200, n_perturb=200, n_held_out=8)
LOSS_FROM = WORLD.response_start
# Float32, 20 AdamW steps: the two paths differ only by summation order (fused matmuls,
# per-member means), and training amplifies such differences. Measured on these tests:
# ||a - b|| / ||b|| per parameter tensor <= 1e-5, so RTOL = 1e-4 (the bound) on that
# norm keeps 10x room. The largest single entry, max|a - b| / max|b|, is noisier: two HF loops
# that differ only in the attention kernel (eager vs sdpa) already reach 8.9e-5 on it, so it is
# bounded by 1e-3 (ENTRY_RTOL). Either stays far below what a wrong learning rate, bias
# correction, data order or member mix-up gives (> 1e-2, `test_breaks_...`). The float64 test
# shows that the arithmetic is the same: there the paths agree to 1e-9.
RTOL = 1e-4
ENTRY_RTOL = 1e-3
RTOL64 = 1e-9
# With shared prefixes the float32 sums run in yet another order (gathered attention, a shared
# prefix's gradient added up from its rows, weight gradients summed in node blocks): measured up
# to 1.02e-4 on the norm (the pre-training test's member at learning rate 2e-2), so 3e-4 there;
# the float64 runs, at 1e-9, show the arithmetic is the same.
RTOL_SHARED = 3e-4


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest entry difference relative to the tensor's largest magnitude (per-entry relative
    differences are meaningless for entries that cross zero)."""
    return float((a - b).abs().max() / b.abs().max())


def _norm_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _worst(state: ens.EnsembleState, models, metric=_norm_diff) -> float:
    """Largest relative difference over every parameter tensor of every member."""
    trees = ens.members_as_trees(state)
    return max(metric(trees[e][name].to(p.dtype), p.detach()) for e, m in enumerate(models)
               for name, p in m.named_parameters())


def _agree(state, models) -> bool:
    rtol = RTOL_SHARED if state.share_prefixes else RTOL
    return _worst(state, models) < rtol and _worst(state, models, _rel_diff) < ENTRY_RTOL


def _models(seeds):
    return [build_model(WORLD.vocab_size, WORLD.sequence_length, "tiny", seed=s) for s in seeds]


# both forwards: each distinct prefix once (the default) and every row's every position
SHARED = pytest.mark.parametrize("shared", [True, False], ids=["shared-prefixes", "every-row"])


@SHARED
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pretrain_path_heterogeneous_lr_and_a_member_stopped_half_way(dtype, shared, monkeypatch):
    if dtype == torch.float64:
        widen_hf(monkeypatch)  # HF's float32 RMSNorm and rotary table, widened: the same arithmetic
    seeds, lrs, steps, batch = (0, 1, 2), (5e-3, 1e-3, 2e-2), (20, 20, 10), 16
    data = [World(WORLD, seed=s).datasets()["pre"].tokens for s in seeds]
    starts = [m.to(dtype) for m in _models(seeds)]
    state = ens.EnsembleState.from_models(starts, dtype=dtype)
    state.share_prefixes = shared
    loop = [copy.deepcopy(m) for m in starts]
    for m, tokens, lr, n, s in zip(loop, data, lrs, steps, seeds, strict=True):
        trajectory.pretrain(m, tokens, steps=n, batch_size=batch, lr=lr, seed=100 + s, loss_from=LOSS_FROM)

    per_member = [ens.pretrain_batches(tokens, steps=n, batch_size=batch, seed=100 + s)
                  for tokens, n, s in zip(data, steps, seeds, strict=True)]
    schedule = ens.member_schedule(per_member)
    lr, total = torch.tensor(lrs, dtype=torch.float64), torch.tensor(steps)
    opt = ens.AdamW.for_members(3)
    ens.fit(state, schedule[:10], (ens.ResponseCE(),), opt, lambda s: ens.linear_decay(lr, total, s),
            loss_from=LOSS_FROM)
    frozen = [t[2].clone() for t in (state.flat.detach(), state.exp_avg, state.exp_avg_sq, state.step)]
    ens.fit(state, schedule[10:], (ens.ResponseCE(),), opt, lambda s: ens.linear_decay(lr, total, s + 10),
            loss_from=LOSS_FROM)

    if dtype == torch.float64:
        assert _worst(state, loop) < RTOL64 and _worst(state, loop, _rel_diff) < RTOL64
    assert _agree(state, loop)
    assert state.step.tolist() == [20, 20, 10]
    now = (state.flat.detach(), state.exp_avg, state.exp_avg_sq, state.step)
    assert all(torch.equal(t[2], f) for t, f in zip(now, frozen, strict=True))  # bit for bit
    assert min(_rel_diff(a, b) for a, b in zip(ens.members_as_trees(state)[0].values(),
                                               params_from_hf(starts[0]).values(), strict=True)) > 1e-3


@SHARED
def test_trajectory_path_spring_anchor_replay_ragged_batches(shared):
    """Three members with their own worlds, learning rates, springs and anchor betas, replay of
    their own D_pre; member 1's first checkpoint cuts a short batch (ragged rows), member 2 stops
    after 10 of 20 steps (its stage is shorter)."""
    seeds, lrs, springs, betas = (0, 1, 2), (1e-3, 4e-3, 2e-3), (0.01, 0.0, 0.003), (0.0, 0.5, 0.2)
    checkpoints, batch, replay_fraction = ([40, 160], [36, 160], [40, 80]), 8, 0.25
    worlds = [World(WORLD, seed=s).datasets() for s in seeds]
    starts, anchors = _models(seeds), _models([50 + s for s in seeds])
    loop = [copy.deepcopy(m) for m in starts]
    for e, m in enumerate(loop):
        terms = ((trajectory.OutputAnchor(anchors[e], betas[e]),) if betas[e] > 0 else ()) + (
            (trajectory.Spring.to(anchors[e], springs[e]),) if springs[e] > 0 else ())  # the loop's order of terms
        objective = trajectory.SFT(terms=terms, replay=trajectory.Replay(worlds[e]["pre"].tokens, replay_fraction))
        trajectory.trajectory(m, worlds[e]["align"].tokens, checkpoints[e], lambda _: {}, lr=lrs[e],
                              batch_size=batch, seed=200 + e, loss_from=LOSS_FROM, objective=objective)

    per_member = [ens.trajectory_batches(worlds[e]["align"].tokens, checkpoints[e], batch_size=batch, seed=200 + e,
                                         replay=worlds[e]["pre"].tokens, replay_fraction=replay_fraction)
                  for e in range(3)]
    assert [len(b) for b in per_member] == [20, 21, 10] and per_member[1][4].tokens.shape[0] == 4 + 1
    state = ens.EnsembleState.from_models(starts)
    state.share_prefixes = shared
    anchor_state = ens.EnsembleState.from_models(anchors)
    terms = (ens.ResponseCE(), ens.Spring(anchor_state.flat.detach(), torch.tensor(springs)),
             ens.OutputAnchor({n: p.detach() for n, p in anchor_state.params().items()}, torch.tensor(betas)))
    lr = torch.tensor(lrs, dtype=torch.float64)
    ens.fit(state, ens.member_schedule(per_member), terms, ens.AdamW.for_members(3), lambda _: lr,
            loss_from=LOSS_FROM)
    assert _agree(state, loop)
    assert state.step.tolist() == [20, 21, 10]


@SHARED
def test_dpo_path(shared):
    seeds, lrs, betas, batch = (0, 1), (2e-3, 5e-3), (0.1, 0.5), 8
    worlds = [World(WORLD, seed=s).datasets() for s in seeds]
    starts = _models(seeds)
    loop = [copy.deepcopy(m) for m in starts]
    for e, m in enumerate(loop):
        trajectory.trajectory(m, worlds[e]["align"].tokens, [160], lambda _: {}, lr=lrs[e], batch_size=batch,
                              seed=e, loss_from=LOSS_FROM,
                              objective=trajectory.DPO(worlds[e]["perturb"].tokens, betas[e]))
    per_member = [ens.trajectory_batches(w["align"].tokens, [160], batch_size=batch, seed=e,
                                         rejected=w["perturb"].tokens) for e, w in enumerate(worlds)]
    state = ens.EnsembleState.from_models(starts)
    state.share_prefixes = shared
    reference = {n: p.detach().clone() for n, p in state.params().items()}
    lr = torch.tensor(lrs, dtype=torch.float64)
    losses = ens.fit(state, ens.member_schedule(per_member), (ens.DPO(reference, torch.tensor(betas)),),
                     ens.AdamW.for_members(2), lambda _: lr, loss_from=LOSS_FROM)
    assert losses.shape == (20, 2) and abs(float(losses[0, 0]) - np.log(2)) < 1e-6  # margin 0 at the start
    assert _agree(state, loop)


def test_optimizer_settings_clipping_and_betas_match_torch():
    """Per-member betas, eps, weight decay and clipping (one member clipped, one not) against
    torch.optim.AdamW + clip_grad_norm_ on the same gradients."""
    generator = torch.Generator().manual_seed(0)
    members = [{"a": torch.randn(3, 4, generator=generator), "b": torch.randn(5, generator=generator)}
               for _ in range(2)]
    settings = [dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0), dict(betas=(0.9, 0.95), eps=1e-8,
                                                                          weight_decay=0.1)]
    clips, lrs = (0.5, float("inf")), (0.01, 0.03)
    targets = [torch.randn(17, generator=generator) * 3 for _ in range(2)]

    reference = []
    for e, tree in enumerate(members):
        params = [p.clone().requires_grad_() for p in tree.values()]
        opt = torch.optim.AdamW(params, lr=lrs[e], **settings[e])
        for _ in range(5):
            loss = ((torch.cat([p.flatten() for p in params]) - targets[e]) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clips[e])
            opt.step()
        reference.append(torch.cat([p.detach().flatten() for p in params]))

    state = ens.EnsembleState(shape=None, names=("a", "b"), shapes=((3, 4), (5,)),
                              flat=torch.stack([torch.cat([p.flatten() for p in m.values()]) for m in members]),
                              exp_avg=torch.zeros(2, 17), exp_avg_sq=torch.zeros(2, 17),
                              step=torch.zeros(2, dtype=torch.float64))
    opt = ens.AdamW.for_members(2, beta1=(0.8, 0.9), beta2=(0.99, 0.95), eps=(1e-6, 1e-8), weight_decay=(0.0, 0.1),
                                max_grad_norm=clips)
    target = torch.stack(targets)
    for _ in range(5):
        grad = 2 * (state.flat - target)
        ens.adamw_update(state, grad, torch.tensor(lrs), opt, torch.tensor([True, True]))
    for e in range(2):
        assert _rel_diff(state.flat[e], reference[e]) < 1e-6  # float32, five steps: a few ulps


def test_export_member_logits_equal_the_ensemble():
    starts = _models((3, 4))
    state = ens.EnsembleState.from_models(starts)
    with torch.no_grad():
        state.flat.add_(0.01 * torch.randn(state.flat.shape, generator=torch.Generator().manual_seed(0)))
    template = build_model(WORLD.vocab_size, WORLD.sequence_length, "tiny", seed=99)
    ids = torch.from_numpy(World(WORLD).datasets()["align"].tokens[:6])
    with torch.no_grad():
        logits = forward_logits(state.params(), torch.stack([ids, ids]), state.shape)
    for e in range(2):
        exported = ens.export_member(state, e, template)
        assert exported is not template
        with torch.no_grad():
            assert _rel_diff(exported(input_ids=ids).logits, logits[e]) < 2e-6  # as test_llama_fn: float32 ulps
    assert torch.equal(template.model.norm.weight, torch.ones(32))  # the template is untouched


def test_breaks_when_the_member_order_or_lr_is_wrong():
    """The equivalence check can fail: swapping two members' learning rates moves the result
    far beyond the tolerance."""
    seeds, batch = (0, 1), 16
    data = [World(WORLD, seed=s).datasets()["pre"].tokens for s in seeds]
    loop = _models(seeds)
    for m, tokens, lr, s in zip(loop, data, (5e-3, 1e-3), seeds, strict=True):
        trajectory.pretrain(m, tokens, steps=5, batch_size=batch, lr=lr, seed=s, loss_from=LOSS_FROM)
    schedule = ens.member_schedule([ens.pretrain_batches(t, steps=5, batch_size=batch, seed=s)
                                    for t, s in zip(data, seeds, strict=True)])
    for lrs, ok in (((5e-3, 1e-3), True), ((1e-3, 5e-3), False)):
        state = ens.EnsembleState.from_models(_models(seeds))
        lr = torch.tensor(lrs, dtype=torch.float64)
        ens.fit(state, schedule, (ens.ResponseCE(),), ens.AdamW.for_members(2),
                lambda s, lr=lr: ens.linear_decay(lr, torch.tensor([5, 5]), s), loss_from=LOSS_FROM)
        assert _agree(state, loop) == ok
        if not ok:
            assert _worst(state, loop) > 1e-2


def test_refusals():
    state = ens.EnsembleState.from_models(_models((0,)))
    batch = ens.collate([ens.MemberBatch(torch.ones(2, WORLD.sequence_length, dtype=torch.long), 2)])
    with pytest.raises(ValueError, match="CUDA"):
        ens.train_step(state, batch, (ens.ResponseCE(),), ens.AdamW.for_members(1), torch.tensor([1e-3]),
                       loss_from=LOSS_FROM, autocast=True)
    with pytest.raises(ValueError, match="at least one member"):
        ens.collate([None])
    with pytest.raises(ValueError, match="beta1"):
        ens.AdamW.for_members(2, beta1=(0.9, 1.0))
    with pytest.raises(ValueError, match="architecture"):
        ens.EnsembleState.from_models([_models((0,))[0], build_model(WORLD.vocab_size + 1, WORLD.sequence_length,
                                                                      "tiny")])


def test_bench_command_reports_both_timings_and_the_difference(capsys):
    import json

    from elasticity.cli import main

    assert main(["bench", "ensemble", "--members", "2", "--steps", "2", "--batch-size", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("members", "steps", "batch_size", "repeats", "threads")} == {
        "members": 2, "steps": 2, "batch_size": 8, "repeats": 3, "threads": 1}
    assert out["ratio"] == pytest.approx(out["loop_seconds"] / out["ensemble_seconds"])
    assert out["ratio_every_row"] == pytest.approx(out["loop_seconds"] / out["ensemble_every_row_seconds"])
    assert out["max_rel_param_diff_every_row"] < ENTRY_RTOL
    assert 0 < out["distinct_prefix_fraction"] < 1  # 8 rows of the default world share BOS at least
    # the same training both ways; ENTRY_RTOL, not RTOL: the bench's first steps at batch 8 are
    # the noisiest case (Adam on near-zero gradients), and another CPU rounds differently
    assert out["max_rel_param_diff"] < ENTRY_RTOL
    assert main(["bench", "ensemble", "--members", "1", "--steps", "1"]) == 0
    assert "without prefix sharing" in capsys.readouterr().out
    assert main(["bench", "ensemble", "--steps", "0"]) == 2
    assert "elasticity: error: " in capsys.readouterr().err


@SHARED
@pytest.mark.parametrize("dpo", [False, True])
def test_member_groups_change_nothing(dpo, shared):
    """A step in groups of members (the CPU default) equals the step of all at once, bit for
    bit: every loss term picks its group's rows of its per-member tensors (with shared prefixes
    a group pads its members' trees to its largest: see the next test for why that changes no bit)."""
    seeds = (0, 1, 2)
    worlds = [World(WORLD, seed=s).datasets() for s in seeds]
    starts, anchors = _models(seeds), _models([50 + s for s in seeds])
    per_member = [ens.trajectory_batches(w["align"].tokens, [40, 48 + 8 * e], batch_size=8, seed=e,
                                         rejected=w["perturb"].tokens if dpo else None) for e, w in enumerate(worlds)]
    anchor_state = ens.EnsembleState.from_models(anchors)
    anchor_tree = {n: p.clone() for n, p in anchor_state.params().items()}
    if dpo:
        terms = (ens.DPO(anchor_tree, torch.tensor([0.1, 0.3, 0.2])),)
    else:
        terms = (ens.ResponseCE(), ens.Spring(anchor_state.flat.clone(), torch.tensor([0.01, 0.0, 0.02])),
                 ens.OutputAnchor(anchor_tree, torch.tensor([0.0, 0.5, 1.0])))
    opt = ens.AdamW.for_members(3, beta1=(0.9, 0.8, 0.85), weight_decay=(0.0, 0.01, 0.1), max_grad_norm=(1.0, 0.1,
                                                                                                         10.0))
    lr = torch.tensor([1e-3, 3e-3, 2e-3], dtype=torch.float64)
    states = []
    for chunk in (None, 1, 2):
        state = ens.EnsembleState.from_models(starts)
        state.member_chunk, state.share_prefixes = chunk, shared
        ens.fit(state, ens.member_schedule(per_member), terms, opt, lambda _: lr, loss_from=LOSS_FROM)
        states.append(state)
    assert states[0].groups(8, WORLD.sequence_length) == [slice(0, 3)]
    assert states[2].groups(8, WORLD.sequence_length) == [slice(0, 2), slice(2, 3)]
    assert states[0].step.tolist() == [6, 7, 8]
    for other in states[1:]:
        for field in ("flat", "exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(getattr(other, field), getattr(states[0], field)), field


@SHARED
def test_a_member_trains_the_same_alone_or_among_others_at_the_pretraining_batch(shared):
    """Bit for bit at the experiments' size (batch 128, 12 members in one group against one alone):
    with shared prefixes the group pads its members' trees to its largest, and every sum over
    nodes is made in NODE_BLOCK blocks in order, so the padding adds exact zeros (a plain batched
    matmul's reduction over another node count rounded differently: measured 4.6e-7)."""
    tokens = World(WORLD, seed=0).datasets()["pre"].tokens
    starts = _models(range(12))

    def trained(members):
        state = ens.EnsembleState.from_models([starts[e] for e in members])
        state.member_chunk, state.share_prefixes = None, shared
        schedule = ens.member_schedule([ens.pretrain_batches(tokens, steps=6, batch_size=128, seed=e)
                                        for e in members])
        lr = torch.full((len(members),), 5e-3, dtype=torch.float64)
        ens.fit(state, schedule, (ens.ResponseCE(),), ens.AdamW.for_members(len(members)), lambda _: lr,
                loss_from=1)
        return state.flat

    assert torch.equal(trained(list(range(12)))[5], trained([5])[0])
