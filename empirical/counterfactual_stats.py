"""The counterfactual experiment's summary: its records (``empirical.counterfactual``) read as the
effects, endpoints, controls and tables of the result (docs/experiments.md, "Counterfactual").

- the **effect** per seed: drop(low f) - drop(high f), drop = score(aligned) - score(Q2) (logit
  units where declared), averaged over the declared primary window, paired by seed, with its
  verdict against the equivalence margin; its secondary and sensitivity readings (probability
  units, dose-matched, adjusted for the alignment's reach, placebo);
- the **positive controls** (anchor, spring, replay) detected or not in their windows;
- the **window scan** and the pre-declared rule that chooses the primary window on a calibration
  run (``choose_window``);
- the **effective k** of the k axis and the joint arms, and the aligned and pre-trained tables.
"""

import copy
import math
from dataclasses import replace

import numpy as np

from empirical import counterfactual_arms as design
from empirical import statistics
from empirical.world import World
from harness.configs import MIN_WINDOW_STEPS, CounterfactualConfig
from harness.records import one


def path(record: dict, alignment: str, second_lr: float) -> list[dict]:
    """The perturbation path of a cell record for one aligned model and learning rate."""
    return one(record["perturb"], alignment=alignment, second_lr=second_lr)["points"]


def control_path(record: dict, control: str, value: float) -> list[dict]:
    """The perturbation path with one control (``anchor`` by its anchor_beta, ``spring`` by its weight)."""
    return one(record[control], **{"anchor_beta" if control == "anchor" else "spring": value})["points"]


def _drops(points: list[dict], q2: tuple, logit: bool = False) -> np.ndarray:
    """score(aligned) - score(Q2) at each Q2 of the grid (logit units if asked)."""
    key = "score_logit" if logit else "score"
    by_q = {p["q"]: p[key] for p in points}
    return np.array([by_q[0] - by_q[q] for q in q2])


def _effect(c, records: dict, low: str, high: str, curve, seeds=None) -> dict:
    """Per seed, drop(low arm) - drop(high arm) at each Q2 and over the grid (its mean, the
    area), in probability and logit units, paired by seed."""
    seeds = c.seeds if seeds is None else seeds
    out = {}
    for units, logit in (("probability", False), ("logit", True)):
        a = {s: _drops(curve(records[design.cell_key(s, low)]), c.q2, logit) for s in seeds}
        b = {s: _drops(curve(records[design.cell_key(s, high)]), c.q2, logit) for s in seeds}
        area = statistics.paired({s: float(a[s].mean()) for s in seeds},
                                 {s: float(b[s].mean()) for s in seeds})
        out[units] = {"area": area, "by_q2": [
            {"q2": q, **statistics.paired({s: float(a[s][i]) for s in seeds},
                                          {s: float(b[s][i]) for s in seeds})}
            for i, q in enumerate(c.q2)]}
    return out


def _window(c, record_a: dict, record_b: dict | None, curve_a, curve_b=None) -> float:
    """The primary endpoint's value for one seed: the mean over its Q2 window of drop(a) - drop(b)
    in its units (drop(a) alone when ``record_b`` is None)."""
    e = c.primary_endpoint
    logit = e.units == "logit"
    value = float(_drops(curve_a(record_a), e.q2, logit).mean())
    if record_b is not None:
        value -= float(_drops((curve_b or curve_a)(record_b), e.q2, logit).mean())
    return value


def _endpoint(c, records: dict, low: str, high: str, curve, seeds) -> dict:
    """The primary endpoint, paired by seed, for the curves ``curve`` picks from each record."""
    per_seed = {s: _window(c, records[design.cell_key(s, low)], records[design.cell_key(s, high)], curve)
                for s in seeds}
    return statistics.mean_ci(list(per_seed.values())) | {"per_seed": {str(s): v for s, v in per_seed.items()}}


def _short(stat: dict) -> dict:
    return {"mean": stat["mean"], "ci95": stat["ci95"]}


def _primary_seeds(c, records: dict, low: str, high: str) -> tuple[list[int], list[int]]:
    """The seeds the primary contrast reads, and those excluded by the pre-declared rule: with
    target alignment and ``unreached: exclude``, a seed whose extreme arm never reached the
    target score within q1_max is excluded (and counted), not compared at another score."""
    e = c.primary_endpoint
    if e.alignment != "target" or c.unreached == "keep":
        return list(c.seeds), []
    reached = [s for s in c.seeds
               if all(records[design.cell_key(s, arm)]["align"]["target"]["reached_target"] for arm in (low, high))]
    return reached, [s for s in c.seeds if s not in reached]


def summarize(c: CounterfactualConfig, records: dict) -> tuple[dict, dict]:
    fractions = sorted(c.fractions)
    low, high = design.fraction_arm(fractions[0]), design.fraction_arm(fractions[-1])
    e = c.primary_endpoint
    seeds, excluded = _primary_seeds(c, records, low, high)
    if len(seeds) < 2:
        raise ValueError(f"only {len(seeds)} seed(s) reached the target score in both extreme arms: no paired "
                         f"interval (raise q1_max, or set unreached=keep)")
    on_path = lambda r: path(r, e.alignment, e.second_lr)  # noqa: E731
    primary = _endpoint(c, records, low, high, on_path, seeds)
    equivalence = statistics.equivalence(primary, c.sesoi)
    controls = _positive_controls(c, records, low, high, seeds)
    verdict = statistics.verdict(primary["ci95"], equivalence)
    if verdict == "equivalent" and not controls["in_window_detected"]:
        verdict = "not resolved"  # a window where no control can be seen cannot support "absent"
    # one seed set for every contrast: the primary's exclusions apply to the secondaries too
    effects = [{"alignment": variant, "second_lr": lr, "units": units, **by_units[units]}
               for variant in ("dose", "target") for lr in c.second_lrs
               for by_units in [_effect(c, records, low, high, lambda r, v=variant, lr=lr: path(r, v, lr), seeds)]
               for units in ("probability", "logit")]
    scan = window_scan(c, records, low, high, seeds)
    metrics = {"low_arm": low, "high_arm": high, "effects": effects, "secondary": _secondary(effects),
               "window_scan": scan, "earliest_window_with_control": choose_window(scan, min_window_q2(c)),
               "aligned": _aligned_table(c, records), "pretrained": _pretrained_table(c, records)}
    if c.placebo:
        mid = design.fraction_arm(c.middle)
        placebo = {v: _endpoint(c, records, mid, "placebo", lambda r, v=v: path(r, v, e.second_lr), seeds)
                   for v in ("dose", "target")}
        metrics["placebo"] = {v: {**_short(p), "covers_zero": statistics.verdict(p["ci95"]) == "not resolved"}
                              for v, p in placebo.items()}
    mde = statistics.minimal_detectable_effect(primary["sd"], primary["n"])
    top = {"verdict": verdict,
           "effect": {**_short(primary), "n_seeds": primary["n"], "units": e.units, "per_seed": primary["per_seed"],
                      "alignment": e.alignment, "second_lr": e.second_lr},
           "primary_endpoint": {"q2": list(e.q2), "units": e.units, "alignment": e.alignment,
                                "second_lr": e.second_lr, "optimizer_steps": [c.steps_at(q) for q in e.q2]},
           "sesoi": c.sesoi,
           "equivalence": {k: equivalence[k] for k in ("ci90", "within_margin", "p_tost", "p_one_sided")},
           "replication": statistics.replication(primary, c.sesoi, controls["in_window_detected"]),
           "excluded_seeds": excluded, "seeds": seeds, "minimal_detectable_effect": mde,
           "dose_matched_probability": _dose_matched_probability(c, records, low, high, seeds, metrics),
           "adjusted_effect": {**_adjusted_effect(c, records, low, high, primary, seeds),
                               "exploratory": "conditions on post-treatment variables (Q1 and the aligned score "
                                              "are outcomes of the arms' pre-training); an extrapolation"},
           "dose_effect": _dose_effect(c, records, seeds), "positive_controls": controls,
           "effective_k": _effective_k(c, records, seeds)}
    top["verdict_note"] = _note(c, top, metrics)
    top["per_seed"] = _per_seed(c, records, top, low, high)
    return metrics, top


def _per_seed(c, records, top: dict, low: str, high: str) -> list[dict]:
    """Every per-seed value the verdict reads, long form (seed, quantity, anchor_beta, value):
    for every seed whether each extreme arm reached the target and its primary effect (``excluded``
    marks the seeds the pre-declared rule left out), and for the seeds the verdict reads what
    each anchor adds in the window, the dose effect and the covariates. Enough to recompute the
    exclusions and the verdict."""
    rows, e = [], c.primary_endpoint

    def add(seed, quantity, value, anchor_beta=None):
        rows.append({"seed": seed, "quantity": quantity, "anchor_beta": anchor_beta, "value": value,
                     "excluded": seed in top["excluded_seeds"]})

    for s in c.seeds:
        pair = [records[design.cell_key(s, arm)] for arm in (low, high)]
        for name, record in zip(("low", "high"), pair, strict=True):
            add(s, f"reached target ({name} arm)", float(record["align"]["target"]["reached_target"]))
        add(s, "primary", _window(c, *pair, lambda r: path(r, e.alignment, e.second_lr)))
        for row in top["positive_controls"]["in_window"]:
            if str(s) in row["per_seed"]:
                add(s, "anchor added", row["per_seed"][str(s)], row["anchor_beta"])
        if top["dose_effect"] is not None and str(s) in top["dose_effect"]["per_seed"]:
            add(s, "dose effect", top["dose_effect"]["per_seed"][str(s)])
        for name, values in top["adjusted_effect"].get("per_seed_covariates", {}).items():
            if str(s) in values:
                add(s, name, values[str(s)])
    return rows


def window_scan(c, records, low, high, seeds) -> list[dict]:
    """Exploratory: each single Q2 of the grid taken as the window, what the in-window controls
    add there (paired, 95%). On calibration seeds this chooses the primary window (``choose_window``)."""
    if not c.anchor_beta:
        return []
    rows = []
    for q in c.q2:
        at_q = _reading(c, replace(c.primary_endpoint, q2=(q,)))
        rows.append({"q2": q, "controls": _positive_controls(at_q, records, low, high, seeds)["in_window"]})
    return rows


def _reading(c: CounterfactualConfig, endpoint) -> CounterfactualConfig:
    """``c`` reading another endpoint (the exploratory scans and secondaries): a copy, not a newly
    declared config, since an exploratory window may be shorter than a primary one may be."""
    out = copy.copy(c)
    object.__setattr__(out, "primary_endpoint", endpoint)
    return out


def min_window_q2(c: CounterfactualConfig) -> int | None:
    """The smallest Q2 of the grid a primary window may use (MIN_WINDOW_STEPS optimizer steps in)."""
    return min((q for q in c.q2 if c.steps_at(q) >= MIN_WINDOW_STEPS), default=None)


def choose_window(scan: list[dict], min_q2: int | None = 1) -> int | None:
    """The pre-declared rule for the primary window, applied to calibration seeds: the earliest Q2
    of at least ``min_q2`` at which some anchor strength of the grid is detected with an added
    effect of at least the margin. Earlier windows are less noisy but a control cannot be seen
    there, and a window where no control can be seen cannot support a verdict of "equivalent"."""
    if min_q2 is None:
        return None
    return next((row["q2"] for row in scan
                 if row["q2"] >= min_q2 and any(c["at_least_sesoi"] for c in row["controls"])), None)


def _dose_matched_probability(c, records, low, high, seeds, metrics) -> dict:
    """The declared window read on the dose-matched variant in probability units (a secondary:
    the arms see the same alignment examples, so their aligned scores differ), with its Holm p
    where the window is a single Q2 of the secondary family."""
    e = replace(c.primary_endpoint, alignment="dose", units="probability")
    at_dose = _reading(c, e)
    stat = _endpoint(at_dose, records, low, high, lambda r: path(r, "dose", e.second_lr), seeds)
    row = [r for r in metrics["secondary"] if r["alignment"] == "dose" and r["units"] == "probability"
           and r["second_lr"] == e.second_lr and [r["q2"]] == list(e.q2)]
    return {**_short(stat), "n_seeds": stat["n"], "p_holm": row[0]["p_holm"] if row else None}


def _secondary(effects: list[dict]) -> list[dict]:
    """Every other contrast (each variant, learning rate, unit and Q2, and the area) as one
    exploratory family: raw and Holm-adjusted p-values, Bonferroni-level intervals."""
    rows, stats_ = [], []
    for got in effects:
        for entry in (got["area"], *got["by_q2"]):
            rows.append({"alignment": got["alignment"], "second_lr": got["second_lr"], "units": got["units"],
                         "q2": entry.get("q2", "area"), "mean": entry["mean"], "ci95": entry["ci95"],
                         "exploratory": True})
            stats_.append(entry)
    return [row | adjusted for row, adjusted in zip(rows, statistics.family(stats_), strict=True)]


def _adjusted_effect(c, records, low, high, primary, seeds) -> dict:
    """The primary effect at equal alignment dose and starting point: the intercept of the per-seed
    effect regressed on the arms' differences in log Q1 and in the aligned score's logit."""
    e = c.primary_endpoint
    aligned = {s: [records[design.cell_key(s, arm)]["align"][e.alignment] for arm in (low, high)] for s in seeds}
    covariates = {"delta_log_q1": {s: math.log(a["q1"]) - math.log(b["q1"]) for s, (a, b) in aligned.items()},
                  "delta_start_logit": {s: statistics.logit(a["score"]) - statistics.logit(b["score"])
                                        for s, (a, b) in aligned.items()}}
    effects = {s: primary["per_seed"][str(s)] for s in seeds}
    return {**statistics.adjusted_effect(effects, covariates),
            "per_seed_covariates": {name: {str(s): v for s, v in values.items()}
                                    for name, values in covariates.items()}}


def _dose_effect(c, records, seeds) -> dict | None:
    """At the middle f, aligned to the same target at two rates (two doses, one score): per seed,
    drop(align_lr) - drop(dose_align_lr) on the primary endpoint, and the doses' ratio."""
    if c.dose_align_lr <= 0:
        return None
    e = c.primary_endpoint
    mid = design.fraction_arm(c.middle)
    got = [records[design.cell_key(s, mid)] for s in seeds]
    per_seed = [_window(c, r, r, lambda x: path(x, "target", e.second_lr),
                        lambda x: x["dose_arm"]["perturb"]) for r in got]
    stat = statistics.mean_ci(per_seed)
    return {**_short(stat), "n_seeds": stat["n"], "arm": mid, "align_lrs": [c.align_lr, c.dose_align_lr],
            "per_seed": dict(zip(map(str, seeds), per_seed, strict=True)),
            "log_q1_ratio": statistics.mean_ci([math.log(r["dose_arm"]["align"]["q1"] / r["align"]["target"]["q1"])
                                                for r in got]),
            "relative_update": [statistics.mean_ci([r["align"]["target"]["relative_update"] for r in got]),
                                statistics.mean_ci([r["dose_arm"]["align"]["relative_update"] for r in got])],
            "score": [statistics.mean_ci([r["align"]["target"]["score"] for r in got]),
                      statistics.mean_ci([r["dose_arm"]["align"]["score"] for r in got])]}


def _aligned_table(c, records) -> list[dict]:
    rows = []
    for arm in design.arms(c):
        for variant in arm.variants:
            got = [records[design.cell_key(s, arm.name)]["align"][variant] for s in c.seeds]
            rows.append({"arm": arm.name, "variant": variant,
                         "q1": statistics.mean_ci([g["q1"] for g in got]),
                         "score": statistics.mean_ci([g["score"] for g in got]),
                         "reached_target": sum(g["reached_target"] for g in got)})
    return rows


def _pretrained_table(c, records) -> list[dict]:
    rows = []
    for arm in design.arms(c):
        got = [records[design.cell_key(s, arm.name)] for s in c.seeds]
        excess = {d: statistics.mean_ci([g["pretrain"]["code_length_nats"][d] - g["entropy_nats_per_token"][d]
                                         for g in got]) for d in ("pre", "align", "perturb")}
        rows.append({"arm": arm.name, "f": arm.f, "n_pre": arm.n_pre,
                     "score": statistics.mean_ci([g["pretrain"]["score"] for g in got]),
                     "excess_code_length_nats_per_token": excess})
    return rows


def _positive_controls(c, records, low, high, seeds) -> dict:
    """What each control adds to the contrast, paired by seed: (drop(low) - drop(high)) with the
    control minus the same without it, from the same aligned models. The in-window control (the
    output-space anchor, one row per beta) on the primary endpoint; the late-window controls
    (spring, replay) on the mean over the whole Q2 grid, in the endpoint's units. Detected: the
    95% interval of what it adds lies above 0 (the instrument sees an injected effect there)."""
    e = c.primary_endpoint
    plain = lambda r: path(r, e.alignment, e.second_lr)  # noqa: E731

    def added(curve, window: bool) -> dict:
        if window:
            with_control = _endpoint(c, records, low, high, curve, seeds)["per_seed"]
            without = _endpoint(c, records, low, high, plain, seeds)["per_seed"]
        else:
            with_control = _effect(c, records, low, high, curve, seeds)[e.units]["area"]["per_seed"]
            without = _effect(c, records, low, high, plain, seeds)[e.units]["area"]["per_seed"]
        stat = statistics.paired(with_control, without)
        seen = statistics.verdict(stat["ci95"]) == "elasticity"
        return {"effect": _short(stat), "per_seed": stat["per_seed"], "detected": seen,
                "at_least_sesoi": seen and stat["mean"] >= c.sesoi}

    in_window = [{"name": "anchor", "anchor_beta": beta,
                  **added(lambda r, b=beta: control_path(r, "anchor", b), True)} for beta in c.anchor_beta]
    spring = [{"spring": weight, **added(lambda r, w=weight: control_path(r, "spring", w), False)}
              for weight in c.spring if weight > 0]
    sized = [row["anchor_beta"] for row in in_window if row["at_least_sesoi"]]
    out = {"in_window": in_window, "in_window_detected": any(row["detected"] for row in in_window),
           "smallest_anchor_beta_at_sesoi": min(sized) if sized else None,
           "late_window": "spring and replay: what they add to the mean over the whole Q2 grid", "spring": spring,
           "smallest_spring_detected": min((r["spring"] for r in spring if r["detected"]), default=None)}
    if c.replay:
        out["replay"] = added(lambda r: r["replay"], False)
        out["replay_shared"] = added(lambda r: r["replay_shared"], False)
    return out


def _effective_k(c, records, seeds) -> list[dict]:
    """Per |D_pre| at the middle f and pre-training mode: -dCE_align/dCE_pre from the first Q2
    points of the dose variant's perturbation (slopes per seed; Fieller's interval for the ratio
    of their means), beside the nominal k = |D_pre| / q1_dose, the optimal compressor's value, and
    the operating-point value (1 - s) / (s - f): what any model that moves only along the style
    share shows at its measured score s, whatever k is (docs/experiments.md). The joint arms are
    the theorem's regime, where the measurement should approach the nominal k."""
    from empirical import predict

    mid = c.middle
    lr = c.primary_endpoint.second_lr  # the declared rate (every cell has it)
    rows = []
    for mode in design.k_modes(c):
        for n in design.k_sizes(c):
            got = [records[design.cell_key(s, design.size_arm(c, n, mode))] for s in seeds]
            rising, falling = [], []
            for record in got:
                points = path(record, "dose", lr)[: c.k_fit_points + 1]
                q = [p["q"] for p in points]
                rising.append(-statistics.slope(q, [p["code_length_nats"]["align"] for p in points]))
                falling.append(statistics.slope(q, [p["code_length_nats"]["pre"] for p in points]))
            observed = statistics.fieller(rising, falling)
            score = float(np.mean([r["align"]["dose"]["score"] for r in got]))
            rows.append({"n_pre": n, "k_mode": mode, "arm": design.size_arm(c, n, mode),
                         "pretrain_steps": got[0]["pretrain_steps"], "nominal_k": n / c.q1_dose,
                         "observed": {k: observed[k] for k in ("mean", "ci95", "undefined")},
                         "operating_point_k": (1 - score) / (score - mid) if score > mid else None,
                         "aligned_score": score,
                         "predicted": predict.effective_k_optimal(World(c.world, c.seeds[0]), mid, n, c.q1_dose),
                         "per_seed": [r / f if f != 0 else None for r, f in zip(rising, falling, strict=True)]})
    return rows


def _note(c, top: dict, metrics: dict) -> str:
    """What the verdict can be trusted for, in words."""
    e, notes = c.primary_endpoint, []
    window = f"Q2 = {', '.join(str(q) for q in e.q2)} ({e.units})"
    controls = top["positive_controls"]
    if c.placebo and not metrics["placebo"][e.alignment]["covers_zero"]:
        notes.append("the placebo pair's interval excludes 0: the design is not calibrated, so the verdict is "
                     "not trusted")
    if controls["in_window_detected"]:
        sized = controls["smallest_anchor_beta_at_sesoi"]
        notes.append(f"the in-window control was detected in the primary window {window}"
                     + (f" (smallest anchor beta with an effect >= the margin: {sized:g})" if sized is not None
                        else " (but no beta gave an effect as large as the margin)"))
    else:
        notes.append(f"no in-window positive control was detected in the primary window {window}: the verdict is "
                     f"not trusted, and 'not resolved' cannot become 'equivalent' there")
    if top["excluded_seeds"]:
        notes.append(f"{len(top['excluded_seeds'])} seed(s) excluded: an extreme arm never reached the target "
                     f"score (pre-declared rule)")
    if top["verdict"] == "not resolved" and top["minimal_detectable_effect"] is not None:
        notes.append(f"the interval covers 0 and the 90% interval is not inside +-{c.sesoi:g}; the minimal "
                     f"detectable effect at {top['effect']['n_seeds']} seeds is {top['minimal_detectable_effect']:.3g}"
                     f" ({e.units} units, 80% power)")
    return "; ".join(notes)
