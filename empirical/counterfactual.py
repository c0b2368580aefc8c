"""The counterfactual pre-training experiment: does what a model was pre-trained on decide how
far the same perturbation pulls it back? (docs/design.md, section 6.)

Per seed, one world (laws and data drawn for that seed) and these arms, each a cell:

- ``f<f>``: a model pre-trained on D_pre with a positive share f (common random numbers: the
  arms' D_pre differ only in which examples are positive; same initialization, data order,
  steps and learning rate);
- ``placebo``: the middle f again, with another sample of the same law (its effect against
  the middle arm calibrates the design: its interval must cover 0);
- ``n<size>``: the middle f with |D_pre| = size (the k axis, k = |D_pre| / Q1), pre-trained the
  same number of steps as the other arms (``k_mode: steps``); ``n<size>-epochs``: the same number
  of passes over D_pre instead (``k_mode: epochs``; ``both`` runs both);
- ``joint-n<size>`` (``joint: true``): the theorem's regime: the middle f pre-trained on D_pre and
  the first q1_dose alignment examples together (uniformly over the pool, so in proportion to
  their sizes), and not aligned after. The optimal compressor of that mixture satisfies
  k dCE_pre + dCE_align = 0 exactly; a model near a stationary point of the mixture's loss does to
  first order, so its measured effective k should approach the nominal k if the instrument works.

Each arm is aligned on the same D_align along one trajectory; two aligned models branch off:
``dose`` (after q1_dose examples) and ``target`` (the first checkpoint whose score reaches
target_score, at most q1_max). Each is perturbed by the same D_perturb at each learning rate,
measured along one trajectory at the Q2 checkpoints (exact score and code lengths by
enumeration). The extreme arms also run the positive controls: the output-space anchor (beta
grid, in the primary window), an L2 spring to their own pre-trained weights (lambda grid) and
replay of each arm's own D_pre and the alignment set (late window); and replay of one shared pool
(the middle f's D_pre and the first q1_dose alignment examples) in both arms, a check that the
replay mechanics alone add nothing when the data do not differ.

Elasticity predicts that the same perturbation costs the low-f arm more score than the high-f
arm: the effect, per seed, is drop(low f) - drop(high f), drop = score(aligned) - score(Q2),
paired by seed; its mean over the declared primary window (``primary_endpoint``) decides the verdict.
"""

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from empirical import measure, statistics, together, trajectory
from empirical.world import World, information
from harness.configs import MIN_WINDOW_STEPS, CounterfactualConfig
from harness.records import one

PRE_STREAM, PLACEBO_STREAM, ALIGN_STREAM, PERTURB_STREAM = 10, 11, 12, 13


@dataclass(frozen=True)
class Arm:
    name: str
    f: float
    n_pre: int
    stream: int
    variants: tuple[str, ...]
    controls: bool  # the positive controls (the extreme arms)
    dose_arm: bool = False  # also aligned to the target at dose_align_lr (the middle arm)
    mode: str = "steps"  # pre-training: "steps" (the config's steps), "epochs" (steps in proportion to
    #                      n_pre), "joint" (the config's steps on D_pre and the alignment dose together)


def fraction_arm(f: float) -> str:
    """The name of the arm pre-trained at positive share f on the full D_pre."""
    return f"f{f:g}"


def size_arm(config: CounterfactualConfig, n_pre: int, mode: str = "steps") -> str:
    """The name of the arm at the middle f with |D_pre| = n_pre (the k axis) pre-trained in
    ``mode`` ("steps", "epochs" or "joint"); at the full D_pre steps and epochs are one arm."""
    if mode == "joint":
        return f"joint-n{n_pre}"
    if n_pre == config.world.n_pre:
        return fraction_arm(config.middle)
    return f"n{n_pre}" + ("-epochs" if mode == "epochs" else "")


def k_modes(config: CounterfactualConfig) -> list[str]:
    """The pre-training modes of the k axis, in the order the effective-k table lists them."""
    modes = ["steps", "epochs"] if config.k_mode == "both" else [config.k_mode]
    return modes + (["joint"] if config.joint else [])


def k_sizes(config: CounterfactualConfig) -> list[int]:
    """The |D_pre| values of the k axis, the full D_pre included, ascending."""
    return sorted({config.world.n_pre, *config.k_sizes})


def arms(config: CounterfactualConfig) -> list[Arm]:
    fractions = sorted(config.fractions)
    low, high, mid = fractions[0], fractions[-1], config.middle
    out = [Arm(fraction_arm(f), f, config.world.n_pre, PRE_STREAM, ("dose", "target"), f in (low, high),
               f == mid and config.dose_align_lr > 0) for f in fractions]
    if config.placebo:
        out.append(Arm("placebo", mid, config.world.n_pre, PLACEBO_STREAM, ("dose", "target"), False))
    for mode in k_modes(config):
        out += [Arm(size_arm(config, n, mode), mid, n, PRE_STREAM, ("dose",), False, mode=mode)
                for n in k_sizes(config) if mode == "joint" or n != config.world.n_pre]
    return out


def cell_key(seed: int, arm: str) -> str:
    """The engine's key of one (seed, arm) cell."""
    return f"s{seed}-{arm}"


class Counterfactual:
    experiment = "counterfactual"
    device = "cpu"
    cells_across_ranks = True  # no cell trains data-parallel: torchrun ranks split the cells (harness.engine)

    def __init__(self, config: CounterfactualConfig):
        self.config = config

    def cells(self) -> list[str]:
        return list(self._cells())

    def prepare(self, folder: Path) -> None:
        """Nothing to read: the world is generated."""

    def record_fields(self, key: str) -> tuple:
        return (("pretrain.code_length_nats.pre", "number"), ("align.dose.score", "number"),
                ("perturb", "list"), ("f", "number"), ("n_pre", "int"))

    def run_cell(self, key: str, folder: Path) -> dict:
        seed, arm = self._cells()[key]
        return run_arm(self.config, seed, arm)

    def groups(self, keys: list[str]) -> list[list[str]]:
        """With the ensemble trainer, cells pre-train together; else one by one."""
        return together.groups(keys, self.config.trainer == "ensemble")

    def run_group(self, keys: list[str], folder: Path) -> dict[str, dict]:
        cells = self._cells()
        return dict(zip(keys, run_arms(self.config, [cells[k] for k in keys]), strict=True))

    def _cells(self) -> dict[str, tuple[int, Arm]]:
        """Each cell key with the (seed, arm) it stands for: keys are looked up, never parsed."""
        return {cell_key(s, a.name): (s, a) for s in self.config.seeds for a in arms(self.config)}

    def summarize(self, records: dict[str, dict], folder: Path):
        return summarize(self.config, records)


def _measurer(world: World, laws: dict, prompts: np.ndarray, reference: np.ndarray | None) -> measure.Enumerated:
    """The cell's measurement of a model: the law measures of its enumerated responses."""
    return measure.Enumerated(world, prompts, lambda log_q: measure.law_measures(log_q, world, laws, reference))


@dataclass
class _Cell:
    """One (seed, arm) cell's world, data and fresh model, ready to pre-train."""

    seed: int
    arm: Arm
    world: World
    d_pre: np.ndarray
    d_align: np.ndarray
    d_perturb: np.ndarray
    model: object
    pretrain_steps: int


def _cell(c: CounterfactualConfig, seed: int, arm: Arm) -> _Cell:
    from empirical.models import build_model

    w = c.world
    world = World(w, seed)
    d_pre = world.sample(arm.n_pre, arm.f, arm.stream).tokens
    d_align = world.sample(w.n_align, 1.0, ALIGN_STREAM).tokens
    if arm.mode == "joint":  # the alignment dose mixed into D_pre: one objective, sizes in proportion
        d_pre = np.concatenate([d_pre, d_align[:c.q1_dose]])
    steps = max(1, round(c.pretrain.steps * arm.n_pre / w.n_pre)) if arm.mode == "epochs" else c.pretrain.steps
    return _Cell(seed, arm, world, d_pre, d_align, world.sample(w.n_perturb, 0.0, PERTURB_STREAM).tokens,
                 build_model(w.vocab_size, w.sequence_length, c.model_size, seed), steps)


def _pretrain(c: CounterfactualConfig, cells: list[_Cell]) -> list[list[float]]:
    """Pre-train every cell's model in place (the config's trainer); each one's losses."""
    return together.pretrain_by(c.trainer, [x.model for x in cells], [x.d_pre for x in cells],
                                steps=[x.pretrain_steps for x in cells], batch_size=c.pretrain.batch,
                                lr=c.pretrain.lr, seeds=[x.seed for x in cells])


def run_arms(config: CounterfactualConfig, cells: list[tuple[int, Arm]]) -> list[dict]:
    """Pre-train, align, perturb (and the controls) each (seed, arm) cell; their records. Each
    stage runs every cell's models at once: with the ensemble trainer in one batched step (a
    cell's numbers do not depend on which cells it trains with), with the loop one by one."""
    began = time.perf_counter()
    c = config
    ready = [_cell(c, seed, arm) for seed, arm in cells]
    losses = _pretrain(c, ready)
    started = [_Started.of(c, cell, cell_losses) for cell, cell_losses in zip(ready, losses, strict=True)]
    _align_all(c, started)
    perturbing = [run for x in started for run in _perturbations(c, x)]
    for run, points in zip(perturbing, _perturb_all(c, perturbing), strict=True):
        run.put(points)
    wall_s = (time.perf_counter() - began) / len(started)  # the stages ran together: their time shared evenly
    return [{**x.record, "wall_s": wall_s} for x in started]


def run_arm(config: CounterfactualConfig, seed: int, arm: Arm) -> dict:
    """One cell's record (`run_arms` of one cell)."""
    return run_arms(config, [(seed, arm)])[0]


def _align_all(c: CounterfactualConfig, started: list["_Started"]) -> None:
    """Every cell's alignment paths, run together: its own at align_lr (a joint arm has none: its
    aligned model is the pre-trained one) and the dose arm's at dose_align_lr from a copy of the
    pre-trained model; each path keeps its models at the dose and at the target."""
    paths = [(x, "align", c.align_lr, x.cell.model) for x in started if x.cell.arm.mode != "joint"]
    paths += [(x, "dose_arm", c.dose_align_lr, copy.deepcopy(x.pretrained)) for x in started if x.cell.arm.dose_arm]
    keepers = [_Keeper(c) for _ in paths]
    points = _trajectories(c, [_align_run(c, x, model, lr, keep)
                               for (x, _, lr, model), keep in zip(paths, keepers, strict=True)])
    for (x, name, lr, _), keep, path_points in zip(paths, keepers, points, strict=True):
        x.aligned[name], summary = keep.models, keep.summary(path_points)
        if name == "align":
            x.record["align"] = summary
        else:
            x.record["dose_arm"] = {"align": summary["target"], "align_lr": lr}
    for x in started:
        if x.cell.arm.mode == "joint":  # aligned already: the model as pre-trained on the mixture
            x.aligned["align"], x.record["align"] = {"dose": x.cell.model}, _joint_alignment(c, x.record["pretrain"])


@dataclass
class _Started:
    """A pre-trained cell: its copy of the pre-trained model, its measurer, its record so far and
    its aligned models (by alignment run: "align", "dose_arm"; each by variant: dose, target)."""

    cell: _Cell
    pretrained: object
    measure: object
    record: dict
    aligned: dict

    @classmethod
    def of(cls, c: CounterfactualConfig, cell: _Cell, losses: list[float]) -> "_Started":
        """The cell measured after pre-training."""
        arm, world = cell.arm, cell.world
        prompts = world.prompts(c.eval_prompts)
        pretrained = copy.deepcopy(cell.model)
        reference = measure.response_log_probs(pretrained, world, prompts)
        measure_model = _measurer(world, world.laws(arm.f), prompts, reference)
        record = {"arm": arm.name, "seed": cell.seed, "f": arm.f, "n_pre": arm.n_pre,
                  "pretrain_steps": cell.pretrain_steps,
                  "pretrain": {**measure_model(pretrained), "loss_every_50_steps": losses},
                  "entropy_nats_per_token": information(world, arm.f)["entropy_nats_per_token"]}
        return cls(cell, pretrained, measure_model, record, {})


class _Keeper:
    """Keeps the models of an alignment path at the dose and at the target score (the first
    checkpoint at or above it, else the last), and summarizes the path."""

    def __init__(self, c: CounterfactualConfig):
        self.c, self.kept = c, {}

    def __call__(self, q, current, point) -> None:
        c = self.c
        if q == c.q1_dose:
            self.kept["dose"] = (copy.deepcopy(current), point)
        if "target" not in self.kept and (point["score"] >= c.target_score or q == c.q1_max):
            self.kept["target"] = (copy.deepcopy(current), point)

    @property
    def models(self) -> dict:
        return {variant: m for variant, (m, _) in self.kept.items()}

    def summary(self, points: list[dict]) -> dict:
        """The record of the path: its points, and the q1, score and weight movement at each kept model."""
        out = {"points": [{k: p[k] for k in ("q", "score", "valid_mass", "relative_update")} for p in points]}
        for variant, (_, point) in self.kept.items():
            out[variant] = {"q1": point["q"], "score": point["score"], "relative_update": point["relative_update"],
                            "reached_target": point["score"] >= self.c.target_score}
        return out


def _align_run(c: CounterfactualConfig, x: _Started, model, lr: float, keep: _Keeper) -> together.Run:
    """One alignment trajectory at ``lr`` on the cell's D_align, checkpoints every batch and at the dose."""
    checkpoints = tuple(sorted(set(range(c.align_batch, c.q1_max + 1, c.align_batch)) | {c.q1_dose, c.q1_max}))
    return together.Run(model, x.cell.d_align, checkpoints, x.measure, lr, c.align_batch, x.cell.seed,
                        c.world.response_start, on_checkpoint=keep)


def _trajectories(c: CounterfactualConfig, runs: list[together.Run]) -> list[list[dict]]:
    """Every run's points: together (the ensemble trainer) or one after another (the loop)."""
    if c.trainer == "ensemble":
        return together.trajectories(runs)
    return [trajectory.trajectory(r.model, r.tokens, r.checkpoints, r.measure, lr=r.lr, batch_size=r.batch_size,
                                  seed=r.seed, loss_from=r.loss_from, objective=r.objective,
                                  on_checkpoint=r.on_checkpoint) for r in runs]


def _joint_alignment(c: CounterfactualConfig, pretrained: dict) -> dict:
    """The alignment record of a joint arm: its dose was seen during pre-training, so its aligned
    model is the pre-trained one (no update since, no target reached by design)."""
    score = pretrained["score"]
    return {"points": [], "dose": {"q1": c.q1_dose, "score": score, "relative_update": 0.0,
                                   "reached_target": score >= c.target_score, "joint": True}}


@dataclass(frozen=True)
class _Perturbation:
    """One perturbation run of a cell: its start model, learning rate and objective, and where
    its points go in the cell's record (``put``)."""

    cell: _Started
    start: object
    lr: float
    objective: trajectory.SFT
    put: Callable[[list], None]


def _into(target: dict, key: str) -> Callable[[list], None]:
    return lambda points: target.__setitem__(key, points)


def _perturbations(c: CounterfactualConfig, x: _Started) -> list[_Perturbation]:
    """A cell's perturbation runs: every aligned variant at every second-stage rate, the dose
    arm's, and the positive controls (from the primary endpoint's aligned model at its rate: the
    output anchor, the spring, replay)."""
    arm, record, aligned, sft = x.cell.arm, x.record, x.aligned["align"], trajectory.SFT
    record["perturb"] = [{"alignment": v, "second_lr": lr} for v in arm.variants for lr in c.second_lrs]
    runs = [_Perturbation(x, aligned[e["alignment"]], e["second_lr"], sft(), _into(e, "points"))
            for e in record["perturb"]]
    endpoint = c.primary_endpoint
    lr = endpoint.second_lr
    if arm.dose_arm:  # the same f to the same target at another rate: another dose, the same score
        runs.append(_Perturbation(x, x.aligned["dose_arm"]["target"], lr, sft(), _into(record["dose_arm"], "perturb")))
    if not arm.controls:
        return runs
    start = aligned[endpoint.alignment]
    record["anchor"] = [{"anchor_beta": beta} for beta in c.anchor_beta]
    runs += [_Perturbation(x, start, lr, sft(terms=(trajectory.OutputAnchor(x.pretrained, e["anchor_beta"]),)),
                           _into(e, "points")) for e in record["anchor"]]
    record["spring"] = [{"spring": weight} for weight in c.spring if weight > 0]
    runs += [_Perturbation(x, start, lr, sft(terms=(trajectory.Spring.to(x.pretrained, e["spring"]),)),
                           _into(e, "points")) for e in record["spring"]]
    if c.replay:
        q1 = record["align"][endpoint.alignment]["q1"]
        pools = {"replay": np.concatenate([x.cell.d_pre, x.cell.d_align[:q1]]),  # uniform: in proportion to sizes
                 "replay_shared": shared_replay_pool(c, x.cell.world, x.cell.d_align)}
        runs += [_Perturbation(x, start, lr, sft(replay=trajectory.Replay(pool, c.replay_fraction)),
                               _into(record, name)) for name, pool in pools.items()]
    return runs


def _perturb_all(c: CounterfactualConfig, runs: list[_Perturbation]) -> list[list[dict]]:
    """Each perturbation run's points: from a copy of its start model, the Q2 checkpoints on the
    cell's D_perturb; in fixed-steps mode a fresh copy per Q2 (per model, the loop's
    `trajectory.fixed_steps`: no control runs in that mode)."""
    if c.q2_mode == "fixed-steps":
        if any(r.objective.terms or r.objective.replay for r in runs):
            raise ValueError("fixed-steps perturbation cannot apply a control")  # the config refuses it; never plain
        return [trajectory.fixed_steps(copy.deepcopy(r.start), r.cell.cell.d_perturb, c.q2, r.cell.measure,
                                       steps=c.fixed_steps, lr=r.lr, batch_size=c.second_batch, seed=r.cell.cell.seed,
                                       loss_from=c.world.response_start) for r in runs]
    return _trajectories(c, [together.Run(copy.deepcopy(r.start), r.cell.cell.d_perturb, tuple(sorted(c.q2)),
                                          r.cell.measure, r.lr, c.second_batch, r.cell.cell.seed,
                                          c.world.response_start, r.objective) for r in runs])


def shared_replay_pool(c: CounterfactualConfig, world: World, d_align: np.ndarray) -> np.ndarray:
    """The pool both extreme arms replay in the shared-replay check: the middle f's D_pre and the
    first q1_dose alignment examples, identical in both arms (so any effect it adds comes from the
    arms' pre-training, not from what is replayed)."""
    return np.concatenate([world.sample(c.world.n_pre, c.middle, PRE_STREAM).tokens, d_align[:c.q1_dose]])


# ----------------------------------------------------------------------------------- summary

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
        a = {s: _drops(curve(records[cell_key(s, low)]), c.q2, logit) for s in seeds}
        b = {s: _drops(curve(records[cell_key(s, high)]), c.q2, logit) for s in seeds}
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
    per_seed = {s: _window(c, records[cell_key(s, low)], records[cell_key(s, high)], curve) for s in seeds}
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
               if all(records[cell_key(s, arm)]["align"]["target"]["reached_target"] for arm in (low, high))]
    return reached, [s for s in c.seeds if s not in reached]


def summarize(c: CounterfactualConfig, records: dict) -> tuple[dict, dict]:
    fractions = sorted(c.fractions)
    low, high = fraction_arm(fractions[0]), fraction_arm(fractions[-1])
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
        mid = fraction_arm(c.middle)
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
        pair = [records[cell_key(s, arm)] for arm in (low, high)]
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
    aligned = {s: [records[cell_key(s, arm)]["align"][e.alignment] for arm in (low, high)] for s in seeds}
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
    mid = fraction_arm(c.middle)
    got = [records[cell_key(s, mid)] for s in seeds]
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
    for mode in k_modes(c):
        for n in k_sizes(c):
            got = [records[cell_key(s, size_arm(c, n, mode))] for s in seeds]
            rising, falling = [], []
            for record in got:
                points = path(record, "dose", lr)[: c.k_fit_points + 1]
                q = [p["q"] for p in points]
                rising.append(-statistics.slope(q, [p["code_length_nats"]["align"] for p in points]))
                falling.append(statistics.slope(q, [p["code_length_nats"]["pre"] for p in points]))
            observed = statistics.fieller(rising, falling)
            score = float(np.mean([r["align"]["dose"]["score"] for r in got]))
            rows.append({"n_pre": n, "k_mode": mode, "arm": size_arm(c, n, mode),
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
