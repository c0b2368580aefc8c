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
This module runs the cells; ``empirical.counterfactual_stats`` reads their records (the summary).
"""

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from empirical import counterfactual_stats, measure, together, trajectory
from empirical.counterfactual_arms import ALIGN_STREAM, PERTURB_STREAM, PRE_STREAM, Arm, arms, cell_key
from empirical.world import World, information
from harness.configs import CounterfactualConfig


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
        return counterfactual_stats.summarize(self.config, records)


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
