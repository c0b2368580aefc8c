"""Statistics and verdicts on constructed inputs: intervals against scipy, pairing by seed, the
minimal detectable effect against the noncentral t, and the counterfactual summary on records
whose effect is known (a broken pairing or sign fails here)."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

from empirical import counterfactual, counterfactual_arms, counterfactual_stats, statistics
from empirical.world import World
from harness import overrides, presets
from harness.records import one


@pytest.mark.parametrize("values", [[1.0, 2.0], [0.3, -1.2, 4.5, 2.2, 0.0], list(np.linspace(-3, 9, 17))])
def test_mean_ci_is_scipys_t_interval(values):
    got = statistics.mean_ci(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert got["ci95"] == pytest.approx([lo, hi], rel=1e-12)  # same formula, other route: rounding only
    assert got["n"] == len(values) and got["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)


def test_one_seed_has_no_interval():
    assert statistics.mean_ci([0.7]) == {"mean": 0.7, "ci95": None, "n": 1, "sd": None}
    assert statistics.verdict(None) == "not resolved"
    assert statistics.minimal_detectable_effect(None, 1) is None


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [[1.0, 2.0]]])
def test_mean_ci_refuses_bad_input(bad):
    with pytest.raises(ValueError):
        statistics.mean_ci(bad)


@given(st.floats(-1, 1), st.lists(st.floats(-100, 100), min_size=3, max_size=12))
def test_a_constant_paired_effect_survives_any_between_seed_spread(effect, levels):
    """Arms that share a seed share its level; the paired difference is exactly the effect,
    with a zero-width interval, however much the seeds differ. A pairing across seeds breaks it."""
    a = {s: level + effect for s, level in enumerate(levels)}
    b = dict(enumerate(levels))
    got = statistics.paired(a, b)
    assert got["mean"] == pytest.approx(effect, abs=1e-9)  # float rounding of level + effect - level
    assert got["ci95"][1] - got["ci95"][0] == pytest.approx(0.0, abs=1e-8)


def test_pairing_refuses_arms_with_other_seeds():
    with pytest.raises(ValueError, match="same seeds"):
        statistics.paired({0: 1.0, 1: 2.0}, {0: 1.0, 2: 2.0})


@pytest.mark.parametrize("ci, expected", [([0.1, 0.3], "elasticity"), ([-0.3, -0.01], "opposite"),
                                          ([-0.1, 0.2], "not resolved"), ([0.0, 0.2], "not resolved"),
                                          (None, "not resolved")])
def test_verdicts(ci, expected):
    assert statistics.verdict(ci) == expected


@pytest.mark.parametrize("n", [5, 10, 30])
def test_minimal_detectable_effect_has_the_stated_power(n):
    """At a true mean equal to the MDE, a two-sided 5% t-test rejects with probability ~0.8
    (the formula is the standard approximation; exact power from the noncentral t within 0.02)."""
    sd = 0.37
    mde = statistics.minimal_detectable_effect(sd, n)
    crit = stats.t.ppf(0.975, n - 1)
    nc = mde * math.sqrt(n) / sd
    power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert power == pytest.approx(0.8, abs=0.02)


def _fieller_set_contains(num, den, r) -> bool:
    """Fieller's set written from its definition: r is inside when mean(num) - r mean(den) is not
    significantly different from 0 (two-sided 5% t-test on the per-seed values num - r den)."""
    d = np.asarray(num) - r * np.asarray(den)
    return abs(d.mean()) <= stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)


@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(0.5, 3)), min_size=3, max_size=12))
def test_fieller_interval_is_the_set_its_definition_gives(pairs):
    """The interval's ends are the boundary of the defining set: just inside at the ends, outside
    beyond them (a grid check against the t-test, independent of the closed form)."""
    num, den = (np.array(x) for x in zip(*pairs, strict=True))
    assume(np.ptp(num) > 1e-3 and np.ptp(den) > 1e-3)  # a constant column makes the set degenerate
    got = statistics.fieller(num, den)
    assert got["mean"] == pytest.approx(num.mean() / den.mean(), rel=1e-12)
    if got["ci95"] is None:
        assert got["undefined"]
        return
    low, high = got["ci95"]
    width = max(high - low, 1e-9)
    # inside near both ends and at the estimate; outside a little beyond each end (tolerance: 1e-6 of
    # the width keeps the test clear of rounding in the square root at the boundary)
    for r in (low + 1e-6 * width, high - 1e-6 * width, got["mean"]):
        assert _fieller_set_contains(num, den, r)
    for r in (low - 1e-3 * width, high + 1e-3 * width):
        assert not _fieller_set_contains(num, den, r)


def test_fieller_is_undefined_when_the_denominator_may_be_zero():
    got = statistics.fieller([1.0, 2.0, 1.5], [1.0, -1.0, 0.2])
    assert got["ci95"] is None and "not significantly different from 0" in got["undefined"]
    assert statistics.fieller([1.0], [2.0])["ci95"] is None  # one seed: no interval
    den = [1.0, 1.1, 0.9, 1.05, 0.95]
    assert statistics.fieller([2 * d for d in den], den)["ci95"] == pytest.approx([2.0, 2.0])  # an exact ratio
    assert statistics.fieller([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])["ci95"] is None  # 3 seeds: se too large


def test_fieller_refuses_unpaired_input():
    for num, den in (([1.0, 2.0], [1.0]), ([], []), ([1.0, math.nan], [1.0, 2.0])):
        with pytest.raises(ValueError, match="paired, finite and non-empty"):
            statistics.fieller(num, den)


# ------------------------------------------------- equivalence, Holm, the adjusted effect

def test_equivalence_is_schuirmanns_two_one_sided_tests():
    """Within the margin exactly when both one-sided 5% t-tests (scipy) reject: mean <= -sesoi and
    mean >= +sesoi."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        x = rng.normal(rng.uniform(-0.3, 0.3), rng.uniform(0.05, 0.4), int(rng.integers(3, 30)))
        sesoi = 0.2
        got = statistics.equivalence(statistics.mean_ci(x), sesoi)
        lower = stats.ttest_1samp(x, -sesoi, alternative="greater").pvalue
        upper = stats.ttest_1samp(x, sesoi, alternative="less").pvalue
        assert got["within_margin"] == (max(lower, upper) < 0.05)
        assert got["ci90"] == pytest.approx(list(stats.t.interval(0.90, x.size - 1, x.mean(), stats.sem(x))))


def test_five_verdicts_from_hand_made_intervals():
    inside = {"within_margin": True}
    outside = {"within_margin": False}
    assert statistics.verdict([0.01, 0.3], outside) == "elasticity"
    assert statistics.verdict([-0.3, -0.01], outside) == "opposite"
    assert statistics.verdict([0.01, 0.1], inside) == "significant, inside the margin"  # its own outcome
    assert statistics.verdict([-0.1, -0.01], inside) == "significant, inside the margin"
    assert statistics.verdict([0.01, 0.3]) == "elasticity"  # no margin given: significance alone
    assert statistics.verdict([-0.1, 0.1], inside) == "equivalent"
    assert statistics.verdict([-0.1, 0.1], outside) == "not resolved"
    assert statistics.verdict([-0.1, 0.1]) == "not resolved"  # no margin given: cannot say "absent"
    assert statistics.verdict(None, inside) == "not resolved"
    assert len(statistics.VERDICTS) == 5


@given(st.lists(st.floats(-1, 1), min_size=3, max_size=40), st.floats(0.05, 1.0))
def test_tost_p_is_below_005_exactly_when_the_90_interval_is_inside_the_margin(values, sesoi):
    """TOST's p < 0.05 <=> the 90% interval lies inside +-sesoi (Schuirmann); the one-sided p of the
    sign is the two-sided t-test's p halved."""
    stat = statistics.mean_ci(values)
    assume(stat["sd"] is not None and stat["sd"] > 1e-6)
    eq = statistics.equivalence(stat, sesoi)
    margin = min(abs(eq["ci90"][0] + sesoi), abs(sesoi - eq["ci90"][1]))
    assume(margin > 1e-9)  # away from the boundary, where rounding decides
    assert (eq["p_tost"] < 0.05) == eq["within_margin"]
    assert eq["p_one_sided"] == pytest.approx(statistics.p_value(stat) / 2, rel=1e-9)


def test_replication_matches_a_slow_twin_that_calls_verdict_per_draw(monkeypatch):
    """The vectorised replication probabilities equal a loop that draws the same reruns and asks
    ``verdict`` and ``equivalence`` of each (the same RNG stream: identical fractions)."""
    monkeypatch.setattr(statistics, "REPLICATION_DRAWS", 400)
    stat = {"mean": -0.076, "sd": 0.31, "n": 48}  # cpu-standard-like: fragile between three verdicts
    fast = statistics.replication(stat, 0.2, control_detected=True)
    rng = np.random.default_rng(0)
    means = rng.normal(stat["mean"], stat["sd"] / math.sqrt(48), 400)
    sds = stat["sd"] * np.sqrt(rng.chisquare(47, 400) / 47)
    slow = dict.fromkeys(statistics.VERDICTS, 0)
    for m, sd in zip(means, sds, strict=True):
        rerun = {"mean": float(m), "sd": float(sd), "n": 48}
        slow[statistics.verdict(statistics.t_interval(m, sd, 48, 0.95), statistics.equivalence(rerun, 0.2))] += 1
    assert fast == {name: count / 400 for name, count in slow.items()}
    assert sum(fast.values()) == pytest.approx(1.0) and fast["opposite"] > 0 and fast["equivalent"] > 0
    blind = statistics.replication(stat, 0.2, control_detected=False)  # no control: never "equivalent"
    assert blind["equivalent"] == 0 and blind["not resolved"] == pytest.approx(fast["not resolved"]
                                                                              + fast["equivalent"])


def test_equivalence_refuses_a_bad_margin():
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="sesoi"):
            statistics.equivalence(statistics.mean_ci([0.0, 0.1]), bad)


def test_holm_matches_the_step_down_rule_worked_by_hand():
    # sorted p: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06, monotone), 0.5 (x1 = 0.5)
    assert statistics.holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert statistics.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 2 x 0.8 capped at 1; monotone after
    assert statistics.holm([0.4, 0.4, 0.4]) == pytest.approx([1.0, 1.0, 1.0])


def test_family_adjusts_p_values_and_widens_intervals():
    xs = [[0.1, 0.3, 0.2, 0.25], [0.0, 0.1, -0.1, 0.05], [1.0, 1.2, 0.9, 1.1]]
    got = statistics.family([statistics.mean_ci(x) for x in xs])
    raw = [stats.ttest_1samp(x, 0.0).pvalue for x in xs]
    assert [g["p"] for g in got] == pytest.approx(raw)
    assert [g["p_holm"] for g in got] == pytest.approx(statistics.holm(raw))
    for g, x in zip(got, xs, strict=True):
        expected = stats.t.interval(1 - 0.05 / 3, len(x) - 1, np.mean(x), stats.sem(x))
        assert g["ci95_adjusted"] == pytest.approx(list(expected))


def test_adjusted_effect_removes_a_covariates_part():
    """effect = 0.5 + 2 x + noise-free: the intercept is 0.5 exactly, whatever the x."""
    x = {0: 0.1, 1: -0.2, 2: 0.4, 3: 0.0, 4: 0.3}
    w = {0: 1.0, 1: 0.5, 2: -0.5, 3: 0.2, 4: 0.0}
    noise = {0: 0.01, 1: -0.02, 2: 0.0, 3: 0.015, 4: -0.005}
    effects = {s: 0.5 + 2 * x[s] - 1 * w[s] + noise[s] for s in x}
    got = statistics.adjusted_effect(effects, {"x": x, "w": w})
    ols = np.linalg.lstsq(np.column_stack([np.ones(5), list(x.values()), list(w.values())]),
                          list(effects.values()), rcond=None)[0]
    assert got["mean"] == pytest.approx(ols[0], rel=1e-12) and got["mean"] == pytest.approx(0.5, abs=0.03)
    assert got["ci95"][0] < got["mean"] < got["ci95"][1] and got["slopes"]["x"] == pytest.approx(ols[1])
    constant = statistics.adjusted_effect(effects, {"x": x, "c": dict.fromkeys(x, 1.0)})
    assert constant["covariates"] == ["x"]  # a constant covariate is dropped, not a singular fit
    few = statistics.adjusted_effect({0: 1.0, 1: 2.0}, {"x": {0: 0.0, 1: 1.0}})
    assert few["mean"] is None and "too few seeds" in few["note"]


# ------------------------------------------------- the counterfactual summary on known records

CONFIG = overrides.with_overrides(presets.COUNTERFACTUAL["micro"], [
    "spring=0,3", "k_fit_points=2", "anchor_beta=30", "unreached=exclude", "sesoi=0.2", "joint=false"])
Q = CONFIG.primary_endpoint.q2  # (128,): the declared window


def _points(aligned: float, drop: float, q2, ce_slope_pre: float = -1e-3, ce_slope_align: float = 2e-3):
    """A perturbation curve: the score falls by ``drop`` times a fixed shape."""
    shape = {0: 0.0, **{q: min(1.0, q / max(q2)) for q in q2}}
    return [{"q": q, "score": aligned - drop * shape[q],
             "score_logit": statistics.logit(aligned - drop * shape[q]),
             "code_length_nats": {"pre": 1.0 + ce_slope_pre * q, "align": 1.0 + ce_slope_align * q,
                                  "perturb": 1.0}}
            for q in (0, *q2)]


def _window_drop(aligned: float, drop: float) -> float:
    """The endpoint's value of one curve by hand: the mean logit drop over the window Q."""
    return float(np.mean([statistics.logit(aligned) - statistics.logit(aligned - drop * min(1.0, q / max(CONFIG.q2)))
                          for q in Q]))


def _level(seed: int) -> float:
    return 0.9 - 0.05 * seed  # seeds differ, arms alike: 0.9, 0.85, 0.8


def _records(drops: dict, control_drops: dict | None = None, dose_drops: dict | None = None,
             unreached: tuple = (), config=CONFIG) -> dict:
    """Records for every (seed, arm) of ``config``; drops[arm][seed] sets the arm's score drop, the
    controls' curves (anchor, spring and own-data replay) drop by control_drops[arm][seed], the
    shared-pool replay's as the plain curve, the dose arm's by dose_drops[seed]; (seed, arm) in
    ``unreached`` never reached the target."""
    records = {}
    for seed in config.seeds:
        level = _level(seed)
        for arm in counterfactual_arms.arms(config):
            drop = drops[arm.name][seed]
            curve = _points(level, drop, CONFIG.q2)
            rec = {"arm": arm.name, "seed": seed, "f": arm.f, "n_pre": arm.n_pre, "pretrain_steps": 150,
                   "pretrain": {"score": arm.f, "code_length_nats": {"pre": 1.1, "align": 1.0, "perturb": 1.0}},
                   "entropy_nats_per_token": {"pre": 1.0, "align": 0.9, "perturb": 0.9},
                   "align": {v: {"q1": 32 * (1 + seed), "score": level, "relative_update": 0.05,
                                 "reached_target": (seed, arm.name) not in unreached} for v in arm.variants},
                   "perturb": [{"alignment": v, "second_lr": lr, "points": curve}
                               for v in arm.variants for lr in CONFIG.second_lrs]}
            if arm.controls:
                extra = _points(level, (control_drops or {}).get(arm.name, {}).get(seed, drop), CONFIG.q2)
                rec["spring"], rec["anchor"] = [{"spring": 3.0, "points": extra}], [{"anchor_beta": 30.0,
                                                                                      "points": extra}]
                if config.replay:
                    rec["replay"], rec["replay_shared"] = extra, curve
            if arm.dose_arm:
                rec["dose_arm"] = {"align": {"q1": 64 * (1 + seed), "score": level, "relative_update": 0.03},
                                   "perturb": _points(level, (dose_drops or {}).get(seed, drop), CONFIG.q2)}
            records[f"s{seed}-{arm.name}"] = rec
    return records


def test_summary_reads_the_declared_endpoint_with_its_sign():
    effect = 0.2  # the low-f arm loses more score, by hand in logit units over the window
    drops = {"f0.2": {s: 0.3 + 0.05 * s + effect for s in CONFIG.seeds},
             "f0.8": {s: 0.3 + 0.05 * s for s in CONFIG.seeds}}
    metrics, top = counterfactual_stats.summarize(CONFIG, _records(drops))
    expected = [_window_drop(_level(s), drops["f0.2"][s]) - _window_drop(_level(s), drops["f0.8"][s])
                for s in CONFIG.seeds]
    assert top["effect"]["mean"] == pytest.approx(np.mean(expected), rel=1e-9)
    by_seed = dict(zip(CONFIG.seeds, expected, strict=True))
    assert top["effect"]["per_seed"] == {str(s): pytest.approx(x, rel=1e-9) for s, x in by_seed.items()}
    assert top["verdict"] == "elasticity" and top["effect"]["n_seeds"] == len(CONFIG.seeds)
    assert top["primary_endpoint"] == {"q2": list(Q), "units": "logit", "alignment": "target", "second_lr": 1e-3,
                                       "optimizer_steps": [q / CONFIG.second_batch for q in Q]}
    by_q2 = one(metrics["effects"], alignment="target", second_lr=0.001, units="probability")["by_q2"]
    assert [row["mean"] for row in by_q2] == pytest.approx([effect * min(1.0, q / max(CONFIG.q2))
                                                            for q in CONFIG.q2], rel=1e-9)
    assert all(row["exploratory"] for row in metrics["secondary"])
    assert {row["q2"] for row in metrics["secondary"]} == {"area", *CONFIG.q2}


def test_summary_reads_opposite_equivalent_and_not_resolved():
    opposite = {"f0.2": dict.fromkeys(CONFIG.seeds, 0.3), "f0.8": dict.fromkeys(CONFIG.seeds, 0.5)}
    assert counterfactual_stats.summarize(CONFIG, _records(opposite))[1]["verdict"] == "opposite"
    # tiny differences around 0: the 90% interval lies inside +-0.2 logit
    tiny = {"f0.2": {0: 0.401, 1: 0.399, 2: 0.4005}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.4)}
    control = {"f0.2": {0: 0.6, 1: 0.62, 2: 0.64}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.1)}  # scores stay in (0, 1)
    top = counterfactual_stats.summarize(CONFIG, _records(tiny, control))[1]
    assert top["equivalence"]["within_margin"] and top["verdict"] == "equivalent"
    # the same data without a detectable in-window control cannot say "absent"
    top = counterfactual_stats.summarize(CONFIG, _records(tiny))[1]
    assert top["equivalence"]["within_margin"] and top["verdict"] == "not resolved"
    assert "no in-window positive control" in top["verdict_note"]
    noisy = {"f0.2": {0: 0.6, 1: 0.2, 2: 0.5}, "f0.8": {0: 0.4, 1: 0.5, 2: 0.3}}
    top = counterfactual_stats.summarize(CONFIG, _records(noisy, control))[1]
    assert top["verdict"] == "not resolved" and not top["equivalence"]["within_margin"]
    assert "minimal detectable effect" in top["verdict_note"]


def test_controls_are_what_they_add_to_the_contrast():
    drops = {"f0.2": dict.fromkeys(CONFIG.seeds, 0.4), "f0.8": dict.fromkeys(CONFIG.seeds, 0.4)}
    control = {"f0.2": {0: 0.61, 1: 0.62, 2: 0.6}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.3)}
    _, top = counterfactual_stats.summarize(CONFIG, _records(drops, control))
    c = top["positive_controls"]
    (anchor,) = c["in_window"]
    added = [_window_drop(_level(s), control["f0.2"][s]) - _window_drop(_level(s), 0.3) for s in CONFIG.seeds]
    assert anchor["anchor_beta"] == 30.0 and anchor["effect"]["mean"] == pytest.approx(np.mean(added), rel=1e-9)
    assert anchor["detected"] and c["in_window_detected"] and c["smallest_anchor_beta_at_sesoi"] == 30.0
    assert [row["spring"] for row in c["spring"]] == [3.0] and c["spring"][0]["detected"]
    _, top = counterfactual_stats.summarize(CONFIG, _records(drops))  # controls that change nothing
    assert not top["positive_controls"]["in_window"][0]["detected"]
    assert top["positive_controls"]["in_window"][0]["effect"]["mean"] == 0.0


def test_replay_of_own_data_is_a_control_and_replay_of_a_shared_pool_a_check():
    config = overrides.with_overrides(CONFIG, ["replay=true"])
    drops = {"f0.2": dict.fromkeys(CONFIG.seeds, 0.4), "f0.8": dict.fromkeys(CONFIG.seeds, 0.4)}
    control = {"f0.2": {0: 0.61, 1: 0.62, 2: 0.6}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.3)}
    c = counterfactual_stats.summarize(config, _records(drops, control, config=config))[1]["positive_controls"]
    assert c["replay"]["detected"] and c["replay"]["effect"]["mean"] > 0
    assert c["replay_shared"]["effect"]["mean"] == 0.0 and not c["replay_shared"]["detected"]


def test_the_shared_replay_pool_is_the_same_rows_for_every_arm():
    config = overrides.with_overrides(CONFIG, ["replay=true"])
    world = World(config.world, 4)
    d_align = world.sample(config.world.n_align, 1.0, counterfactual_arms.ALIGN_STREAM).tokens
    pool = counterfactual.shared_replay_pool(config, world, d_align)
    middle = world.sample(config.world.n_pre, config.middle, counterfactual_arms.PRE_STREAM).tokens
    assert np.array_equal(pool, np.concatenate([middle, d_align[:config.q1_dose]]))
    assert np.array_equal(pool, counterfactual.shared_replay_pool(config, World(config.world, 4), d_align))


def test_unreached_seeds_are_excluded_and_counted():
    drops = {"f0.2": {s: 0.5 + 0.05 * s for s in CONFIG.seeds}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.3)}
    _, top = counterfactual_stats.summarize(CONFIG, _records(drops, unreached=((1, "f0.2"),)))
    assert top["excluded_seeds"] == [1] and top["effect"]["n_seeds"] == 2
    assert set(top["effect"]["per_seed"]) == {"0", "2"} and "1 seed(s) excluded" in top["verdict_note"]
    metrics, _ = counterfactual_stats.summarize(CONFIG, _records(drops, unreached=((1, "f0.2"),)))
    assert all(entry["area"]["n"] == 2 for entry in metrics["effects"])  # one seed set for the secondaries
    assert top["seeds"] == [0, 2] and top["dose_matched_probability"]["n_seeds"] == 2
    flagged = {(r["seed"], r["quantity"]): (r["value"], r["excluded"]) for r in top["per_seed"]}
    assert flagged[(1, "reached target (low arm)")] == (0.0, True)  # the table shows why seed 1 is out
    assert flagged[(0, "reached target (low arm)")] == (1.0, False) and flagged[(1, "primary")][1] is True
    keep = overrides.with_overrides(CONFIG, ["unreached=keep"])
    assert counterfactual_stats.summarize(keep, _records(drops, unreached=((1, "f0.2"),)))[1]["excluded_seeds"] == []
    with pytest.raises(ValueError, match="only 1 seed"):
        counterfactual_stats.summarize(CONFIG, _records(drops, unreached=((1, "f0.2"), (2, "f0.8"))))


def test_dose_effect_adjusted_effect_and_effective_k():
    drops = {"f0.2": {s: 0.45 + 0.02 * s for s in CONFIG.seeds}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.4)}
    dose = {0: 0.3, 1: 0.32, 2: 0.28}  # the middle arm aligned at the slower rate drops less
    _, top = counterfactual_stats.summarize(CONFIG, _records(drops, dose_drops=dose))
    d = top["dose_effect"]
    expected = [_window_drop(_level(s), drops["f0.8"][s]) - _window_drop(_level(s), dose[s]) for s in CONFIG.seeds]
    assert d["arm"] == "f0.8" and d["mean"] == pytest.approx(np.mean(expected), rel=1e-9)
    assert d["log_q1_ratio"]["mean"] == pytest.approx(math.log(2.0), rel=1e-12)
    # both arms have the same Q1 and start in every seed: the covariates are constant and dropped
    assert top["adjusted_effect"]["covariates"] == [] and top["adjusted_effect"]["mean"] == pytest.approx(
        top["effect"]["mean"], rel=1e-9)
    (row,) = top["effective_k"]  # -dCE_align/dCE_pre = -(2e-3)/(-1e-3) = 2 in every seed
    assert row["observed"]["mean"] == pytest.approx(2.0, rel=1e-9)
    assert row["nominal_k"] == CONFIG.world.n_pre / CONFIG.q1_dose
    assert row["predicted"] == pytest.approx(row["nominal_k"], rel=1e-9)  # the theorem's identity
    s, f = np.mean([_level(x) for x in CONFIG.seeds]), CONFIG.middle  # 0.85 at f = 0.8
    assert row["operating_point_k"] == pytest.approx((1 - s) / (s - f), rel=1e-9)


@pytest.mark.parametrize("sd, n", [(None, 5), (0.3, 1), (None, 1)])
def test_no_minimal_detectable_effect_without_a_spread_and_two_seeds(sd, n):
    assert statistics.minimal_detectable_effect(sd, n) is None


def test_an_interval_touching_zero_is_not_resolved():
    assert statistics.verdict([-0.3, 0.0]) == "not resolved" and statistics.verdict([0.0, 0.3]) == "not resolved"


@pytest.mark.parametrize("x", [[1.0], [2.0, 2.0], [3.0, 3.0, 3.0]])
def test_a_slope_needs_two_distinct_x(x):
    with pytest.raises(ValueError, match="two distinct x"):
        statistics.slope(x, list(range(len(x))))
    assert statistics.slope([0.0, 1.0, 2.0], [1.0, 3.0, 5.0]) == pytest.approx(2.0, rel=1e-12)


def test_paired_keeps_each_seeds_difference():
    got = statistics.paired({0: 1.0, 1: 5.0}, {0: 0.25, 1: 2.0})
    assert got["per_seed"] == {"0": 0.75, "1": 3.0} and got["mean"] == pytest.approx(1.875)


def test_two_seeds_have_a_minimal_detectable_effect():
    expected = (stats.t.ppf(0.975, 1) + stats.t.ppf(0.8, 1)) * 0.3 / math.sqrt(2)
    assert statistics.minimal_detectable_effect(0.3, 2) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("p, expected", [(0.5, 0.0), (0.9, math.log(9.0)), (0.2, -math.log(4.0)),
                                         (0.0, math.log(1e-12 / (1 - 1e-12))),
                                         (1.0, math.log((1 - 1e-12) / 1e-12))])
def test_logit(p, expected):
    # near 1, 1 - (1 - 1e-12) is 1e-12 only to about 1e-4 in float64: that case gets 1e-3
    assert statistics.logit(p) == pytest.approx(expected, rel=1e-3 if p == 1.0 else 1e-9, abs=1e-12)


def test_a_slope_through_two_points():
    assert statistics.slope([1.0, 3.0], [2.0, 8.0]) == pytest.approx(3.0, rel=1e-12)


def test_window_scan_and_the_rule_that_chooses_the_primary_window():
    """What the anchor adds, by hand at each Q2 alone; the rule picks the earliest Q2 where it is
    detected and at least the margin (0.2 logit)."""
    drops = {"f0.2": dict.fromkeys(CONFIG.seeds, 0.4), "f0.8": dict.fromkeys(CONFIG.seeds, 0.4)}
    control = {"f0.2": {0: 0.6, 1: 0.62, 2: 0.64}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.1)}
    metrics, _ = counterfactual_stats.summarize(CONFIG, _records(drops, control))
    scan = metrics["window_scan"]
    assert [row["q2"] for row in scan] == list(CONFIG.q2)

    def logit_drop(level, drop, q):
        return statistics.logit(level) - statistics.logit(level - drop * min(1.0, q / max(CONFIG.q2)))

    first = first_any = None
    for row in scan:
        q = row["q2"]
        added = [logit_drop(_level(s), control["f0.2"][s], q) - logit_drop(_level(s), 0.1, q)
                 - (logit_drop(_level(s), 0.4, q) - logit_drop(_level(s), 0.4, q)) for s in CONFIG.seeds]
        (got,) = row["controls"]
        assert got["effect"]["mean"] == pytest.approx(np.mean(added), rel=1e-9)
        seen = got["detected"] and np.mean(added) >= CONFIG.sesoi
        first_any = q if first_any is None and seen else first_any
        if first is None and seen and q >= 8 * CONFIG.second_batch:
            first = q  # the rule's window spans at least 8 optimizer steps
    assert first is not None and metrics["earliest_window_with_control"] == first
    assert counterfactual_stats.choose_window(scan) == first_any  # without the floor: the earliest detected
    assert counterfactual_stats.choose_window([{"q2": 16, "controls": [{"at_least_sesoi": False}]}]) is None


def test_the_verdict_is_recomputed_from_the_per_seed_table_alone():
    """The per-seed rows a result carries (exported as per-seed.csv) hold everything the verdict
    reads: the primary effect per seed and what each anchor adds there. Recomputed from them and
    the declared margin, the verdict and its numbers are the summary's (same arithmetic)."""
    drops = {"f0.2": {s: 0.4 + 0.01 * s for s in CONFIG.seeds}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.4)}
    control = {"f0.2": {0: 0.6, 1: 0.62, 2: 0.64}, "f0.8": dict.fromkeys(CONFIG.seeds, 0.1)}
    _, top = counterfactual_stats.summarize(CONFIG, _records(drops, control))
    rows = top["per_seed"]
    primary = statistics.mean_ci([r["value"] for r in rows if r["quantity"] == "primary" and not r["excluded"]])
    assert primary["mean"] == pytest.approx(top["effect"]["mean"], rel=1e-12)
    added = statistics.mean_ci([r["value"] for r in rows if r["quantity"] == "anchor added"])
    detected = added["ci95"][0] > 0
    recomputed = statistics.verdict(primary["ci95"], statistics.equivalence(primary, CONFIG.sesoi))
    if recomputed == "equivalent" and not detected:
        recomputed = "not resolved"
    assert recomputed == top["verdict"]
    assert {r["quantity"] for r in rows} >= {"primary", "anchor added", "delta_log_q1", "delta_start_logit"}
