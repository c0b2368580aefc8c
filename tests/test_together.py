"""The stages of `empirical.together` against their per-model twins in `empirical.trajectory`."""

import copy

import pytest
import torch

from empirical import together, trajectory
from empirical.models import build_model
from empirical.world import World, WorldConfig

WORLD = World(WorldConfig(n_pre=600), seed=0)


def _models(seeds):
    c = WORLD.config
    return [build_model(c.vocab_size, c.sequence_length, "tiny", seed=s) for s in seeds]


def _rel(a, b) -> float:
    with torch.no_grad():
        return max(float((p - q).norm() / q.norm()) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_pretrain_together_is_the_loop_per_model():
    """Three models with their own data, step counts (one stops early) and seeds: each equals
    `trajectory.pretrain` run alone. Tolerance 1e-4 relative per tensor: float32 over 60 AdamW
    steps, where the two differ only in summation order (measured about 1e-6)."""
    seeds, steps = [0, 1, 2], [60, 25, 60]
    data = [WORLD.sample(400, f, 10 + i).tokens for i, f in enumerate((0.2, 0.5, 0.8))]
    loop, batched = _models(seeds), _models(seeds)
    want = [trajectory.pretrain(m, d, steps=n, batch_size=32, lr=5e-3, seed=s)
            for m, d, n, s in zip(loop, data, steps, seeds, strict=True)]
    got = together.pretrain(batched, data, steps=steps, batch_size=32, lr=5e-3, seeds=seeds)
    for a, b in zip(batched, loop, strict=True):
        assert _rel(a, b) < 1e-4
    assert [len(x) for x in got] == [len(x) for x in want] == [3, 2, 3]  # steps 0, 50 and the last; 0 and 24
    for g, w in zip(got, want, strict=True):
        assert max(abs(x - y) for x, y in zip(g, w, strict=True)) < 1e-4


def test_a_model_trains_the_same_alone_or_among_others():
    """Members share nothing: model 1's weights are bit for bit the same in an ensemble of one
    and of three (the experiments group cells freely, so this must hold exactly)."""
    data = [WORLD.sample(400, 0.5, 20 + i).tokens for i in range(3)]
    alone, among = _models([1]), _models([0, 1, 2])
    together.pretrain(alone, data[1:2], steps=[30], batch_size=32, lr=5e-3, seeds=[1])
    together.pretrain(among, data, steps=[30] * 3, batch_size=32, lr=5e-3, seeds=[0, 1, 2])
    assert all(torch.equal(p, q) for p, q in zip(alone[0].parameters(), among[1].parameters(), strict=True))


def test_pretrain_together_refuses_mismatched_inputs():
    models = _models([0, 1])
    before = copy.deepcopy(models[0].state_dict())
    data = [WORLD.sample(100, 0.5, 1).tokens] * 2
    for kwargs in (dict(steps=[5], seeds=[0, 1]), dict(steps=[5, 5], seeds=[0]), dict(steps=[0, 5], seeds=[0, 1])):
        try:
            together.pretrain(models, data, batch_size=8, lr=1e-3, **kwargs)
        except ValueError as err:
            assert "steps" in str(err) or "seed" in str(err)
        else:
            raise AssertionError(f"accepted {kwargs}")
    assert all(torch.equal(v, models[0].state_dict()[k]) for k, v in before.items())  # nothing trained


def _measure(model):
    """A cheap stand-in measurement: the first logit of a fixed input (depends on every layer)."""
    with torch.no_grad():
        return {"probe": float(model(input_ids=torch.tensor([[1, 5, 3, 7, 4, 6, 2]])).logits[0, -1, 0])}


def test_trajectories_together_are_the_loop_per_model():
    """Four runs with their own data, checkpoints (one ends early), learning rates, batch sizes and
    objectives (a spring, an output anchor, replay): each equals `trajectory.trajectory` alone,
    point by point. Tolerances: parameters 1e-4 relative per tensor and measured values 1e-4
    absolute (float32, summation order only; measured about 1e-6); the checkpoints' q exactly."""
    from empirical.trajectory import SFT, OutputAnchor, Replay, Spring

    seeds = [0, 1, 2, 3]
    anchor = _models([9])[0]
    pool = WORLD.sample(300, 0.5, 30).tokens
    objectives = [SFT(), SFT(terms=(Spring.to(anchor, 0.01),)), SFT(terms=(OutputAnchor(anchor, 3.0),)),
                  SFT(replay=Replay(pool, 0.5))]
    checkpoints = [(16, 32, 64), (16, 48), (8, 32, 64), (16, 32, 64)]
    lrs, batches = [1e-3, 3e-3, 2e-3, 1e-3], [16, 16, 8, 16]
    data = [WORLD.sample(64, 0.3 + 0.1 * i, 40 + i).tokens for i in range(4)]
    loop, batched = _models(seeds), _models(seeds)
    kept = {}
    want = [trajectory.trajectory(m, d, q, _measure, lr=lr, batch_size=b, seed=s, loss_from=5, objective=o)
            for m, d, q, lr, b, s, o in zip(loop, data, checkpoints, lrs, batches, seeds, objectives, strict=True)]
    runs = [together.Run(m, d, q, _measure, lr, b, s, 5, o,
                         on_checkpoint=(lambda q, model, point, e=e: kept.setdefault((e, q), copy.deepcopy(model))))
            for e, (m, d, q, lr, b, s, o) in enumerate(zip(batched, data, checkpoints, lrs, batches, seeds, objectives,
                                                           strict=True))]
    got = together.trajectories(runs)
    for a, b in zip(batched, loop, strict=True):
        assert _rel(a, b) < 1e-4
    for g, w in zip(got, want, strict=True):
        assert [p["q"] for p in g] == [p["q"] for p in w]
        for pg, pw in zip(g, w, strict=True):
            for key in ("probe", "param_norm", "relative_update"):
                assert abs(pg[key] - pw[key]) < 1e-4, key
            assert (pg["train_loss_nats"] is None) == (pw["train_loss_nats"] is None)
            if pw["train_loss_nats"] is not None:
                assert abs(pg["train_loss_nats"] - pw["train_loss_nats"]) < 1e-4
    assert sorted(kept) == sorted((e, q) for e, qs in enumerate(checkpoints) for q in (0, *qs))
    assert _measure(kept[1, 48])["probe"] == got[1][-1]["probe"]  # on_checkpoint gets the measured model


def test_trajectories_refuse_what_they_do_not_run():
    from empirical.trajectory import DPO, SFT, Spring

    model, data = _models([0])[0], WORLD.sample(64, 0.5, 1).tokens
    bad = [dict(objective=DPO(data[:8], 0.1)), dict(objective=DPO(data[:, :-1], 0.1)), dict(checkpoints=(32, 16)),
           dict(checkpoints=(65,)),
           dict(objective=SFT(terms=(Spring.to(model, 0.1), Spring.to(model, 0.2)))), dict(objective="sft")]
    for change in bad:
        kwargs = dict(model=model, tokens=data, checkpoints=(16,), measure=_measure, lr=1e-3, batch_size=8, seed=0,
                      loss_from=5)
        try:
            together.trajectories([together.Run(**{**kwargs, **change})])
        except ValueError:
            continue
        raise AssertionError(f"accepted {change}")


def test_enumerated_measures_are_scored_together_as_the_loop_scores_them():
    """Runs whose measure enumerates the world's responses (`measure.Enumerated`) are measured in
    one batched forward of the ensemble; the values equal the loop's HF measurement. Tolerance
    1e-5 on the score and on a single log q: float32 logits (the two forward passes differ in
    summation order, about 1e-7) summed in float64, after identical training within 1e-4."""
    from empirical import measure

    prompts = WORLD.prompts(2)

    def reduce(log_q):
        return {"score": measure.score_from_log_probs(log_q, WORLD)["score"], "log_q_first": float(log_q[1, 0])}

    runs_of = lambda models: [together.Run(m, WORLD.sample(48, 0.5, 50 + e).tokens, (16, 48),  # noqa: E731
                                           measure.Enumerated(WORLD, prompts, reduce), 2e-3, 16, e, 5)
                              for e, m in enumerate(models)]
    loop, batched = _models([0, 1]), _models([0, 1])
    want = [trajectory.trajectory(r.model, r.tokens, r.checkpoints, r.measure, lr=r.lr, batch_size=r.batch_size,
                                  seed=r.seed, loss_from=r.loss_from) for r in runs_of(loop)]
    got = together.trajectories(runs_of(batched))
    for g, w in zip(got, want, strict=True):
        for pg, pw in zip(g, w, strict=True):
            assert pg["q"] == pw["q"]
            assert abs(pg["score"] - pw["score"]) < 1e-5 and abs(pg["log_q_first"] - pw["log_q_first"]) < 1e-5


def test_mixed_objectives_are_refused():
    from empirical.trajectory import DPO

    models, data = _models([0, 1]), WORLD.sample(64, 0.5, 1).tokens
    objectives = (DPO(data, 0.1), trajectory.SFT())
    runs = [together.Run(m, data, (16,), _measure, 1e-3, 8, 0, 5, o) for m, o in zip(models, objectives, strict=True)]
    try:
        together.trajectories(runs)
    except ValueError as err:
        assert "one kind of objective" in str(err)
    else:
        raise AssertionError("trained DPO and SFT members in one step")


def test_dpo_trajectories_together_are_the_loop_per_model():
    """DPO runs (each against its model as it entered the stage) with their own betas, learning
    rates and checkpoints (one ends early): each equals `trajectory.trajectory` alone, point by
    point. Tolerances as above: float32, summation order only (measured about 1e-6)."""
    from empirical.trajectory import DPO

    seeds, betas, lrs, checkpoints = [0, 1, 2], [0.1, 0.5, 0.2], [1e-3, 3e-3, 2e-3], [(16, 48), (16, 32), (8, 48)]
    chosen = [WORLD.sample(48, 1.0, 60 + i).tokens for i in range(3)]
    rejected = [WORLD.sample(48, 0.0, 70 + i).tokens for i in range(3)]
    loop, batched = _models(seeds), _models(seeds)
    want = [trajectory.trajectory(m, c, q, _measure, lr=lr, batch_size=16, seed=s, loss_from=5, objective=DPO(r, b))
            for m, c, r, q, lr, s, b in zip(loop, chosen, rejected, checkpoints, lrs, seeds, betas, strict=True)]
    got = together.trajectories([together.Run(m, c, q, _measure, lr, 16, s, 5, DPO(r, b))
                                 for m, c, r, q, lr, s, b in zip(batched, chosen, rejected, checkpoints, lrs, seeds,
                                                                 betas, strict=True)])
    for a, b in zip(batched, loop, strict=True):
        assert 0 < _rel(a, b) < 1e-4 or _rel(a, b) == 0
    for g, w in zip(got, want, strict=True):
        assert [p["q"] for p in g] == [p["q"] for p in w]
        for pg, pw in zip(g[1:], w[1:], strict=True):
            for key in ("probe", "relative_update", "train_loss_nats"):
                assert abs(pg[key] - pw[key]) < 1e-4, key
    assert all(g[-1]["relative_update"] > 1e-3 for g in got)  # DPO moved every model


def test_fixed_steps_together_are_the_loop_per_model():
    """Every (run, Q) a member trained a fixed number of steps on draws from its first Q
    examples: each point equals `trajectory.fixed_steps` alone, and the models are left as they
    were. Tolerances as above (float32, summation order only)."""
    seeds, lrs, checkpoints = [0, 1], [2e-3, 1e-3], [(8, 32), (16, 24, 48)]
    data = [WORLD.sample(48, 0.4, 80 + i).tokens for i in range(2)]
    loop, batched = _models(seeds), _models(seeds)
    before = [copy.deepcopy(m.state_dict()) for m in batched]
    want = [trajectory.fixed_steps(m, d, q, _measure, steps=12, lr=lr, batch_size=8, seed=s, loss_from=5)
            for m, d, q, lr, s in zip(loop, data, checkpoints, lrs, seeds, strict=True)]
    got = together.fixed_steps([together.Run(m, d, q, _measure, lr, 8, s, 5)
                                for m, d, q, lr, s in zip(batched, data, checkpoints, lrs, seeds, strict=True)], 12)
    for g, w in zip(got, want, strict=True):
        assert [p["q"] for p in g] == [p["q"] for p in w] and sorted(g[0]) == sorted(w[0])
        for pg, pw in zip(g, w, strict=True):
            for key in ("probe", "param_norm", "relative_update"):
                assert abs(pg[key] - pw[key]) < 1e-4, key
    assert len({round(p["probe"], 6) for p in got[1]}) == 4  # each Q trained its own copy
    for m, b in zip(batched, before, strict=True):
        assert all(torch.equal(v, m.state_dict()[k]) for k, v in b.items())


def test_fixed_steps_refuse_what_they_do_not_train_with_either_trainer():
    from empirical.trajectory import DPO, SFT, Spring

    model, data = _models([0])[0], WORLD.sample(64, 0.5, 1).tokens
    for objective, steps in ((DPO(data, 0.1), 3), (SFT(terms=(Spring.to(model, 0.1),)), 3), (SFT(), 0)):
        run = together.Run(model, data, (16,), _measure, 1e-3, 8, 0, 5, objective)
        for trainer in ("ensemble", "loop"):
            with pytest.raises(ValueError):
                together.fixed_steps_by(trainer, [run], steps)


def test_the_trainer_dispatch_refuses_an_unknown_trainer():
    for call in (lambda: together.trajectories_by("fast", []), lambda: together.fixed_steps_by("fast", [], 3),
                 lambda: together.pretrain_by("fast", [], [], steps=[], batch_size=1, lr=1e-3, seeds=[])):
        try:
            call()
        except ValueError as err:
            assert "trainer" in str(err)
        else:
            raise AssertionError("accepted trainer 'fast'")
