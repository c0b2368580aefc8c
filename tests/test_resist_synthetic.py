"""The exact distances of the synthetic resist path on laws worked by hand."""

import numpy as np
import pytest

from empirical import resist_synthetic


def test_distance_renormalizes_both_laws_alike_and_reports_the_valid_mass():
    """Target (0.5, 0.5); the model puts 0.2 of its mass outside the valid responses, and its valid
    mass splits 0.6 / 0.2, i.e. (0.75, 0.25) renormalized: KL = 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25)."""
    target = np.log([[0.5, 0.5]])
    model = np.log([[0.6, 0.2]])
    before = np.log([[0.1, 0.4]])  # renormalized: (0.2, 0.8)
    got = resist_synthetic._distance(target, model, before, tokens=2)
    kl = 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)
    kl_before = 0.5 * np.log(0.5 / 0.2) + 0.5 * np.log(0.5 / 0.8)  # unrenormalized it would be this + log 2
    assert got["kl_nats"] == pytest.approx(kl, rel=1e-12)
    assert got["kl_before_nats"] == pytest.approx(kl_before, rel=1e-12)
    assert got["relative"] == pytest.approx(kl / kl_before, rel=1e-12)
    assert got["valid_mass"] == pytest.approx(0.8, rel=1e-12)
    assert got["nats"] == pytest.approx((np.log(2) + kl) / 2, rel=1e-12)  # (entropy + KL) per token


def test_distance_of_a_law_to_itself_is_zero_whatever_its_valid_mass():
    target = np.log([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    got = resist_synthetic._distance(target, target + np.log(0.3), np.log([[0.2, 0.2, 0.6]] * 2), tokens=3)
    assert got["kl_nats"] == pytest.approx(0.0, abs=1e-12) and got["valid_mass"] == pytest.approx(0.3)


def test_the_real_paths_measure_each_model_on_the_right_answers(monkeypatch):
    """Table 2's targets, pinned: the inverse path theta'_ji starts from theta_j, learns theta_i's
    answers and is measured on theta_i's test answers (H(theta_i, theta'_ji)); the forward path the
    other way round. Every model and answer list is a tag here, so a swap of any of them shows."""
    from empirical import resist_real

    paths = object.__new__(resist_real.Paths)  # no model or data: the bookkeeping alone
    monkeypatch.setattr(paths, "_parts", lambda seed: [[(f"p{k}", f"c{k}")] for k in range(4)], raising=False)
    monkeypatch.setattr(paths, "thetas", lambda seed, parts: [f"theta{n}" for n in range(4)], raising=False)
    monkeypatch.setattr(paths, "generations", lambda seed, n, model, prompts: {
        "train": [f"train-of-{model}"], "test": [f"test-of-{model}"]}, raising=False)
    monkeypatch.setattr(paths, "_path", lambda start, answers, prompts, seed, name: f"{start}+{answers[0]}",
                        raising=False)
    measured = {}

    def cross_entropy(model, answers):
        measured[(model, answers[0])] = len(measured) + 1.0
        return measured[(model, answers[0])]

    monkeypatch.setattr(paths, "_cross_entropy", cross_entropy, raising=False)
    got = paths.run_pair(seed=0, i=1, j=3, key="s0-pair_13")
    assert got["inverse_nats"] == measured[("theta3+train-of-theta1", "test-of-theta1")]
    assert got["forward_nats"] == measured[("theta1+train-of-theta3", "test-of-theta3")]
    assert got["inverse_before_nats"] == measured[("theta3", "test-of-theta1")]
    assert got["forward_before_nats"] == measured[("theta1", "test-of-theta3")]
