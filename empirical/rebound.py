"""The rebound protocol of Section 3 on the run engine, on the synthetic world or on a real
model and dataset (``empirical.tasks``).

Per seed (each seed its own world) and arm, one cell:

- ``pretrained``: the pre-trained model, fine-tuned on Q1 examples of the first style (``sft``
  and ``dpo``: positive; ``reversed``: negative), then on the other style along one trajectory
  (SFT; ``dpo``: DPO, the other style chosen) measured at every Q2 (Q2 = 0: the aligned model);
- ``scratch`` (control): the same on a model that was never pre-trained on the world's laws (on
  the synthetic world it is pre-trained as long on the format only, responses uniform over all
  M, so that it writes well-formed responses and its points are measured; a real model's
  control is the architecture with fresh weights);
- ``no_sft`` (control): the second stage on the pre-trained model, without the first.

Each arm is judged against its own starting point: its **reference** is the score of the model
it started from (the pre-trained model; for ``scratch``, the fresh one). Per seed and curve,
the **crossing** is the Q2 at which the score returns to that reference from the side the first
stage left it on; arms are compared pairwise by seed (pretrained - scratch). Points where the
model puts less than ``min_valid_mass`` on well-formed responses are withheld from the
statistics (flagged in the cells). The **effective k** -dCE_align/dCE_pre over the first Q2
points of the pre-trained arm is set against |D_pre|/Q1 (the theorem in difference form).
"""

import copy
import time
from dataclasses import dataclass
from pathlib import Path

from empirical import metrics, statistics, tasks, together
from empirical.train import NO_REPORT_TO
from harness import engine, store
from harness.configs import ReboundConfig

ARMS = ("pretrained", "scratch", "no_sft")
# Changes of what a configuration computes, folded into the default run ids (elasticity.runs), so that a
# result made by an earlier protocol is never read back as this one's. 2: on the synthetic world the
# never-pre-trained control is pre-trained on the format only (1: fresh weights, its points withheld).
# 3: a curve that starts within float32 rounding of its reference (metrics.AT_REFERENCE) has no
# crossing (2 read a start 1e-8 off it as a side, and reported no_sft crossing at Q2 ~ 1e-6).
PROTOCOL_VERSION = 3


@dataclass(frozen=True)
class Group:
    seed: int
    arm: str  # "pretrained" | "scratch" | "no_sft"
    q1: int

    @property
    def key(self) -> str:
        return f"{self.arm}-s{self.seed}-q1_{self.q1}"


def groups(config: ReboundConfig) -> list[Group]:
    out = [Group(s, "pretrained", q1) for s in config.seeds for q1 in config.q1]
    if config.controls:
        out += [Group(s, "scratch", q1) for s in config.seeds for q1 in config.q1]
        out += [Group(s, "no_sft", 0) for s in config.seeds]
    return out


def _start_name(arm: str) -> str:
    """The start an arm's cells share per seed: the control's (format-only) or the pre-trained."""
    return "format-only" if arm == "scratch" else "pretrained"


class Rebound:
    """The rebound grid for the run engine: one cell per (seed, arm, Q1) trajectory."""

    experiment = "rebound"

    def __init__(self, config: ReboundConfig, device: str = "cpu", report_to: tuple[str, ...] = ()):
        if report_to and config.synthetic:
            raise ValueError(NO_REPORT_TO)
        self.config, self.device, self.report_to = config, device, tuple(report_to)
        self._task = None

    def __getstate__(self):  # worker processes rebuild the task (models, data) themselves
        return {**self.__dict__, "_task": None}

    @property
    def task(self):
        if self._task is None:
            self._task = tasks.make(self.config, self.device)  # reads and checks every input
            self._task.report_to = self.report_to
        return self._task

    def cells(self) -> list[str]:
        return [g.key for g in groups(self.config)]

    def prepare(self, folder: Path) -> None:
        self.task  # noqa: B018 - builds the task: reads and checks every input

    def record_fields(self, key: str) -> tuple:
        return (("reference_score", "number"), ("points[].q", "int"), ("points[].score", "number"),
                ("points[].valid_mass", "number"), ("points[].code_length_nats", "dict"))

    @property
    def cells_across_ranks(self) -> bool:
        """Under torchrun, ranks split the synthetic world's cells; a real model's cells train
        data-parallel on every rank (harness.engine)."""
        return self.config.synthetic

    def groups(self, keys: list[str]) -> list[list[str]]:
        """Synthetic cells with the ensemble trainer train together, GROUP_SIZE at a time."""
        return together.groups(keys, self.config.synthetic and self.config.trainer == "ensemble")

    def run_group(self, keys: list[str], folder: Path) -> dict[str, dict]:
        """The group's cells: on the synthetic world every stage of every cell with the config's
        trainer (the ensemble: the group's models together; `_run_synthetic`); real models cell
        by cell."""
        if not self.config.synthetic:
            return {key: self.run_cell(key, folder) for key in keys}
        return self._run_synthetic(keys, folder)

    @staticmethod
    def _checkpoint(folder: Path, name: str, seed: int) -> Path:
        return folder / "checkpoints" / f"{name}-s{seed}"

    def _start(self, folder: Path, arm: str, seed: int):
        """The model an arm starts from: the pre-trained one, or the control's (scratch); on the
        synthetic world each is made once per seed and kept as a checkpoint the cells share."""
        make = self.task.control if arm == "scratch" else self.task.base
        if not self.config.synthetic:
            return make(seed)
        return tasks.checkpoint(self._checkpoint(folder, _start_name(arm), seed), lambda: make(seed),
                                self.task.load, self.task.save)

    def _run_synthetic(self, keys: list[str], folder: Path) -> dict[str, dict]:
        """The starts not yet checkpointed pre-train together and are checkpointed; then the first
        stage of every cell that has one, and every cell's second stage, each stage one call of
        the task (`tasks.SyntheticTask`: one ensemble, or the loop). A record's wall_s is the
        group's time over its cells."""
        began = time.perf_counter()
        by_key = {g.key: g for g in groups(self.config)}
        cells = [by_key[k] for k in keys]
        wanted = sorted({(_start_name(g.arm), g.seed) for g in cells})
        missing = [(name, seed) for name, seed in wanted if not self._checkpoint(folder, name, seed).exists()]
        if missing:
            for (name, seed), model in zip(missing, self.task.starts(missing), strict=True):
                tasks.checkpoint(self._checkpoint(folder, name, seed), lambda m=model: m, self.task.load,
                                 self.task.save)
        for g in cells:
            self.task.save_inputs(folder, g.seed)
        starts = [self._start(folder, g.arm, g.seed) for g in cells]
        references = [self.task.measure(start, g.seed)["score"] for start, g in zip(starts, cells, strict=True)]
        models = [copy.deepcopy(start) for start in starts]
        aligned = [(m, g) for m, g in zip(models, cells, strict=True) if g.arm != "no_sft"]
        self.task.first_stages([m for m, _ in aligned], [g.q1 for _, g in aligned], [g.seed for _, g in aligned])
        paths = self.task.second_trajectories(models, [g.seed for g in cells], starts)
        wall_s = (time.perf_counter() - began) / len(cells)
        return {g.key: self._record(g, reference, points, wall_s)
                for g, reference, points in zip(cells, references, paths, strict=True)}

    def _record(self, group: Group, reference: float, points: list[dict], wall_s: float) -> dict:
        for p in points:
            p["withheld"] = p["valid_mass"] < self.config.min_valid_mass
        return {"arm": group.arm, "seed": group.seed, "q1": group.q1, "reference_score": reference,
                "points": points, "wall_s": wall_s}

    def run_cell(self, key: str, folder: Path) -> dict:
        if self.config.synthetic:
            return self._run_synthetic([key], folder)[key]
        group = next(g for g in groups(self.config) if g.key == key)
        if self.report_to:  # each trl stage of the cell logs under logs/<cell>/<stage>
            self.task.log_dir = folder / "logs" / key
        began = time.perf_counter()
        self.task.save_inputs(folder, group.seed)
        start = self._start(folder, group.arm, group.seed)
        reference = self.task.measure(start, group.seed)["score"]
        model = copy.deepcopy(start)
        if group.arm != "no_sft":
            self.task.first_stage(model, group.q1, group.seed)
        points = self.task.second_trajectory(model, group.seed, start)
        return self._record(group, reference, points, time.perf_counter() - began)

    def summarize(self, records: dict[str, dict], folder: Path):
        metrics_, top = summarize(self.config, records)
        if not self.config.synthetic:
            top["scorer"] = self.task.scorer.info
        return metrics_, top


# ----------------------------------------------------------------------------------- summary

def _crossing(record: dict) -> float | None:
    kept = [p for p in record["points"] if not p["withheld"]]
    if len(kept) < 2 or kept[0]["q"] != 0:
        return None
    return metrics.crossing_q2([p["q"] for p in kept], [p["score"] for p in kept], record["reference_score"])


def _curve(c: ReboundConfig, records: list[dict], arm: str, q1: int) -> dict:
    """Mean and 95% interval over seeds at every Q2 (withheld points left out and counted)."""
    q2s = [p["q"] for p in records[0]["points"]]
    score, withheld = [], []
    for i in range(len(q2s)):
        kept = [r["points"][i]["score"] for r in records if not r["points"][i]["withheld"]]
        withheld.append(len(records) - len(kept))
        score.append(statistics.mean_ci(kept) if kept else None)
    crossings = {r["seed"]: _crossing(r) for r in records}
    reached = [x for x in crossings.values() if x is not None]
    out = {"arm": arm, "q1": q1, "q2": q2s, "score": score, "withheld": withheld,
           "reference_score": statistics.mean_ci([r["reference_score"] for r in records]),
           "crossing_q2": {"per_seed": {str(s): x for s, x in crossings.items()},
                           **(statistics.mean_ci(reached) if reached else {"mean": None, "ci95": None, "n": 0}),
                           "never": len(crossings) - len(reached)}}
    if c.synthetic and records[0]["points"][0].get("kl_to_pretrained_nats") is not None:
        kl = [statistics.mean_ci([r["points"][i]["kl_to_pretrained_nats"] for r in records])["mean"]
              for i in range(len(q2s))]
        out["kl_below_threshold_q2"] = metrics.kl_below_q2(q2s, kl)
    return out


def _versus_controls(c: ReboundConfig, by_key: dict, q1: int) -> dict:
    """Per seed, crossing(pretrained) - crossing(scratch); seeds where either never returns
    on the grid cannot be paired and are counted apart."""
    ours = {s: _crossing(by_key[Group(s, "pretrained", q1).key]) for s in c.seeds}
    control = {s: _crossing(by_key[Group(s, "scratch", q1).key]) for s in c.seeds}
    both = [s for s in c.seeds if ours[s] is not None and control[s] is not None]
    row = {"q1": q1, "seeds_paired": len(both), "seeds_unpaired": len(c.seeds) - len(both)}
    if not both:
        return row | {"difference_q2": None, "verdict": "not resolved (no seed returns in both arms)"}
    diff = statistics.paired({s: ours[s] for s in both}, {s: control[s] for s in both})
    verdict = {"elasticity": "pre-trained returns later than the never-pre-trained control",  # interval > 0
               "opposite": "pre-trained returns sooner than the never-pre-trained control",  # interval < 0
               "not resolved": "not resolved"}[statistics.verdict(diff["ci95"])]
    return row | {"difference_q2": {k: diff[k] for k in ("mean", "ci95", "n")}, "verdict": verdict}


def _effective_k(c: ReboundConfig, records: list[dict], q1: int) -> dict:
    """-dCE_align/dCE_pre over the first k_fit_points Q2 of the pre-trained arm's trajectories."""
    first, second = ("perturb", "align") if c.variant == "reversed" else ("align", "perturb")
    rising, falling = [], []
    for r in records:
        points = r["points"][: c.k_fit_points + 1]
        q = [p["q"] for p in points]
        rising.append(-statistics.slope(q, [p["code_length_nats"][first] for p in points]))
        falling.append(statistics.slope(q, [p["code_length_nats"]["pre"] for p in points]))
    observed = statistics.fieller(rising, falling)
    return {"q1": q1, "nominal_k": c.world.n_pre / q1,
            "observed": {k: observed[k] for k in ("mean", "ci95", "undefined")}}


def summarize(c: ReboundConfig, records: dict) -> tuple[dict, dict]:
    by_key = records
    curves = []
    for arm in ARMS:
        for q1 in sorted({g.q1 for g in groups(c) if g.arm == arm}):
            rows = [by_key[Group(s, arm, q1).key] for s in c.seeds]
            curves.append(_curve(c, rows, arm, q1))
    metrics_ = {"variant": c.variant, "curves": curves,
                "versus_controls": [_versus_controls(c, by_key, q1) for q1 in c.q1] if c.controls else []}
    if c.synthetic:
        metrics_["effective_k"] = [_effective_k(c, [by_key[Group(s, "pretrained", q1).key] for s in c.seeds], q1)
                                   for q1 in c.q1]
    cells = [{**{k: r[k] for k in ("arm", "seed", "q1", "reference_score")}, **p}
             for r in (by_key[g.key] for g in groups(c)) for p in r["points"]]
    reference = statistics.mean_ci([by_key[Group(s, "pretrained", c.q1[0]).key]["reference_score"]
                                    for s in c.seeds])
    return metrics_, {"reference_score": reference["mean"], "reference_score_ci95": reference["ci95"],
                      "cells": cells}


def run_sweep(named: list[tuple[str, ReboundConfig]], results_root, run_id: str, shard=(0, 1),
              progress=None, device: str = "cpu", workers: int = 1, report_to: tuple[str, ...] = ()) -> engine.Outcome:
    """Several rebound runs (one per named configuration, run_id ``<run_id>.<name>``); when
    all are complete, an index result at ``<run_id>`` with each run's curves and comparisons."""
    start = time.perf_counter()
    outcomes = [engine.run(Rebound(config, device, report_to), results_root, f"{run_id}.{name}", shard, progress,
                           workers)
                for name, config in named]
    total = sum(o.total for o in outcomes)
    if any(o.path is None for o in outcomes):
        return engine.Outcome(None, False, sum(o.done for o in outcomes), total)
    config = {name: c.as_dict() for name, c in named}
    with store.locked(store.run_lock(results_root, "rebound", run_id)):
        if store.finished(results_root, "rebound", run_id, config) is not None:
            return engine.Outcome(store.run_dir(results_root, "rebound", run_id) / store.RESULT_FILE, True,
                                  total, total)
        docs = [store.read_result(o.path, experiment="rebound") for o in outcomes]
        runs = [{"run": name, "run_id": f"{run_id}.{name}", "reference_score": doc["reference_score"],
                 "model_size": c.model_size, "pretrain_steps": c.pretrain.steps, "second_lr": c.second_lr,
                 "seeds": list(c.seeds), "curves": doc["metrics"]["curves"],
                 "versus_controls": doc["metrics"]["versus_controls"],
                 "effective_k": doc["metrics"].get("effective_k", [])}
                for (name, c), doc in zip(named, docs, strict=True)]
        path = store.write_result(results_root, "rebound", run_id, config=config, metrics={"runs": runs}, device=device,
                                  extra={"reference_score": docs[0]["reference_score"], "cells": []},
                                  wall_time_s=time.perf_counter() - start)
    return engine.Outcome(path, False, total, total)


def n_points(config: ReboundConfig) -> int:
    """Measured points over the grid: one per (group, Q2) and the aligned model."""
    return len(groups(config)) * (len(config.q2) + 1)

