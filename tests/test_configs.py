"""Configs as plain data: nested overrides, YAML round trips, and validation of every field
before anything runs."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import configs, overrides, presets

MICRO = presets.REBOUND["micro"]


def test_nested_overrides_and_lists():
    c = overrides.with_overrides(MICRO, ["world.n_pre=2000", "q1=50,100", "controls=false", "first_lr=1e-4"])
    assert c.world.n_pre == 2000 and c.q1 == (50, 100) and c.controls is False and c.first_lr == 1e-4
    assert c.world.n_align == MICRO.world.n_align  # the rest kept


@pytest.mark.parametrize("assignment, message", [
    ("pretrain.lr=nan", "must be a finite number"),
    ("pretrain.lr=inf", "must be a finite number"),
    ("pretrain.lr=-1e-3", r"pretrain: lr must be a number in \(0, 1\], got -0.001"),
    ("first_lr=0", r"first_lr must be a number in \(0, 1\], got 0.0"),
    ("batch_size=0", r"batch_size must be an integer in \[1, 65536\], got 0"),
    ("pretrain.steps=-1", r"pretrain: steps must be an integer in \[1, 1e\+07\], got -1"),
    ("seeds=-1", r"seeds has a value -1 that is not an integer in \[0, "),
    ("dpo_beta=-1", r"dpo_beta must be a number in \(0, 100\], got -1.0"),
    ("max_new_tokens=0", "max_new_tokens must be an integer in"),
    ("q1=50,50", r"q1 has equal values \[50\]"),
    ("q2=", "q2 needs 1 to 10000 values, got 0"),
    ("q1=1.5", "cannot read '1.5' as an integer"),
    ("controls=maybe", "cannot read 'maybe' as true/false"),
    ("nonsense=1", "unknown field 'nonsense'"),
    ("world.nonsense=1", "unknown field 'world.nonsense'"),
    ("world=3", "is a group of fields"),
    ("q1.x=3", "has no sub-fields"),
    ("world.alpha=1", r"alpha must be a number in \(1, 100\]"),
    ("world.seed=-2", r"seed must be an integer in \[0, "),
    ("variant=rlhf", "variant must be one of sft, dpo, reversed"),
    ("q2=16,100000", "Q2 = 100000 is larger than the second-stage set"),
    ("pretrain.steps", "FIELD=VALUE"),
])
def test_bad_overrides_are_refused_with_the_field_named(assignment, message):
    with pytest.raises(ValueError, match=message):
        overrides.with_overrides(MICRO, [assignment])


def test_resist_refuses_warmup_without_a_real_model():
    with pytest.raises(ValueError, match="warmup_data_dir applies only to a real model"):
        overrides.with_overrides(presets.RESIST["micro"], ["warmup_data_dir=/nonexistent"])


def test_direct_construction_is_validated_too():
    with pytest.raises(ValueError, match="second_lr must be a finite number"):
        dataclasses.replace(MICRO, second_lr=float("nan"))
    with pytest.raises(ValueError, match="seeds has equal values"):
        dataclasses.replace(MICRO, seeds=(0, 0))


@pytest.mark.parametrize("experiment, preset", [(e, p) for e, ps in presets.names().items() for p in ps])
def test_every_preset_round_trips_through_yaml(tmp_path, experiment, preset):
    config = presets.get(experiment, preset)
    path = tmp_path / "c.yaml"
    path.write_text(overrides.to_yaml(config))
    assert overrides.load_yaml(type(config), path) == config


def test_yaml_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("q1: [50, 50]\n")
    with pytest.raises(ValueError, match=f"--config {bad}: q1 has equal values"):
        overrides.load_yaml(configs.ReboundConfig, bad)
    bad.write_text("world: {alpha: abc}\n")
    with pytest.raises(ValueError, match=r"world.alpha: cannot read 'abc'"):
        overrides.load_yaml(configs.ReboundConfig, bad)
    bad.write_text("q1: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        overrides.load_yaml(configs.ReboundConfig, bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        overrides.load_yaml(configs.ReboundConfig, bad)
    with pytest.raises(ValueError, match="cannot read"):
        overrides.load_yaml(configs.ReboundConfig, tmp_path / "missing.yaml")


def test_yaml_keeps_omitted_fields_at_their_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("variant: dpo\nworld:\n  n_pre: 3000\n")
    c = overrides.load_yaml(configs.ReboundConfig, path)
    assert c.variant == "dpo" and c.world.n_pre == 3000 and c.q1 == configs.ReboundConfig().q1


@given(st.lists(st.integers(1, 50), min_size=2, max_size=6, unique=True))
def test_tuple_fields_parse_any_list(values):
    c = overrides.with_overrides(MICRO, [f"q2={','.join(map(str, values))}"])
    assert c.q2 == tuple(sorted(values))  # an order-free grid is kept sorted (one run id per grid)


def test_differing_fields_names_nested_paths():
    a = MICRO.as_dict()
    b = overrides.with_overrides(MICRO, ["world.n_pre=1600", "second_lr=0.01"]).as_dict()
    assert overrides.differing_fields(a, b) == ["second_lr", "world.n_pre"]


def test_known_fields_lists_nested_ones():
    names = overrides.known_fields(configs.ReboundConfig)
    assert "world.n_pre" in names and "q1" in names and "world" not in names


@pytest.mark.parametrize("calibration, confirmatory", [("calibration", "cpu-standard"),
                                                       ("gpu-calibration", "gpu-scale")])
def test_each_confirmatory_preset_has_its_own_calibration(calibration, confirmatory):
    """The same world, model and training on disjoint seeds; the calibration's Q2 grid holds the
    confirmatory window and scans anchor strengths; the confirmatory run has 48 seeds."""
    cal, conf = presets.COUNTERFACTUAL[calibration], presets.COUNTERFACTUAL[confirmatory]
    assert set(cal.seeds).isdisjoint(conf.seeds) and len(conf.seeds) >= 48
    assert (cal.world, cal.model_size, cal.pretrain, cal.q1_dose, cal.q1_max) == (
        conf.world, conf.model_size, conf.pretrain, conf.q1_dose, conf.q1_max)
    assert set(conf.primary_endpoint.q2) <= set(cal.q2) and len(cal.anchor_beta) >= 3
    assert conf.anchor_beta and not conf.placebo and conf.k_sizes == ()
