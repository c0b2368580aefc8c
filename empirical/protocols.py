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

Each cell is written atomically to cells/<name>.json as soon as it is measured; a rerun skips
the cells on disk and reuses checkpoints (safetensors), so a killed sweep loses at most the
cell in progress. ``shard=(i, n)`` runs only the (seed, arm, Q1) groups with index % n == i.
"""

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
from scipy import stats

from elasticity import store
from empirical import metrics, predict, tasks
from empirical.distributed import is_main_process
from empirical.models import SIZES
from empirical.world import World, WorldConfig

VARIANTS = ("sft", "dpo", "reversed")
DATASETS = ("synthetic", "imdb", "safe-rlhf")


@dataclass(frozen=True, kw_only=True)
class ReboundConfig:
    world: WorldConfig = field(default_factory=WorldConfig)
    variant: str = "sft"
    model_size: str = "small"
    q1: tuple[int, ...] = (1000, 2000, 5000, 10000)
    q2: tuple[int, ...] = (100, 200, 500, 1000, 2000)
    seeds: tuple[int, ...] = (0, 1, 2)
    pretrain_epochs: int = 2
    pretrain_lr: float = 3e-3
    first_lr: float = 1e-3
    first_epochs: int = 1
    second_lr: float = 1e-3
    second_epochs: int = 1
    batch_size: int = 32
    dpo_beta: float = 0.1
    eval_prompts: int = 16
    controls: bool = True
    # real models and data (dataset != "synthetic"); see empirical.tasks.TextTask
    dataset: str = "synthetic"
    model_path: str = ""
    data_dir: str = ""
    scorer: str = ""  # "" = the dataset's default (vader for imdb, cost for safe-rlhf)
    scorer_path: str = ""
    lora_rank: int = 0
    max_length: int = 256  # tokens of prompt + completion in training and code lengths
    max_new_tokens: int = 48
    trust_remote_code: bool = False
    accelerate_config: str = ""

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.model_size not in SIZES:
            raise ValueError(f"model_size must be one of {sorted(SIZES)}, got {self.model_size!r}")
        if not self.q1 or not self.q2 or not self.seeds or min(self.q1) < 1 or min(self.q2) < 1:
            raise ValueError("q1, q2 and seeds must be non-empty; q1 and q2 values >= 1")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if (self.dataset == "synthetic") != (not self.model_path):
            raise ValueError("a real dataset (imdb, safe-rlhf) needs --model-path, and --model-path "
                             "needs a real dataset (--dataset imdb|safe-rlhf with --data-dir)")
        if self.model_path and not self.data_dir:
            raise ValueError(f"--dataset {self.dataset} needs --data-dir (a folder of local files)")
        if self.lora_rank < 0 or self.max_length < 8 or self.max_new_tokens < 1:
            raise ValueError("lora_rank must be >= 0, max_length >= 8, max_new_tokens >= 1")
        if self.dataset != "synthetic":
            if not self.scorer:  # resolved here, so that the default and its name are the same run
                object.__setattr__(self, "scorer", tasks.default_scorer(self.dataset))
            return  # sizes are checked against the files when they are read
        first, second = self.stage_sizes()
        if max(self.q1) > first:
            raise ValueError(f"Q1 = {max(self.q1)} is larger than the first-stage set ({first} examples)")
        if max(self.q2) > second:
            raise ValueError(f"Q2 = {max(self.q2)} is larger than the second-stage set ({second} examples)")
        if self.eval_prompts < 2 or self.eval_prompts > self.world.n_held_out:
            raise ValueError(f"eval_prompts must be in [2, n_held_out={self.world.n_held_out}]")

    def stage_sizes(self) -> tuple[int, int]:
        w = self.world
        return (w.n_perturb, w.n_align) if self.variant == "reversed" else (w.n_align, w.n_perturb)

    def as_dict(self) -> dict:
        return asdict(self)


    @property
    def synthetic(self) -> bool:
        return self.dataset == "synthetic"


def config_from_dict(data: dict) -> ReboundConfig:
    data = dict(data)
    data["world"] = WorldConfig(**data.get("world", {}))
    for name in ("q1", "q2", "seeds"):
        if name in data:
            data[name] = tuple(data[name])
    return ReboundConfig(**data)


def with_overrides(config: ReboundConfig, assignments: list[str]) -> ReboundConfig:
    """Apply ``field=value`` (and ``world.field=value``) overrides; lists are comma-separated."""
    top = {f.name: f for f in fields(ReboundConfig)}
    world_fields = {f.name: f for f in fields(WorldConfig)}
    changes, world_changes = {}, {}
    for item in assignments:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        name, value = item.split("=", 1)
        target, known = (world_changes, world_fields) if name.startswith("world.") else (changes, top)
        key = name.removeprefix("world.")
        if key not in known or key == "world":
            raise ValueError(f"--set: unknown field {name!r}; known: "
                             f"{', '.join(sorted(top) + ['world.' + k for k in world_fields])}")
        current = getattr(config.world if target is world_changes else config, key)
        target[key] = parse_like(current, value, name)
    if world_changes:
        changes["world"] = replace(config.world, **world_changes)
    return replace(config, **changes)


def parse_like(current, text: str, name: str):
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(current, tuple):
            return tuple(int(x) for x in text.split(","))
        return type(current)(text)
    except ValueError:
        raise ValueError(f"--set {name}: cannot read {text!r} as {type(current).__name__}") from None


@dataclass(frozen=True)
class Group:
    seed: int
    arm: str  # "pretrained" | "scratch" | "no_sft"
    q1: int


def groups(config: ReboundConfig) -> list[Group]:
    out = [Group(s, "pretrained", q1) for s in config.seeds for q1 in config.q1]
    if config.controls:
        out += [Group(s, "scratch", q1) for s in config.seeds for q1 in config.q1]
        out += [Group(s, "no_sft", 0) for s in config.seeds]
    return out


class Runner:
    """Runs (or resumes) one rebound sweep in ``folder``."""

    def __init__(self, config: ReboundConfig, folder: Path, progress=None, device: str = "cpu"):
        self.config, self.folder, self.progress = config, Path(folder), progress
        store.check_same_config(self.folder, config.as_dict())
        self.task = tasks.make(config, self.folder, self.pretrained, device)  # validates its inputs
        store.claim_run_dir(self.folder, config.as_dict())

    def _checkpoint(self, name: str, make):
        return tasks.checkpoint(self.folder / "checkpoints" / name, make, self.task.load, self.task.save)

    def pretrained(self, seed: int):
        if not self.task.needs_pretraining:
            return self.task.load_base()
        return self._checkpoint(f"pretrained-s{seed}", lambda: self.task.pretrain(seed))

    def _cell_path(self, group: Group, q2: int) -> Path:
        return self.folder / "cells" / f"{group.arm}-s{group.seed}-q1_{group.q1}-q2_{q2}.json"

    def _write_cell(self, group: Group, q2: int, values: dict, start: float):
        cell = {"arm": group.arm, "seed": group.seed, "q1": group.q1, "q2": q2, **values,
                "learning_rate": {"first": self.config.first_lr, "second": self.config.second_lr},
                "epochs": {"first": self.config.first_epochs, "second": self.config.second_epochs},
                "wall_s": time.perf_counter() - start}
        if is_main_process():
            store.atomic_write_text(self._cell_path(group, q2), json.dumps(cell, indent=1) + "\n")
        if self.progress is not None:
            self.progress()

    def run_group(self, group: Group):
        todo = [q2 for q2 in (0, *self.config.q2) if not self._cell_path(group, q2).is_file()]
        if group.arm == "no_sft":
            todo = [q2 for q2 in todo if q2 > 0]
        if not todo:
            return
        if group.arm == "pretrained":
            base = self._checkpoint(f"first-s{group.seed}-q1_{group.q1}",
                                    lambda: self._first(self.pretrained(group.seed), group))
        elif group.arm == "scratch":
            base = self._checkpoint(f"scratch-s{group.seed}-q1_{group.q1}",
                                    lambda: self._first(self.task.fresh(group.seed), group))
        else:
            base = self.pretrained(group.seed)
        for q2 in todo:
            start = time.perf_counter()
            model = base if q2 == 0 else copy.deepcopy(base)
            if q2 > 0:
                self.task.second_stage(model, q2, group.seed)
            self._write_cell(group, q2, self.task.measure(model, group.seed), start)

    def _first(self, model, group: Group):
        self.task.first_stage(model, group.q1, group.seed)
        return model

    def reference_scores(self) -> dict[int, float]:
        out = {}
        for seed in self.config.seeds:
            path = self.folder / "cells" / f"reference-s{seed}.json"
            if not path.is_file():
                value = self.task.reference(seed)
                if not is_main_process():
                    out[seed] = value["score"]
                    continue
                store.atomic_write_text(path, json.dumps(value) + "\n")
            out[seed] = json.loads(path.read_text())["score"]
        return out


def n_cells(config: ReboundConfig) -> int:
    per = len(config.q2) + 1
    return sum(per - (g.arm == "no_sft") for g in groups(config))


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """(i, N) with 0 <= i < N: this machine runs items i, i + N, ... of a grid."""
    index, count = shard
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"shard must be i/N with 0 <= i < N, got {index}/{count}")
    return index, count


def run(config: ReboundConfig, results_root, run_id: str, shard=(0, 1), progress=None,
        device: str = "cpu") -> Path | None:
    """Run (or resume) the sweep; when every cell exists, write result.json and return it."""
    index, count = check_shard(shard)
    folder = store.run_dir(results_root, "rebound", run_id)
    start = time.perf_counter()
    runner = Runner(config, folder, progress, device)
    references = runner.reference_scores()
    for i, group in enumerate(groups(config)):
        if i % count == index:
            runner.run_group(group)
    cells = [json.loads(p.read_text()) for p in sorted((folder / "cells").glob("*-q2_*.json"))]
    if len(cells) < n_cells(config) or not is_main_process():
        return None  # other shards still owe cells
    result = summarize(config, cells, references)
    top = {"reference_score": result.pop("reference_score"), "cells": result.pop("cells")}
    if not config.synthetic:
        top["scorer"] = runner.task.scorer.info
    return store.write_result(results_root, "rebound", run_id, config=config.as_dict(),
                              metrics=result, extra=top, seed=list(config.seeds), device=device,
                              wall_time_s=time.perf_counter() - start)


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
              progress=None, device: str = "cpu") -> Path | None:
    """Several rebound runs (one per named configuration, run_id ``<run_id>.<name>``); when
    all are complete, an index result at ``<run_id>`` with every cell labelled by its run,
    the first run's reference score, and each run's curves and control comparison."""
    start = time.perf_counter()
    paths = [run(config, results_root, f"{run_id}.{name}", shard, progress, device) for name, config in named]
    if any(p is None for p in paths):
        return None
    docs = [store.read_result(p) for p in paths]
    cells = [{"run": name, **cell}
             for (name, _), doc in zip(named, docs, strict=True) for cell in doc["cells"]]
    runs = [{"run": name, "run_id": f"{run_id}.{name}", "reference_score": doc["reference_score"],
             "model_size": config.model_size, "pretrain_epochs": config.pretrain_epochs,
             "second_lr": config.second_lr, "seeds": list(config.seeds),
             "curves": [{k: c[k] for k in ("arm", "q1", "q2", "score", "metrics")}
                        for c in doc["metrics"]["curves"]],
             "elasticity_vs_controls": doc["metrics"]["elasticity_vs_controls"]}
            for (name, config), doc in zip(named, docs, strict=True)]
    return store.write_result(results_root, "rebound", run_id,
                              config={name: c.as_dict() for name, c in named},
                              metrics={"runs": runs},
                              extra={"reference_score": docs[0]["reference_score"], "cells": cells},
                              wall_time_s=time.perf_counter() - start)
