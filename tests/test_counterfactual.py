"""The counterfactual experiment end to end on the micro preset, the world it runs on (structure,
common random numbers), and the trajectory training it is built from."""

import copy
import dataclasses
import json

import numpy as np
import pytest

from console import run_cli
from elasticity import export, runs
from empirical import counterfactual_arms, counterfactual_stats, measure, statistics, trajectory
from empirical.models import build_model
from empirical.world import World, information, kl_nats
from harness import overrides, presets, store
from harness.configs import WorldConfig

MICRO = presets.COUNTERFACTUAL["micro"]


def test_micro_end_to_end_through_the_cli(tmp_path):
    out = run_cli("counterfactual", "--preset", "micro", "--results", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["verdict"] in statistics.VERDICTS and doc["effect"]["n_seeds"] == 3
    low, high = doc["effect"]["ci95"]
    assert low <= doc["effect"]["mean"] <= high
    assert doc["minimal_detectable_effect"] > 0
    assert [row["spring"] for row in doc["positive_controls"]["spring"]] == [3.0]
    assert [row["anchor_beta"] for row in doc["positive_controls"]["in_window"]] == list(MICRO.anchor_beta)
    assert doc["primary_endpoint"]["q2"] == list(MICRO.primary_endpoint.q2) and doc["sesoi"] == MICRO.sesoi
    steps_row, joint_row = doc["effective_k"]  # micro: the full D_pre, aligned after and trained jointly
    assert (steps_row["k_mode"], joint_row["k_mode"]) == ("steps", "joint")
    for k in (steps_row, joint_row):
        assert k["nominal_k"] == MICRO.world.n_pre / MICRO.q1_dose
        assert k["predicted"] == pytest.approx(k["nominal_k"], rel=1e-9)  # the theorem's identity on the world
    folder = tmp_path / "counterfactual" / doc["run_id"]
    assert sorted(p.stem for p in (folder / "cells").glob("*.json")) == sorted(
        [f"s{s}-f{f}" for s in range(3) for f in ("0.2", "0.8")] + [f"s{s}-joint-n5000" for s in range(3)])
    joint = json.loads((folder / "cells" / "s0-joint-n5000.json").read_text())["record"]
    assert joint["align"]["dose"] == {"q1": MICRO.q1_dose, "score": joint["pretrain"]["score"],
                                      "relative_update": 0.0, "reached_target": False, "joint": True}
    assert joint_row["aligned_score"] == pytest.approx(np.mean([json.loads(
        (folder / "cells" / f"s{s}-joint-n5000.json").read_text())["record"]["pretrain"]["score"] for s in range(3)]))
    cell = json.loads((folder / "cells" / "s0-f0.2.json").read_text())["record"]
    assert cell["align"]["dose"]["q1"] == MICRO.q1_dose
    curve = counterfactual_stats.path(cell, "target", 0.001)
    assert [p["q"] for p in curve] == [0, *MICRO.q2]
    assert all(0 <= p["score"] <= 1 and p["valid_mass"] > 0.5 for p in curve)
    assert curve[-1]["relative_update"] > 0 and [row["spring"] for row in cell["spring"]] == [3.0]
    assert [row["anchor_beta"] for row in cell["anchor"]] == list(MICRO.anchor_beta)
    assert "dose_arm" in json.loads((folder / "cells" / "s0-f0.8.json").read_text())["record"]  # the middle f
    table = export.table(folder)  # the cells as a typed table: one column per axis
    assert str(table["q2"].dtype) == "Int64" and str(table["second_lr"].dtype) == "float64"
    assert set(table["stage"]) == {"align", "perturb"} and set(table["anchor_beta"].dropna()) == set(MICRO.anchor_beta)
    row = table[(table["cell"] == "s0-f0.2") & (table["variant"] == "target") & table["control"].isna()
                & (table["q2"] == MICRO.q2[1])]
    assert row["score"].tolist() == [curve[2]["score"]]
    again = run_cli("counterfactual", "--preset", "micro", "--results", str(tmp_path), "--json")
    assert json.loads(again.stdout)["effect"] == doc["effect"] and "read back" in again.stderr


@pytest.mark.parametrize("trainer", ["loop", "ensemble"])
def test_the_k_axis_arms_pretrain_on_what_their_mode_says(monkeypatch, trainer):
    """steps: every size the config's steps; epochs: steps in proportion to |D_pre|; joint: D_pre
    with the first q1_dose alignment examples appended, the config's steps, and no alignment after
    (whichever trainer pre-trains)."""
    from empirical import counterfactual, together

    config = overrides.with_overrides(MICRO, ["seeds=0", "k_sizes=1000", "k_mode=both", "q1_max=64",
                                              "anchor_beta=", "spring=0", "dose_align_lr=0", f"trainer={trainer}"])
    assert [(a.name, a.mode, a.n_pre) for a in counterfactual_arms.arms(config)] == [
        ("f0.2", "steps", 5000), ("f0.8", "steps", 5000), ("n1000", "steps", 1000),
        ("n1000-epochs", "epochs", 1000), ("joint-n1000", "joint", 1000), ("joint-n5000", "joint", 5000)]
    seen = {}

    def pretrain(model, tokens, *, steps, **_):
        seen["rows"], seen["steps"] = tokens, steps
        return []

    def pretrain_together(models, datasets, *, steps, **_):
        assert len(models) == len(datasets) == len(steps) == 1  # run_arm: one cell
        return [pretrain(models[0], datasets[0], steps=steps[0])]

    monkeypatch.setattr(trajectory, "pretrain", pretrain)
    monkeypatch.setattr(together, "pretrain", pretrain_together)
    world = World(config.world, 0)
    d_align = world.sample(config.world.n_align, 1.0, counterfactual_arms.ALIGN_STREAM).tokens
    expected = {"n1000": (1000, 150), "n1000-epochs": (1000, 30), "joint-n1000": (1000 + config.q1_dose, 150)}
    for arm in counterfactual_arms.arms(config)[2:5]:
        record = counterfactual.run_arm(config, 0, arm)
        assert (len(seen["rows"]), seen["steps"]) == expected[arm.name] == (len(seen["rows"]), record["pretrain_steps"])
        if arm.mode == "joint":  # the alignment dose is in D_pre, and nothing is aligned after
            assert np.array_equal(seen["rows"][-config.q1_dose:], d_align[:config.q1_dose])
            assert record["align"]["points"] == [] and record["align"]["dose"]["joint"]
        else:
            assert len(record["align"]["points"]) > 1


def test_the_arms_differ_only_in_which_examples_are_positive():
    world = World(WorldConfig(n_pre=2000), 3)
    low, high = world.sample(2000, 0.2, 10), world.sample(2000, 0.8, 10)
    assert low.positive.sum() == 400 and high.positive.sum() == 1600  # exact shares
    assert (low.positive <= high.positive).all()  # nested positive sets
    both = low.positive == high.positive
    assert np.array_equal(low.tokens[both], high.tokens[both])  # same draw wherever the label agrees
    prompts = slice(1, 1 + world.config.prompt_length)
    assert np.array_equal(low.tokens[:, prompts], high.tokens[:, prompts])


def test_every_seed_draws_its_own_world_and_the_default_has_structure():
    for seed in range(5):
        info = information(World(WorldConfig(), seed), 0.2, (0.2, 0.8))
        assert info["kl_pre_to_uniform_nats_per_token"] >= 0.2  # the design target (issue: >= 0.2)
    a, b = World(WorldConfig(), 0), World(WorldConfig(), 1)
    assert not np.array_equal(a.p_pos, b.p_pos)
    p = a.response_distribution(0.3)
    assert information(a, 0.3)["entropy_nats_per_token"]["pre"] == pytest.approx(
        -(p[p > 0] * np.log(p[p > 0])).sum() / 4, rel=1e-12)
    assert kl_nats(p, p) == 0 and kl_nats(a.p_pos, a.p_neg) == float("inf")


def test_a_pretrained_model_captures_most_of_the_structure():
    info = runs.world_information(WorldConfig(), 0, (), {"steps": 300, "batch_size": 128, "lr": 5e-3,
                                                          "model_size": "tiny"})
    got = info["pretrained"]
    assert got["excess_nats_per_token"]["pre"] < info["kl_pre_to_uniform_nats_per_token"] / 2
    assert got["excess_nats_per_token"]["pre"] > -1e-9  # a model cannot beat the entropy of the law


@pytest.fixture(scope="module")
def small():
    world = World(WorldConfig(n_pre=500, n_align=64, n_perturb=64), 0)
    model = build_model(world.config.vocab_size, world.config.sequence_length, "tiny", 0)
    prompts = np.full((1, 1), 4)

    def measure_model(m):
        return measure.law_measures(measure.response_log_probs(m, world, prompts), world, world.laws())

    return world, model, measure_model


def _run(small, checkpoints, *terms, replay=None):
    world, model, measure_model = small
    m = copy.deepcopy(model)
    data = world.sample(64, 0.0, 13).tokens
    return trajectory.trajectory(m, data, checkpoints, measure_model, lr=1e-2, batch_size=16, seed=0,
                                 loss_from=world.config.response_start,
                                 objective=trajectory.SFT(terms=terms, replay=replay)), m


def test_a_trajectory_is_one_path_measured_at_its_checkpoints(small):
    both, _ = _run(small, (16, 48))
    last, _ = _run(small, (48,))
    assert [p["q"] for p in both] == [0, 16, 48] and [p["q"] for p in last] == [0, 48]
    assert both[-1]["score"] == last[-1]["score"]  # measuring at 16 does not move the path
    assert both[0]["relative_update"] == 0 and both[1]["relative_update"] < both[2]["relative_update"]


def test_a_spring_holds_the_weights_and_zero_spring_is_no_spring(small):
    _, model, _ = small
    plain, _ = _run(small, (64,))
    zero, _ = _run(small, (64,), trajectory.Spring.to(model, 0.0))
    held, _ = _run(small, (64,), trajectory.Spring.to(model, 100.0))
    assert zero[-1] == plain[-1]
    assert held[-1]["relative_update"] < 0.5 * plain[-1]["relative_update"]


def test_the_output_anchor_holds_the_predictions_and_its_first_step_is_plain(small):
    """KL(model || anchor) is 0 with zero gradient where the model is the anchor: the first step
    equals the plain one; afterwards it keeps the model's law nearer the anchor's (the law's KL to
    the starting model, by enumeration) than the plain path does."""
    world, model, measure_model = small
    plain, moved_plain = _run(small, (16, 64))
    held, moved_held = _run(small, (16, 64), trajectory.OutputAnchor(model, 30.0))
    assert held[1]["param_norm"] == pytest.approx(plain[1]["param_norm"], rel=1e-6)  # one step: same update
    zero, _ = _run(small, (16, 64), trajectory.OutputAnchor(model, 0.0))
    assert zero[-1] == plain[-1]

    def kl_to_start(m):
        prompts = np.full((1, 1), 4)
        p = np.exp(measure.response_log_probs(model, world, prompts))
        q = np.exp(measure.response_log_probs(m, world, prompts))
        return float((q * (np.log(q) - np.log(p))).sum())

    assert kl_to_start(moved_held) < 0.5 * kl_to_start(moved_plain)
    assert held[-1]["score"] > plain[-1]["score"]  # the anchor was pre-trained on both styles


def test_replay_mixes_the_pool_in(small):
    world, _, _ = small
    plain, _ = _run(small, (64,))
    pool = world.sample(200, 1.0, 12).tokens  # replaying positives keeps the score up
    mixed, _ = _run(small, (64,), replay=trajectory.Replay(pool, 0.75))
    assert mixed[-1]["score"] > plain[-1]["score"]


def test_fixed_steps_leaves_the_model_and_trains_copies(small):
    world, model, measure_model = small
    before = [p.detach().clone() for p in model.parameters()]
    points = trajectory.fixed_steps(model, world.sample(64, 0.0, 13).tokens, (8, 64), measure_model, steps=4,
                                    lr=1e-2, batch_size=8, seed=0, loss_from=world.config.response_start)
    assert [p["q"] for p in points] == [0, 8, 64]
    assert all((a == b).all() for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("kw, message", [({"lr": float("nan")}, "learning rate"),
                                         ({"batch_size": 0}, "batch_size >= 1")])
def test_trajectory_refuses_bad_arguments(small, kw, message):
    world, model, measure_model = small
    args = {"lr": 1e-2, "batch_size": 8, "seed": 0, "loss_from": world.config.response_start} | kw
    with pytest.raises(ValueError, match=message):
        trajectory.trajectory(model, world.sample(16, 0.0, 1).tokens, (16,), measure_model, **args)


def test_replay_refuses_an_empty_pool():
    """The composed objective: a spring, an anchor and replay are terms of SFT; DPO takes none of
    them by construction (its dataclass has no such fields)."""
    with pytest.raises(ValueError, match="non-empty pool"):
        trajectory.Replay(np.zeros((0, 4), dtype=np.int64), 0.5)
    assert {f.name for f in dataclasses.fields(trajectory.DPO)} == {"rejected", "dpo_beta"}


def test_trajectory_refuses_checkpoints_beyond_the_data(small):
    with pytest.raises(ValueError, match=r"checkpoints must lie in \[1, 64\]"):
        _run(small, (128,))


def test_bad_counterfactual_configs():
    for assignment, message in [("fractions=0.5", "fractions needs 2 to"), ("q1_dose=1000", "q1_dose <= q1_max"),
                                ("q2=1,2,4096", "larger than the perturbation set"),
                                ("target_score=1", "target_score"), ("k_sizes=5000", "must not repeat"),
                                ("k_fit_points=9", "k_fit_points"), ("spring=-1", "spring has a value -1.0")]:
        with pytest.raises(ValueError, match=message):
            overrides.with_overrides(MICRO, [assignment])


def test_the_result_is_refused_for_another_configuration(tmp_path):
    config = overrides.with_overrides(MICRO, ["seeds=0,1", "spring=0", "q2=16,128", "pretrain.steps=20",
                                              "q1_max=64"])
    out = runs.counterfactual(config, results=tmp_path, run_id="x")
    assert store.read_result(out.path, experiment="counterfactual")["effect"]["n_seeds"] == 2
    with pytest.raises(store.StoreError, match=r"differs in: pretrain.steps"):
        runs.counterfactual(overrides.with_overrides(config, ["pretrain.steps=21"]), results=tmp_path,
                            run_id="x")


def test_the_two_trainers_give_the_same_cell_within_float32_rounding():
    """One cell run by the ensemble trainer and by the loop (the reference): the same record,
    number for number, up to float32 summation order. Tolerance 1e-3 on scores: rounding of
    about 1e-6 per step, amplified by the 150 + 64 + 128 steps of the three stages (measured
    7.1e-4 with shared prefixes, the ensemble's default; about 1e-5 computing every row); the
    checkpoints and the kept models' q1 exactly."""
    from empirical import counterfactual

    config = overrides.with_overrides(MICRO, ["seeds=0", "q1_max=64", "anchor_beta=3", "spring=0"])
    arm = counterfactual_arms.arms(config)[0]
    loop, batched = (counterfactual.run_arm(overrides.with_overrides(config, [f"trainer={t}"]), 0, arm)
                     for t in ("loop", "ensemble"))
    assert abs(loop["pretrain"]["score"] - batched["pretrain"]["score"]) < 1e-3
    assert [p["q"] for p in loop["align"]["points"]] == [p["q"] for p in batched["align"]["points"]]
    assert loop["align"]["target"]["q1"] == batched["align"]["target"]["q1"]
    for name in ("perturb", "anchor"):
        for a, b in zip(loop[name], batched[name], strict=True):
            assert [p["q"] for p in a["points"]] == [p["q"] for p in b["points"]]
            assert max(abs(p["score"] - q["score"]) for p, q in zip(a["points"], b["points"], strict=True)) < 1e-3
