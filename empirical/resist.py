"""Forward against inverse alignment (the paper's Appendix E, Tables 1 and 2).

Per seed: shuffle the dataset's prompt/completion pairs and cut four parts D_1..D_4 of
``part_size`` each. From the base model theta_0 (synthetic: pre-trained from scratch on D_pre;
real: the model at ``model_path``, optionally first fine-tuned on an instruction set, as the
paper does before its safe and truthful runs), fine-tune sequentially on D_1, D_2, D_3 into
theta_1, theta_2, theta_3. Each theta_i answers D_4's prompts (the training data of the paths)
and held-out test prompts (the data the cross-entropies are measured on) with the paper's
decoding (top-k 30, top-p 0.9, temperature 0.1).

For each pair (i, j) in (1, 2), (2, 3), (1, 3):
- forward (path B): theta_i fine-tuned on theta_j's answers -> theta'_ij, distance
  H(theta_j, theta'_ij): the code length of theta'_ij on theta_j's test answers;
- inverse (path A): theta_j fine-tuned on theta_i's answers -> theta'_ji, distance
  H(theta_i, theta'_ji).
Table 2 reads "H(theta_i, theta'_ji) vs. H(theta_j, theta'_ij)" (inverse vs forward); the
paper's claim is that the inverse distance is the smaller. Both paths use the same steps,
hyper-parameters and prompts. The distances before the paths' training are recorded too.
Cross-entropies are in nats per token (completion tokens, EOS included).

It runs on the run engine (``elasticity.engine``): each (seed, pair) is a cell written as soon
as it is measured; checkpoints and generations are kept and shared under locks, so a rerun
resumes and parallel shards never duplicate work.
"""

import copy
import time
from pathlib import Path

import numpy as np

from elasticity import engine, store
from elasticity.configs import ResistConfig
from empirical import text
from empirical.distributed import is_main_process, trainer_kwargs
from empirical.rebound import mean_ci
from empirical.tasks import checkpoint
from empirical.train import StageConfig, sft_pairs, train
from empirical.world import World

PAIRS = ((1, 2), (2, 3), (1, 3))


class _Synthetic:
    """The world's alignment set as text, and a base model pre-trained from scratch."""

    def __init__(self, config: ResistConfig):
        from empirical.tokenizer import prompt_completion, world_tokenizer

        self.config, self.world = config, World(config.world)
        self.datasets = self.world.datasets()
        self.tokenizer = world_tokenizer(config.world)
        self.pairs = list(zip(*prompt_completion(self.datasets["align"].tokens, config.world), strict=True))
        held = prompt_completion(self.datasets["align_held_out"].tokens, config.world)[0]
        self.eval_prompts = held[: config.eval_prompts]

    def base(self, seed: int):
        from empirical.models import build_model

        c = self.config
        model = build_model(c.world.vocab_size, c.world.sequence_length, c.model_size, seed)
        train(model, self.datasets["pre"].tokens, StageConfig(
            epochs=c.pretrain_epochs, learning_rate=c.pretrain_lr, batch_size=64, seed=seed))
        return model

    def load(self, path):
        return text.load_causal_lm(path)


class _Real:
    def __init__(self, config: ResistConfig, device: str):
        from empirical import data

        self.config, self.device = config, device
        self.model_dir = text.check_causal_lm(config.model_path)
        self.tokenizer = text.load_tokenizer(self.model_dir, config.trust_remote_code)
        loaded = data.load(config.dataset, config.data_dir, tokenizer=self.tokenizer)
        self.pairs = loaded.positive  # alpaca/qa: every example; safe-rlhf: the safe answers
        self.eval_prompts = loaded.eval_prompts[: config.eval_prompts]
        self.warmup = data.load("alpaca", config.warmup_data_dir).positive if config.warmup_data_dir else []

    def base(self, seed: int):
        model = self.load(self.model_dir)
        if self.warmup:
            c = self.config
            _sft(model, self.tokenizer, self.warmup, c, c.warmup_lr, c.warmup_epochs, c.warmup_scheduler,
                 seed, self.device)
        return model

    def load(self, path):
        return text.load_causal_lm(path, self.device, self.config.trust_remote_code)


def _sft(model, tokenizer, pairs, config: ResistConfig, lr, epochs, scheduler, seed, device):
    prompts, completions = zip(*pairs, strict=True)
    extra = trainer_kwargs(config.accelerate_config)
    stage = StageConfig(learning_rate=lr, epochs=epochs, batch_size=config.batch_size, seed=seed,
                        lr_scheduler=scheduler, lora_rank=config.lora_rank, device=device,
                        trainer_extra=extra)
    sft_pairs(model, tokenizer, prompts, completions, stage, config.max_length)


class Resist:
    """Forward vs inverse for the run engine: one cell per (seed, pair); the base, theta_1..3
    and their generations are shared by a seed's pairs (checkpoints and files under locks)."""

    experiment = "resist"

    def __init__(self, config: ResistConfig, device: str = "cpu"):
        self.config, self.device = config, device
        self._source = None

    def __getstate__(self):  # worker processes rebuild the source (models, data) themselves
        return {**self.__dict__, "_source": None}

    @property
    def source(self):
        if self._source is None:
            c = self.config
            self._source = _Synthetic(c) if c.dataset == "synthetic" else _Real(c, self.device)
        return self._source

    @property
    def part(self) -> int:
        return self.config.part_size or len(self.source.pairs) // 4

    def cells(self) -> list[str]:
        return [f"s{seed}-pair_{i}{j}" for seed in self.config.seeds for i, j in PAIRS]

    def prepare(self, folder: Path) -> None:
        self.folder = folder
        trainer_kwargs(self.config.accelerate_config)  # checked before any training
        if self.part < 1 or 4 * self.part > len(self.source.pairs):
            raise ValueError(f"four parts of {self.part} examples need {4 * max(self.part, 1)} pairs; the "
                             f"dataset has {len(self.source.pairs)}")
        if len(self.source.eval_prompts) < 2:
            raise ValueError("need at least 2 held-out prompts to measure cross-entropies")

    @property
    def decoding(self):
        c = self.config
        return text.Decoding(top_k=c.top_k, top_p=c.top_p, temperature=c.temperature,
                             max_new_tokens=c.max_new_tokens)

    def _save(self, model, path):
        model.save_pretrained(path)
        self.source.tokenizer.save_pretrained(path)

    def _model(self, name: str, make):
        return checkpoint(self.folder / "checkpoints" / name, make, self.source.load, self._save)

    def _parts(self, seed: int) -> list[list[tuple[str, str]]]:
        order = np.random.default_rng([seed, 4]).permutation(len(self.source.pairs))
        return [[self.source.pairs[i] for i in order[k * self.part:(k + 1) * self.part]] for k in range(4)]

    def thetas(self, seed: int, parts) -> list:
        c = self.config
        models = [self._model(f"theta0-s{seed}", lambda: self.source.base(seed))]
        for i in (1, 2, 3):
            def make(prev=models[-1], i=i):
                model = copy.deepcopy(prev)
                _sft(model, self.source.tokenizer, parts[i - 1], c, c.sequential_lr, c.sequential_epochs,
                     c.sequential_scheduler, seed, self.device)
                return model
            models.append(self._model(f"theta{i}-s{seed}", make))
        return models

    def generations(self, seed: int, i: int, model, d4_prompts) -> dict:
        """theta_i's answers to D_4's prompts and to the test prompts (kept on disk, made once)."""
        path = self.folder / "generations" / f"theta{i}-s{seed}.json"
        with store.locked(path.with_suffix(".lock")):
            if path.is_file():
                return store.read_json(path)
            tokenizer = self.source.tokenizer
            out = {"train": text.generate(model, tokenizer, d4_prompts, self.decoding, seed * 10 + i),
                   "test": text.generate(model, tokenizer, self.source.eval_prompts, self.decoding,
                                         seed * 10 + i + 5)}
            if is_main_process():
                store.atomic_write_json(path, out)
        return out

    def _cross_entropy(self, model, answers: list[str]) -> float:
        return text.completion_code_length(model, self.source.tokenizer, self.source.eval_prompts, answers,
                                           self.config.max_length)["nats_per_token"]

    def _path(self, start, answers: list[str], prompts, seed: int):
        c = self.config
        model = copy.deepcopy(start)
        _sft(model, self.source.tokenizer, list(zip(prompts, answers, strict=True)), c, c.path_lr,
             c.path_epochs, c.path_scheduler, seed, self.device)
        return model

    def run_cell(self, key: str, folder: Path) -> dict:
        self.folder = folder
        seed_text, pair_text = key.split("-pair_")
        seed, (i, j) = int(seed_text[1:]), (int(pair_text[0]), int(pair_text[1]))
        parts = self._parts(seed)
        d4_prompts = [p for p, _ in parts[3]]
        thetas = self.thetas(seed, parts)
        gen = {n: self.generations(seed, n, thetas[n], d4_prompts) for n in (i, j)}
        start = time.perf_counter()
        forward = self._path(thetas[i], gen[j]["train"], d4_prompts, seed)  # theta'_ij
        inverse = self._path(thetas[j], gen[i]["train"], d4_prompts, seed)  # theta'_ji
        ce = self._cross_entropy  # ce(model, answers of theta_a) = H(theta_a, model)
        return {"seed": seed, "pair": [i, j],
                "inverse_nats": ce(inverse, gen[i]["test"]), "forward_nats": ce(forward, gen[j]["test"]),
                "inverse_before_nats": ce(thetas[j], gen[i]["test"]),
                "forward_before_nats": ce(thetas[i], gen[j]["test"]),
                "examples": {"theta_i": gen[i]["test"][:2], "theta_j": gen[j]["test"][:2]},
                "wall_s": time.perf_counter() - start}

    def record_fields(self, key: str) -> tuple:
        names = ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")
        return (*((name, "number") for name in names), ("pair", "list"), ("seed", "int"))

    def summarize(self, records: dict[str, dict], folder: Path):
        cells = [records[k] for k in sorted(records)]
        return summarize(cells), {"cells": cells}


def n_cells(config: ResistConfig) -> int:
    return len(config.seeds) * len(PAIRS)


def run(config: ResistConfig, results_root, run_id: str, shard=(0, 1), progress=None,
        device: str = "cpu", workers: int = 1) -> engine.Outcome:
    """Run (or resume, or read back) the experiment on the run engine."""
    return engine.run(Resist(config, device), results_root, run_id, shard, progress, workers)


def summarize(cells: list[dict]) -> dict:
    """Table 2's layout: per pair, the inverse and forward cross-entropies (mean and 95% t-interval
    over seeds) and their difference forward - inverse (> 0: the inverse path ends closer)."""
    rows = []
    for i, j in PAIRS:
        mine = [c for c in cells if tuple(c["pair"]) == (i, j)]
        gap = mean_ci([c["forward_nats"] - c["inverse_nats"] for c in mine])
        low, high = gap["ci95"]
        if gap["n"] < 2:
            verdict = "one seed: no interval"
        elif low > 0:
            verdict = "inverse closer (the paper's claim holds)"
        elif high < 0:
            verdict = "forward closer (the paper's claim fails)"
        else:
            verdict = "not resolved (the interval covers 0)"
        rows.append({"pair": [i, j], "label": f"H(theta_{i}, theta'_{j}{i}) vs. H(theta_{j}, theta'_{i}{j})",
                     "inverse_nats": mean_ci([c["inverse_nats"] for c in mine]),
                     "forward_nats": mean_ci([c["forward_nats"] for c in mine]),
                     "inverse_before_nats": mean_ci([c["inverse_before_nats"] for c in mine]),
                     "forward_before_nats": mean_ci([c["forward_before_nats"] for c in mine]),
                     "forward_minus_inverse_nats": gap, "verdict": verdict})
    return {"table2": rows}
