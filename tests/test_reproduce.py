"""`elasticity reproduce`: every plan's configurations are valid before anything runs, and the
cheap steps (audit, theory curves, simulation) write the results their figures need."""

import pytest

from elasticity import reproduce
from empirical import resist
from figures.build import build_all
from harness import presets
from theory import curves as theory_curves


@pytest.mark.parametrize("preset", sorted(reproduce.PLANS))
def test_every_plan_builds_valid_configurations(preset):
    plan = reproduce.PLANS[preset]
    for name, variant in plan.rebound:
        config = reproduce.rebound_config(name, variant)
        first, _ = config.stage_sizes()
        assert config.variant == variant and max(config.q1) <= first
    assert plan.resist in presets.RESIST and resist.n_cells(presets.RESIST[plan.resist]) > 0
    assert plan.counterfactual in presets.COUNTERFACTUAL
    assert plan.theorem in presets.THEOREM


def test_cheap_steps_write_what_the_theory_and_simulation_figures_need(tmp_path, monkeypatch):
    monkeypatch.setitem(reproduce.PLANS, "quick", reproduce.Plan(
        sim_depth=6, sim_replicates=4, convergence_depths=(4, 6), rebound=(), sweep=False, resist="micro",
        counterfactual="micro", theorem="micro"))
    steps = dict(reproduce.steps("quick", tmp_path))
    for name in ("audit", "theory curves", "simulation"):
        steps[name]()
    built, skipped = build_all(tmp_path)
    names = {e["name"] for e in built}
    assert {"theory_sign_plane", "sim_mc_vs_exact", "sim_error_vs_m", "sim_huffman_band"} <= names
    assert {s["figure"] for s in skipped} == {"rebound", "resist", "counterfactual", "theorem", "scaling"}  # not run
    curves = theory_curves.theory_curves()
    assert curves["sign_dgamma_2_dl"]["alpha_star"] == pytest.approx(2.5733, abs=1e-4)  # printed to 4 places


def test_a_long_step_says_it_is_alive_every_interval():
    """The heartbeat speaks at each interval while the block runs and stops when it ends."""
    import time

    said = []
    with reproduce.heartbeat(lambda: said.append(time.perf_counter()), every=0.05):
        time.sleep(0.32)
    count = len(said)
    time.sleep(0.15)
    assert 4 <= count <= 7 and len(said) == count  # about 6 beats in 0.32 s; none after the block
