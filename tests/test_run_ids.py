"""Run ids are how a finished result is found again: a refactoring that changed them would
orphan every stored run (and a change that should change them but does not would serve old
numbers). Pinned here; change a value only with a change of configuration that must change it,
and say so in the commit (the nested ``pretrain`` config changed the experiments' ids once; resist's
``no_pretraining`` control changed resist's once more; rebound's protocol version 2, the format-only
control, changed rebound's; resist's protocol version 2 and Table 1's values as the defaults of its
real-model fields changed resist's; rebound's protocol version 3, a start within float32 rounding of
its reference never crossing, changed rebound's)."""

import pytest

from elasticity import runs
from harness import presets, store

EXPERIMENT_IDS = {  # since the trainer field (ensemble or loop; before it: the nested PretrainConfig, resist's
    # no_pretraining and rebound's protocol version 2) and rebound's protocol version 3
    ("rebound", "micro"): "micro-sft-b28a516aed",
    ("rebound", "quick"): "quick-sft-349101e272",
    ("resist", "micro"): "micro-75b8014b18",
    ("resist", "quick"): "quick-edfa2c086c",
    ("resist", "paper"): "paper-733a0a7376",
}


@pytest.mark.parametrize("experiment, preset", sorted(EXPERIMENT_IDS))
def test_preset_run_ids_are_pinned(experiment, preset):
    config = presets.get(experiment, preset)
    got = (runs.experiment_run_id(preset, config) if experiment == "rebound"
           else store.default_run_id(preset, config.as_dict()))
    assert got == EXPERIMENT_IDS[experiment, preset]


def test_theory_and_simulation_run_ids_are_pinned():
    """Unchanged since before the harness left the app (the fixtures' sim-check id)."""
    config = runs.sim_check_config(3.0, 100.0, 0.0, 14, 30, 0)
    assert runs.sim_check_run_id(config) == "a3-k100-l0-d14-r30-s0-d635cbc7c2"
    grid = {"alpha": [2.0, 3.0], "k": [1.0, 10.0], "l": 0.0, "derivatives": False}
    assert store.default_run_id("x", grid) == "x-5a91c61f69"


def test_a_changed_field_changes_the_run_id():
    from harness import overrides

    config = presets.get("resist", "micro")
    moved = overrides.with_overrides(config, ["pretrain.steps=101"])
    assert store.default_run_id("micro", moved.as_dict()) != EXPERIMENT_IDS["resist", "micro"]


@pytest.mark.parametrize("experiment, preset, first, second", [
    ("rebound", "micro", ["q2=64,16", "seeds=1,0"], ["q2=16,64", "seeds=0,1"]),
    ("resist", "micro", ["seeds=2,0,1"], ["seeds=0,1,2"]),
    ("counterfactual", "micro", ["fractions=0.8,0.2", "spring=3,0", "anchor_beta=30,3,10", "q2=256,128,16",
                                 "primary_endpoint.q2=256,128"],
     ["fractions=0.2,0.8", "spring=0,3", "anchor_beta=3,10,30", "q2=16,128,256", "primary_endpoint.q2=128,256"]),
])
def test_grid_order_does_not_change_the_run(experiment, preset, first, second):
    """Grids whose order means nothing are sorted when the config is built: one run, one id."""
    from harness import overrides

    a, b = (overrides.with_overrides(presets.get(experiment, preset), x) for x in (first, second))
    assert a == b and store.default_run_id(preset, a.as_dict()) == store.default_run_id(preset, b.as_dict())
