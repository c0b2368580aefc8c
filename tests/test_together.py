"""The stages of `empirical.together` against their per-model twins in `empirical.trajectory`."""

import copy

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
