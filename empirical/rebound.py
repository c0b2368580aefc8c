"""The rebound protocol of Section 3, resumable and shardable, on the synthetic world or on a
real model and dataset (``empirical.tasks``).

For each seed: pre-train a model from scratch on D_pre (synthetic) or load the model at
``model_path`` (real); the reference line is its own measured score. Then for each Q1
fine-tune a copy on Q1 examples of one style (``sft`` and ``dpo``: positive; ``reversed``:
negative), then for each Q2 fine-tune a copy of that on Q2
examples of the other style (``sft``/``reversed``: SFT; ``dpo``: DPO with the other style
chosen and the first style rejected) and measure it. Q2 = 0 is the aligned model itself.

Controls (DESIGN.md section 6): the same protocol on a model that was never pre-trained
(arm ``scratch``), and the negative stage applied to the pre-trained model without the
first stage (arm ``no_sft``, Q1 = 0).

The grid runs on the run engine (``elasticity.engine``): one cell per seed's reference and per
(seed, arm, Q1) group, written atomically as it finishes; checkpoints (safetensors) are shared
between groups under a lock, so a killed run resumes, and shards or worker processes on one
folder never duplicate work.
"""

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from elasticity import engine, store
from elasticity.configs import ReboundConfig
from empirical import metrics, predict, tasks
from empirical.world import World


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


class Rebound:
    """The rebound grid for the run engine: one cell per seed's reference score and one per
    (seed, arm, Q1) group, whose record holds a point per Q2."""

    experiment = "rebound"

    def __init__(self, config: ReboundConfig, device: str = "cpu"):
        self.config, self.device = config, device
        self._task = None

    def __getstate__(self):  # worker processes rebuild the task (models, data) themselves
        return {**self.__dict__, "_task": None}

    @property
    def task(self):
        if self._task is None:
            self._task = tasks.make(self.config, self.pretrained, self.device)  # validates inputs
        return self._task

    def cells(self) -> list[str]:
        return [f"reference-s{s}" for s in self.config.seeds] + [g.key for g in groups(self.config)]

    def prepare(self, folder: Path) -> None:
        self.folder = folder
        self.task  # noqa: B018 - builds the task: reads and checks every input

    def _checkpoint(self, name: str, make):
        return tasks.checkpoint(self.folder / "checkpoints" / name, make, self.task.load, self.task.save)

    def pretrained(self, seed: int):
        if not self.task.needs_pretraining:
            return self.task.load_base()
        return self._checkpoint(f"pretrained-s{seed}", lambda: self.task.pretrain(seed))

    def run_cell(self, key: str, folder: Path) -> dict:
        self.folder = folder
        self.task.save_inputs(folder)
        if key.startswith("reference-s"):
            return self.task.reference(int(key.removeprefix("reference-s")))
        group = next(g for g in groups(self.config) if g.key == key)
        return {"points": self._run_group(group)}

    def _run_group(self, group: Group) -> list[dict]:
        if group.arm == "pretrained":
            base = self._checkpoint(f"first-s{group.seed}-q1_{group.q1}",
                                    lambda: self._first(self.pretrained(group.seed), group))
        elif group.arm == "scratch":
            base = self._checkpoint(f"scratch-s{group.seed}-q1_{group.q1}",
                                    lambda: self._first(self.task.fresh(group.seed), group))
        else:
            base = self.pretrained(group.seed)
        points = []
        for q2 in (0, *self.config.q2) if group.arm != "no_sft" else self.config.q2:
            start = time.perf_counter()
            model = base if q2 == 0 else copy.deepcopy(base)
            if q2 > 0:
                self.task.second_stage(model, q2, group.seed)
            c = self.config
            points.append({"arm": group.arm, "seed": group.seed, "q1": group.q1, "q2": q2,
                           **self.task.measure(model, group.seed),
                           "learning_rate": {"first": c.first_lr, "second": c.second_lr},
                           "epochs": {"first": c.first_epochs, "second": c.second_epochs},
                           "wall_s": time.perf_counter() - start})
        return points

    def _first(self, model, group: Group):
        self.task.first_stage(model, group.q1, group.seed)
        return model

    def record_fields(self, key: str) -> tuple:
        if key.startswith("reference-s"):
            return (("score", "number"),)
        return (("points[].score", "number"), ("points[].q2", "int"), ("points[].code_length_nats", "dict"))

    def summarize(self, records: dict[str, dict], folder: Path):
        references = {s: records[f"reference-s{s}"]["score"] for s in self.config.seeds}
        cells = [p for g in groups(self.config) for p in records[g.key]["points"]]
        result = summarize(self.config, cells, references)
        top = {"reference_score": result.pop("reference_score"), "cells": result.pop("cells")}
        if not self.config.synthetic:
            top["scorer"] = self.task.scorer.info
        return result, top


def n_cells(config: ReboundConfig) -> int:
    """Measured points (cells of the old layout): one per (group, Q2)."""
    per = len(config.q2) + 1
    return sum(per - (g.arm == "no_sft") for g in groups(config))


def run(config: ReboundConfig, results_root, run_id: str, shard=(0, 1), progress=None,
        device: str = "cpu", workers: int = 1) -> engine.Outcome:
    """Run (or resume, or read back) the rebound grid; see ``elasticity.engine``."""
    return engine.run(Rebound(config, device), results_root, run_id, shard, progress, workers)


def mean_ci(values) -> dict:
    values = np.asarray(values, float)
    mean = float(values.mean())
    if values.size < 2:
        return {"mean": mean, "ci95": [mean, mean], "n": int(values.size)}
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": int(values.size)}


def _compare(config: ReboundConfig, world: World, rows: list[dict], q1: int, q2s: list[int]) -> list:
    """Observed per-dataset code lengths and normalized rates (mean over seeds) next to the
    optimal compressor of the size-weighted mixture and the Pareto theory, per Q2."""
    reverse = config.variant == "reversed"
    first, second = ("perturb", "align") if reverse else ("align", "perturb")
    out = []
    for q in q2s:
        lengths = [c["code_length_nats"] for c in rows if c["q2"] == q]
        observed = {k: float(np.mean([x[k] for x in lengths])) for k in ("pre", first, second)}
        best = predict.optimal(world, q1, q, first_is_positive=not reverse)
        optimal = dict(zip(("pre", first, second), best["code_length_nats"].values(), strict=False))
        entry = {"q2": q, "observed_code_length_nats": observed, "optimal_code_length_nats": optimal,
                 "gap_nats": {k: observed[k] - v for k, v in optimal.items()},
                 "observed": predict.observed_rates(observed, world, q1, q, first, second),
                 "optimal": {"gamma_ratio": best["gamma_ratio"],
                             "gamma_difference_nats": best["gamma_difference_nats"]}}
        if q > 0:
            entry["pareto_theory"] = predict.pareto_theory(world, q1, q)
        out.append(entry)
    return out


def summarize(config: ReboundConfig, cells: list[dict], references: dict[int, float]) -> dict:
    world = World(config.world) if config.synthetic else None
    reference = mean_ci(list(references.values()))
    curves = []
    keys = sorted({(c["arm"], c["q1"]) for c in cells})
    for arm, q1 in keys:
        rows = [c for c in cells if c["arm"] == arm and c["q1"] == q1]
        q2s = sorted({c["q2"] for c in rows})
        score = [mean_ci([c["score"] for c in rows if c["q2"] == q]) for q in q2s]
        kl = [mean_ci([c["kl_to_pretrained_nats"] for c in rows if c["q2"] == q]) for q in q2s] \
            if config.synthetic else []
        curves.append({"arm": arm, "q1": q1, "q2": q2s, "score": score, "kl_to_pretrained_nats": kl,
                       "metrics": metrics.curve_metrics(q2s, [s["mean"] for s in score],
                                                        [k["mean"] for k in kl], reference["mean"]),
                       "predicted_vs_observed": _compare(config, world, rows, q1, q2s)
                       if q1 and world is not None else []})
    order = sorted(cells, key=lambda c: (c["arm"], c["seed"], c["q1"], c["q2"]))
    return {"reference_score": reference["mean"], "reference_score_ci95": reference["ci95"],
            "variant": config.variant, "cells": order, "curves": curves,
            "elasticity_vs_controls": _against_controls(curves)}


def _against_controls(curves: list[dict]) -> list[dict]:
    """Per Q1: does the pre-trained model reach the reference line with fewer negative
    examples than the never-pre-trained control? (Elasticity is what the pre-trained model
    does beyond a control; the fast-then-slow shape alone proves nothing.)"""
    by = {(c["arm"], c["q1"]): c["metrics"] for c in curves}
    no_sft = by.get(("no_sft", 0), {}).get("crossing_q2")
    out = []
    for (arm, q1), m in sorted(by.items()):
        if arm != "pretrained" or ("scratch", q1) not in by:
            continue
        ours, control = m["crossing_q2"], by[("scratch", q1)]["crossing_q2"]
        if ours is None or control is None:
            verdict = "undetermined (a curve never reaches the reference line on this grid)"
        elif ours < control:
            verdict = "pre-trained rebounds faster than the control: elasticity beyond fine-tuning"
        else:
            verdict = ("no elasticity beyond the control: the never-pre-trained model "
                       "reverts as fast or faster")
        out.append({"q1": q1, "crossing_q2_pretrained": ours, "crossing_q2_scratch": control,
                    "crossing_q2_no_sft": no_sft, "verdict": verdict})
    return out


def run_sweep(named: list[tuple[str, ReboundConfig]], results_root, run_id: str, shard=(0, 1),
              progress=None, device: str = "cpu", workers: int = 1) -> engine.Outcome:
    """Several rebound runs (one per named configuration, run_id ``<run_id>.<name>``); when
    all are complete, an index result at ``<run_id>`` with every cell labelled by its run,
    the first run's reference score, and each run's curves and control comparison."""
    start = time.perf_counter()
    outcomes = [run(config, results_root, f"{run_id}.{name}", shard, progress, device, workers)
                for name, config in named]
    if any(o.path is None for o in outcomes):
        return engine.Outcome(None, False, sum(o.done for o in outcomes), sum(o.total for o in outcomes))
    config = {name: c.as_dict() for name, c in named}
    with store.locked(store.run_lock(results_root, "rebound", run_id)):
        stored = store.finished(results_root, "rebound", run_id, config)
        if stored is not None:
            path = store.run_dir(results_root, "rebound", run_id) / store.RESULT_FILE
            return engine.Outcome(path, True, 1, 1)
        path = _write_index(named, outcomes, results_root, run_id, config, time.perf_counter() - start)
    return engine.Outcome(path, False, sum(o.total for o in outcomes), sum(o.total for o in outcomes))


def _write_index(named, outcomes, results_root, run_id: str, config: dict, wall_s: float) -> Path:
    docs = [store.read_result(o.path, experiment="rebound") for o in outcomes]
    cells = [{"run": name, **cell}
             for (name, _), doc in zip(named, docs, strict=True) for cell in doc["cells"]]
    runs = [{"run": name, "run_id": f"{run_id}.{name}", "reference_score": doc["reference_score"],
             "model_size": c.model_size, "pretrain_epochs": c.pretrain_epochs,
             "second_lr": c.second_lr, "seeds": list(c.seeds),
             "curves": [{k: v[k] for k in ("arm", "q1", "q2", "score", "metrics")}
                        for v in doc["metrics"]["curves"]],
             "elasticity_vs_controls": doc["metrics"]["elasticity_vs_controls"]}
            for (name, c), doc in zip(named, docs, strict=True)]
    return store.write_result(results_root, "rebound", run_id, config=config, metrics={"runs": runs},
                              extra={"reference_score": docs[0]["reference_score"], "cells": cells},
                              wall_time_s=wall_s)
