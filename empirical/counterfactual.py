"""The counterfactual pre-training experiment: does what a model was pre-trained on decide how
far the same perturbation pulls it back? (docs/design.md, section 6.)

Per seed, one world (laws and data drawn for that seed) and these arms, each a cell:

- ``f<f>``: a model pre-trained on D_pre with a positive share f (common random numbers: the
  arms' D_pre differ only in which examples are positive; same initialization, data order,
  steps and learning rate);
- ``placebo``: the middle f again, with another sample of the same law (its effect against
  the middle arm calibrates the design: its interval must cover 0);
- ``n<size>``: the middle f with |D_pre| = size (the k axis, k = |D_pre| / Q1).

Each arm is aligned on the same D_align along one trajectory; two aligned models branch off:
``dose`` (after q1_dose examples) and ``target`` (the first checkpoint whose score reaches
target_score, at most q1_max). Each is perturbed by the same D_perturb at each learning rate,
measured along one trajectory at the Q2 checkpoints (exact score and code lengths by
enumeration). The extreme arms also run the positive controls: an L2 spring to their own
pre-trained weights (lambda grid) and replay of D_pre and the alignment set.

Elasticity predicts that the same perturbation costs the low-f arm more score than the high-f
arm: the effect, per seed, is drop(low f) - drop(high f), drop = score(aligned) - score(Q2),
paired by seed; its mean over the Q2 grid (the area) decides the verdict.
"""

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from empirical import measure, statistics, trajectory
from empirical.world import World, information
from harness.configs import CounterfactualConfig

PRE_STREAM, PLACEBO_STREAM, ALIGN_STREAM, PERTURB_STREAM = 10, 11, 12, 13


@dataclass(frozen=True)
class Arm:
    name: str
    f: float
    n_pre: int
    stream: int
    variants: tuple[str, ...]
    controls: bool


def fraction_arm(f: float) -> str:
    """The name of the arm pre-trained at positive share f on the full D_pre."""
    return f"f{f:g}"


def size_arm(config: CounterfactualConfig, n_pre: int) -> str:
    """The name of the arm at the middle f with |D_pre| = n_pre (the k axis)."""
    return fraction_arm(config.middle) if n_pre == config.world.n_pre else f"n{n_pre}"


def arms(config: CounterfactualConfig) -> list[Arm]:
    fractions = sorted(config.fractions)
    low, high, mid = fractions[0], fractions[-1], config.middle
    out = [Arm(fraction_arm(f), f, config.world.n_pre, PRE_STREAM, ("dose", "target"), f in (low, high))
           for f in fractions]
    if config.placebo:
        out.append(Arm("placebo", mid, config.world.n_pre, PLACEBO_STREAM, ("dose", "target"), False))
    out += [Arm(size_arm(config, n), mid, n, PRE_STREAM, ("dose",), False) for n in config.k_sizes]
    return out


def cell_key(seed: int, arm: str) -> str:
    """The engine's key of one (seed, arm) cell."""
    return f"s{seed}-{arm}"


class Counterfactual:
    experiment = "counterfactual"
    device = "cpu"

    def __init__(self, config: CounterfactualConfig):
        self.config = config

    def cells(self) -> list[str]:
        return [cell_key(s, a.name) for s in self.config.seeds for a in arms(self.config)]

    def prepare(self, folder: Path) -> None:
        """Nothing to read: the world is generated."""

    def record_fields(self, key: str) -> tuple:
        return (("pretrain.code_length_nats.pre", "number"), ("align.dose.score", "number"),
                ("perturb", "dict"), ("f", "number"), ("n_pre", "int"))

    def run_cell(self, key: str, folder: Path) -> dict:
        seed_text, name = key.split("-", 1)
        arm = next(a for a in arms(self.config) if a.name == name)
        return run_arm(self.config, int(seed_text[1:]), arm)

    def summarize(self, records: dict[str, dict], folder: Path):
        return summarize(self.config, records)


def _measurer(world: World, laws: dict, prompts: np.ndarray, reference: np.ndarray | None):
    def measure_model(model) -> dict:
        log_q = measure.response_log_probs(model, world, prompts)
        return measure.law_measures(log_q, world, laws, reference)
    return measure_model


def run_arm(config: CounterfactualConfig, seed: int, arm: Arm) -> dict:
    """Pre-train, align, perturb (and the controls) one arm of one seed; its record."""
    from empirical.models import build_model

    began = time.perf_counter()
    c, w = config, config.world
    world = World(w, seed)
    d_pre = world.sample(arm.n_pre, arm.f, arm.stream).tokens
    d_align = world.sample(w.n_align, 1.0, ALIGN_STREAM).tokens
    d_perturb = world.sample(w.n_perturb, 0.0, PERTURB_STREAM).tokens
    prompts = world.prompts(c.eval_prompts)
    laws = world.laws(arm.f)
    model = build_model(w.vocab_size, w.sequence_length, c.model_size, seed)
    steps = c.pretrain.steps if c.k_mode == "steps" else max(1, round(c.pretrain.steps * arm.n_pre / w.n_pre))
    losses = trajectory.pretrain(model, d_pre, steps=steps, batch_size=c.pretrain.batch, lr=c.pretrain.lr,
                                 seed=seed)
    pretrained = copy.deepcopy(model)
    reference = measure.response_log_probs(pretrained, world, prompts)
    measure_model = _measurer(world, laws, prompts, reference)
    record = {"arm": arm.name, "seed": seed, "f": arm.f, "n_pre": arm.n_pre, "pretrain_steps": steps,
              "pretrain": {**measure_model(pretrained), "loss_every_50_steps": losses},
              "entropy_nats_per_token": information(world, arm.f)["entropy_nats_per_token"]}
    aligned = _align(c, model, d_align, measure_model, seed, record)
    stage = dict(batch_size=c.second_batch, seed=seed, loss_from=w.response_start)
    record["perturb"] = {
        variant: {f"{lr:g}": _perturb(c, aligned[variant], d_perturb, measure_model, lr, stage)
                  for lr in c.second_lrs}
        for variant in arm.variants}
    if arm.controls:
        _controls(c, aligned[c.primary], pretrained, d_perturb, d_pre, d_align, record, measure_model, stage)
    record["wall_s"] = time.perf_counter() - began
    return record


def _align(c: CounterfactualConfig, model, d_align, measure_model, seed: int, record: dict) -> dict:
    """One alignment trajectory; the models at the dose and at the target score."""
    kept = {}

    def keep(q, current, point):
        if q == c.q1_dose:
            kept["dose"] = (copy.deepcopy(current), point)
        if "target" not in kept and (point["score"] >= c.target_score or q == c.q1_max):
            kept["target"] = (copy.deepcopy(current), point)

    checkpoints = sorted(set(range(c.align_batch, c.q1_max + 1, c.align_batch)) | {c.q1_dose, c.q1_max})
    points = trajectory.trajectory(model, d_align, checkpoints, measure_model, lr=c.align_lr,
                                   batch_size=c.align_batch, seed=seed, loss_from=c.world.response_start,
                                   on_checkpoint=keep)
    record["align"] = {"points": [{k: p[k] for k in ("q", "score", "valid_mass", "relative_update")}
                                  for p in points]}
    for variant, (_, point) in kept.items():
        record["align"][variant] = {"q1": point["q"], "score": point["score"],
                                    "reached_target": point["score"] >= c.target_score}
    return {variant: m for variant, (m, _) in kept.items()}


def _perturb(c: CounterfactualConfig, aligned, d_perturb, measure_model, lr: float, stage: dict, **extra):
    model = copy.deepcopy(aligned)
    if c.q2_mode == "fixed-steps":
        return trajectory.fixed_steps(model, d_perturb, c.q2, measure_model, steps=c.fixed_steps, lr=lr, **stage)
    return trajectory.trajectory(model, d_perturb, c.q2, measure_model, lr=lr, **stage, **extra)


def _controls(c, aligned, pretrained, d_perturb, d_pre, d_align, record, measure_model, stage) -> None:
    """The positive controls, from the primary aligned model at the first learning rate."""
    lr = c.second_lrs[0]
    record["spring"] = {f"{lam:g}": _perturb(c, aligned, d_perturb, measure_model, lr, stage, anchor=pretrained,
                                             spring=lam)
                        for lam in c.spring if lam > 0}
    if c.replay:
        q1 = record["align"][c.primary]["q1"]
        pool = np.concatenate([d_pre, d_align[:q1]])  # uniform over the pool: in proportion to sizes
        record["replay"] = _perturb(c, aligned, d_perturb, measure_model, lr, stage, replay=pool,
                                    replay_fraction=c.replay_fraction)


# ----------------------------------------------------------------------------------- summary

def _drops(points: list[dict], q2: tuple, logit: bool = False) -> np.ndarray:
    """score(aligned) - score(Q2) at each Q2 of the grid (logit units if asked)."""
    key = "score_logit" if logit else "score"
    by_q = {p["q"]: p[key] for p in points}
    return np.array([by_q[0] - by_q[q] for q in q2])


def _effect(c, records: dict, low: str, high: str, curve) -> dict:
    """Per seed, drop(low arm) - drop(high arm) at each Q2 and over the grid (its mean, the
    area), in probability and logit units, paired by seed."""
    out = {}
    for units, logit in (("probability", False), ("logit", True)):
        a = {s: _drops(curve(records[cell_key(s, low)]), c.q2, logit) for s in c.seeds}
        b = {s: _drops(curve(records[cell_key(s, high)]), c.q2, logit) for s in c.seeds}
        area = statistics.paired({s: float(a[s].mean()) for s in c.seeds},
                                 {s: float(b[s].mean()) for s in c.seeds})
        out[units] = {"area": area, "by_q2": [
            {"q2": q, **statistics.paired({s: float(a[s][i]) for s in c.seeds},
                                          {s: float(b[s][i]) for s in c.seeds})}
            for i, q in enumerate(c.q2)]}
    return out


def _short(stat: dict) -> dict:
    return {"mean": stat["mean"], "ci95": stat["ci95"]}


def summarize(c: CounterfactualConfig, records: dict) -> tuple[dict, dict]:
    fractions = sorted(c.fractions)
    low, high = fraction_arm(fractions[0]), fraction_arm(fractions[-1])
    lr0 = f"{c.second_lrs[0]:g}"
    effects = {variant: {lr: _effect(c, records, low, high, lambda r, v=variant, lr=lr: r["perturb"][v][lr])
                         for lr in (f"{x:g}" for x in c.second_lrs)}
               for variant in ("dose", "target")}
    primary = effects[c.primary][lr0]["probability"]["area"]
    mde = statistics.minimal_detectable_effect(primary["sd"], primary["n"])
    metrics = {"low_arm": low, "high_arm": high, "effects": effects,
               "aligned": _aligned_table(c, records), "pretrained": _pretrained_table(c, records)}
    if c.placebo:
        mid = fraction_arm(c.middle)
        placebo = {v: _effect(c, records, mid, "placebo", lambda r, v=v: r["perturb"][v][lr0])["probability"]["area"]
                   for v in ("dose", "target")}
        metrics["placebo"] = {v: {**_short(e), "covers_zero": statistics.verdict(e["ci95"]) == "not resolved"}
                              for v, e in placebo.items()}
    controls = _positive_controls(c, records, low, high, effects)
    effective_k = _effective_k(c, records)
    verdict = statistics.verdict(primary["ci95"])
    top = {"verdict": verdict, "verdict_note": _note(c, verdict, metrics, controls, mde),
           "effect": {**_short(primary), "n_seeds": primary["n"], "units": "probability, mean over the Q2 grid",
                      "alignment": c.primary, "second_lr": c.second_lrs[0]},
           "minimal_detectable_effect": mde, "positive_controls": controls, "effective_k": effective_k}
    return metrics, top


def _aligned_table(c, records) -> list[dict]:
    rows = []
    for arm in arms(c):
        for variant in arm.variants:
            got = [records[cell_key(s, arm.name)]["align"][variant] for s in c.seeds]
            rows.append({"arm": arm.name, "variant": variant,
                         "q1": statistics.mean_ci([g["q1"] for g in got]),
                         "score": statistics.mean_ci([g["score"] for g in got]),
                         "reached_target": sum(g["reached_target"] for g in got)})
    return rows


def _pretrained_table(c, records) -> list[dict]:
    rows = []
    for arm in arms(c):
        got = [records[cell_key(s, arm.name)] for s in c.seeds]
        excess = {d: statistics.mean_ci([g["pretrain"]["code_length_nats"][d] - g["entropy_nats_per_token"][d]
                                         for g in got]) for d in ("pre", "align", "perturb")}
        rows.append({"arm": arm.name, "f": arm.f, "n_pre": arm.n_pre,
                     "score": statistics.mean_ci([g["pretrain"]["score"] for g in got]),
                     "excess_code_length_nats_per_token": excess})
    return rows


def _positive_controls(c, records, low, high, effects) -> dict:
    lr0 = f"{c.second_lrs[0]:g}"
    spring = []
    for lam in c.spring:
        if lam == 0:
            stat = effects[c.primary][lr0]["probability"]["area"]
        else:
            stat = _effect(c, records, low, high, lambda r, lam=lam: r["spring"][f"{lam:g}"])["probability"]["area"]
        spring.append({"lambda": lam, "effect": _short(stat), "detected": statistics.verdict(stat["ci95"]) ==
                       "elasticity"})
    detected = [row["lambda"] for row in spring if row["lambda"] > 0 and row["detected"]]
    out = {"spring": spring, "smallest_lambda_detected": min(detected) if detected else None}
    if c.replay:
        stat = _effect(c, records, low, high, lambda r: r["replay"])["probability"]["area"]
        out["replay"] = {"effect": _short(stat), "detected": statistics.verdict(stat["ci95"]) == "elasticity"}
    return out


def _effective_k(c, records) -> list[dict]:
    """Per |D_pre| at the middle f: -dCE_align/dCE_pre from the first Q2 points of the dose
    variant's perturbation (slopes per seed, ratio of their means with a bootstrap interval),
    against the nominal k = |D_pre| / q1_dose and the optimal compressor's value."""
    from empirical import predict

    mid = c.middle
    rows = []
    sizes = sorted({c.world.n_pre, *c.k_sizes})
    for n in sizes:
        rising, falling = [], []
        for s in c.seeds:
            perturbed = records[cell_key(s, size_arm(c, n))]["perturb"]["dose"][f"{c.second_lrs[0]:g}"]
            points = perturbed[: c.k_fit_points + 1]
            q = [p["q"] for p in points]
            rising.append(-statistics.slope(q, [p["code_length_nats"]["align"] for p in points]))
            falling.append(statistics.slope(q, [p["code_length_nats"]["pre"] for p in points]))
        observed = statistics.fieller(rising, falling)
        world = World(c.world, c.seeds[0])
        rows.append({"n_pre": n, "nominal_k": n / c.q1_dose, "observed": {k: observed[k] for k in ("mean", "ci95", "undefined")},
                     "predicted": predict.effective_k_optimal(world, mid, n, c.q1_dose),
                     "per_seed": [r / f if f != 0 else None for r, f in zip(rising, falling, strict=True)]})
    return rows


def _note(c, verdict: str, metrics: dict, controls: dict, mde) -> str:
    notes = []
    if c.placebo and not metrics["placebo"][c.primary]["covers_zero"]:
        notes.append("the placebo pair's interval excludes 0: the design is not calibrated at this power, "
                     "so the verdict is not trusted")
    detected = controls["smallest_lambda_detected"] is not None or controls.get("replay", {}).get("detected")
    if not detected:
        notes.append("no positive control was detected: this instrument cannot tell elasticity at this power, "
                     "and a null here says nothing")
    if verdict == "not resolved" and mde is not None:
        notes.append(f"the interval covers 0; the minimal detectable effect at {len(c.seeds)} seeds is "
                     f"{mde:.3g} (probability units, 80% power)")
    return "; ".join(notes) or "placebo covers 0 and a positive control was detected"

