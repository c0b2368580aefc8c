"""Forward against inverse alignment (the paper's Appendix E, Tables 1 and 2).

Per seed: shuffle the dataset's prompt/completion pairs and cut four parts D_1..D_4 of
``part_size`` each. From the base model theta_0 (synthetic: pre-trained from scratch on D_pre;
real: the model at ``model_path``, optionally first fine-tuned on an instruction set, as the
paper does before its safe and truthful runs), fine-tune sequentially on D_1, D_2, D_3 into
theta_1, theta_2, theta_3. Each theta_i answers D_4's prompts (the training data of the paths)
at ``temperature`` (1 by default: the model's own law; the paper's 0.1 makes most small models
repeat one answer, so that the outcome turns on whether two models' modes coincide).

For each pair (i, j) in (1, 2), (2, 3), (1, 3):
- forward (path B): theta_i fine-tuned on theta_j's answers -> theta'_ij, distance
  H(theta_j, theta'_ij): the code length of theta'_ij on theta_j's test answers;
- inverse (path A): theta_j fine-tuned on theta_i's answers -> theta'_ji, distance
  H(theta_i, theta'_ji).
Table 2 reads "H(theta_i, theta'_ji) vs. H(theta_j, theta'_ij)" (inverse vs forward); the
paper's claim is that the inverse distance is the smaller. Both paths use the same steps,
hyper-parameters and prompts. Cross-entropies are in nats per token (completion tokens, EOS
included).

Synthetic world (exact): every theta's law over the responses is enumerated, so the distances
are exact: the inverse distance is KL(theta_i || theta'_ji) and the forward one
KL(theta_j || theta'_ij), each taken relative to its value before the path's training
(KL(theta_i || theta_j), KL(theta_j || theta_i)); the effect per seed is forward - inverse of
those relative distances (> 0: the inverse path ends relatively closer, the paper's claim),
paired by seed. One cell per seed; the base is pre-trained from scratch on that seed's world.
Real models: theta_i's answers to held-out test prompts are the measurement data, the distances
cross-entropies on them (the distances before training are recorded too); one cell per
(seed, pair).

It runs on the run engine (``harness.engine``): each (seed, pair) is a cell written as soon
as it is measured; checkpoints and generations are kept and shared under locks, so a rerun
resumes and parallel shards never duplicate work.
"""

import copy
import time
from pathlib import Path

import numpy as np

from empirical import measure, statistics, text, trajectory
from empirical.distributed import is_main_process
from empirical.tasks import checkpoint
from empirical.train import NO_REPORT_TO, StageConfig, logging_to, sft_pairs
from empirical.world import World
from harness import engine, store
from harness.configs import ResistConfig

PAIRS = ((1, 2), (2, 3), (1, 3))


class _Real:
    def __init__(self, config: ResistConfig, device: str, report_to: tuple[str, ...] = (), log_root=None):
        from empirical import data

        self.config, self.device = config, device
        self.report_to, self.log_root = report_to, log_root  # trl logging: <run>/logs/<stage>
        self.model_dir = text.check_causal_lm(config.model_path)
        self.tokenizer = text.load_tokenizer(self.model_dir, config.trust_remote_code)
        loaded = data.load(config.dataset, config.data_dir, tokenizer=self.tokenizer, columns=config.columns)
        self.pairs = loaded.positive  # alpaca/qa: every example; safe-rlhf: the safe answers
        self.eval_prompts = loaded.eval_prompts[: config.eval_prompts]
        self.warmup = data.load("alpaca", config.warmup_data_dir).positive if config.warmup_data_dir else []

    def base(self, seed: int):
        model = self.load(self.model_dir)
        if self.warmup:
            c = self.config
            _sft(model, self.tokenizer, self.warmup, c, c.warmup_lr, c.warmup_epochs, c.warmup_scheduler,
                 seed, self.device, self.logging(f"warmup-s{seed}"))
        return model

    def load(self, path):
        return text.load_causal_lm(path, self.device, self.config.trust_remote_code)

    def logging(self, stage: str) -> dict:
        return logging_to(self.report_to, self.log_root and self.log_root / stage)


def _sft(model, tokenizer, pairs, config: ResistConfig, lr, epochs, scheduler, seed, device, logging: dict):
    prompts, completions = zip(*pairs, strict=True)
    stage = StageConfig(learning_rate=lr, epochs=epochs, batch_size=config.batch_size, seed=seed,
                        lr_scheduler=scheduler, lora_rank=config.lora_rank, device=device, **logging)
    sft_pairs(model, tokenizer, prompts, completions, stage, config.max_length)


class Resist:
    """Forward vs inverse for the run engine: one cell per (seed, pair); the base, theta_1..3
    and their generations are shared by a seed's pairs (checkpoints and files under locks)."""

    experiment = "resist"

    def __init__(self, config: ResistConfig, device: str = "cpu", report_to: tuple[str, ...] = ()):
        if report_to and config.dataset == "synthetic":
            raise ValueError(NO_REPORT_TO)
        self.config, self.device, self.report_to = config, device, tuple(report_to)
        self._source, self.folder = None, None  # the run folder: set by prepare and run_cell

    def __getstate__(self):  # worker processes rebuild the source (models, data) themselves
        return {**self.__dict__, "_source": None}

    @property
    def synthetic(self) -> bool:
        return self.config.dataset == "synthetic"

    @property
    def source(self):
        if self._source is None:
            self._source = _Real(self.config, self.device, self.report_to,
                                 self.folder / "logs" if self.report_to else None)
        return self._source

    @property
    def part(self) -> int:
        return self.config.part_size or len(self.source.pairs) // 4

    def cells(self) -> list[str]:
        if self.synthetic:
            return [f"s{seed}" for seed in self.config.seeds]
        return [f"s{seed}-pair_{i}{j}" for seed in self.config.seeds for i, j in PAIRS]

    def prepare(self, folder: Path) -> None:
        self.folder = folder
        if self.synthetic:
            return  # sizes checked by the config
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
                     c.sequential_scheduler, seed, self.device, self.source.logging(f"theta{i}-s{seed}"))
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

    def _path(self, start, answers: list[str], prompts, seed: int, name: str):
        c = self.config
        model = copy.deepcopy(start)
        _sft(model, self.source.tokenizer, list(zip(prompts, answers, strict=True)), c, c.path_lr,
             c.path_epochs, c.path_scheduler, seed, self.device, self.source.logging(name))
        return model

    def run_cell(self, key: str, folder: Path) -> dict:
        self.folder = folder
        if self.synthetic:
            return run_synthetic_seed(self.config, int(key[1:]))
        seed_text, pair_text = key.split("-pair_")
        seed, (i, j) = int(seed_text[1:]), (int(pair_text[0]), int(pair_text[1]))
        parts = self._parts(seed)
        d4_prompts = [p for p, _ in parts[3]]
        thetas = self.thetas(seed, parts)
        gen = {n: self.generations(seed, n, thetas[n], d4_prompts) for n in (i, j)}
        start = time.perf_counter()
        forward = self._path(thetas[i], gen[j]["train"], d4_prompts, seed, f"{key}-forward")  # theta'_ij
        inverse = self._path(thetas[j], gen[i]["train"], d4_prompts, seed, f"{key}-inverse")  # theta'_ji
        ce = self._cross_entropy  # ce(model, answers of theta_a) = H(theta_a, model)
        return {"seed": seed, "pair": [i, j],
                "inverse_nats": ce(inverse, gen[i]["test"]), "forward_nats": ce(forward, gen[j]["test"]),
                "inverse_before_nats": ce(thetas[j], gen[i]["test"]),
                "forward_before_nats": ce(thetas[i], gen[j]["test"]),
                "examples": {"theta_i": gen[i]["test"][:2], "theta_j": gen[j]["test"][:2]},
                "wall_s": time.perf_counter() - start}

    def record_fields(self, key: str) -> tuple:
        names = ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")
        prefix = "pairs[]." if self.synthetic else ""
        fields = (*((prefix + name, "number") for name in names), (prefix + "pair", "list"))
        if self.synthetic:
            fields += tuple((f"pairs[].{name}", "number") for name in EXACT)
        return fields

    def summarize(self, records: dict[str, dict], folder: Path):
        cells = [records[k] for k in self.cells()]
        if self.synthetic:
            cells = [{"seed": r["seed"], **pair} for r in cells for pair in r["pairs"]]
        return summarize(cells, exact=self.synthetic), {"cells": cells}


def n_cells(config: ResistConfig) -> int:
    return len(config.seeds) * len(PAIRS)


def run(config: ResistConfig, results_root, run_id: str, shard=(0, 1), progress=None,
        device: str = "cpu", workers: int = 1, report_to: tuple[str, ...] = ()) -> engine.Outcome:
    """Run (or resume, or read back) the experiment on the run engine; ``report_to``: logging
    integrations for the trl stages of a real model, logged under ``<run>/logs/``."""
    return engine.run(Resist(config, device, report_to), results_root, run_id, shard, progress, workers)


EXACT = ("inverse_kl_nats", "forward_kl_nats", "inverse_kl_before_nats", "forward_kl_before_nats",
         "inverse_relative", "forward_relative")


def _verdict(gap: dict) -> str:
    return {"elasticity": "inverse closer (the paper's claim holds)",
            "opposite": "forward closer (the paper's claim fails)",
            "not resolved": "not resolved" + (" (one seed: no interval)" if gap["ci95"] is None
                                              else " (the interval covers 0)")}[statistics.verdict(gap["ci95"])]


def summarize(cells: list[dict], exact: bool = False) -> dict:
    """Table 2's layout: per pair, the inverse and forward cross-entropies (mean and 95% t-interval
    over seeds) and, paired by seed, forward - inverse (> 0: the inverse path ends closer): of
    the relative KL when the distances are exact, of the cross-entropies otherwise; with the
    minimal detectable effect."""
    rows = []
    for i, j in PAIRS:
        mine = {c["seed"]: c for c in cells if tuple(c["pair"]) == (i, j)}
        key = "relative" if exact else "nats"
        gap = statistics.paired({s: c[f"forward_{key}"] for s, c in mine.items()},
                                {s: c[f"inverse_{key}"] for s, c in mine.items()})
        row = {"pair": [i, j], "label": f"H(theta_{i}, theta'_{j}{i}) vs. H(theta_{j}, theta'_{i}{j})",
               **{name: statistics.mean_ci([c[name] for c in mine.values()])
                  for name in ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")},
               "effect": "forward - inverse of " + ("KL after / KL before (exact)" if exact
                                                    else "the cross-entropies (nats/token)"),
               "forward_minus_inverse": {k: gap[k] for k in ("mean", "ci95", "n", "per_seed")},
               "minimal_detectable_effect": statistics.minimal_detectable_effect(gap["sd"], gap["n"]),
               "verdict": _verdict(gap)}
        if exact:
            row |= {name: statistics.mean_ci([c[name] for c in mine.values()]) for name in EXACT}
        rows.append(row)
    return {"table2": rows}


# ------------------------------------------------------------------ the synthetic world, exact

def run_synthetic_seed(c: ResistConfig, seed: int) -> dict:
    """theta_0..theta_3, samples, both paths of every pair, exact distances: one seed's record."""
    from empirical.models import build_model

    began = time.perf_counter()
    w = c.world
    world = World(w, seed)
    part = c.part_size or w.n_align // 4
    parts = np.split(world.sample(4 * part, 1.0, 12).tokens, 4)
    prompts = world.prompts(w.prompt_vocab ** w.prompt_length)  # every distinct prompt
    theta = [build_model(w.vocab_size, w.sequence_length, c.model_size, seed)]
    trajectory.pretrain(theta[0], world.sample(w.n_pre, w.pre_positive_fraction, 10).tokens,
                        steps=c.pretrain.steps, batch_size=c.pretrain.batch, lr=c.pretrain.lr, seed=seed)
    for i in (1, 2, 3):
        theta.append(_sft_copy(theta[-1], parts[i - 1], c.sequential_lr, c.sequential_epochs, c, seed))
    laws = [measure.response_log_probs(m, world, prompts) for m in theta]
    rng = np.random.default_rng([seed, 4])
    samples = {i: _sample(world, laws[i], parts[3], c.temperature, rng) for i in (1, 2, 3)}
    pairs = []
    for i, j in PAIRS:
        forward = _sft_copy(theta[i], samples[j], c.path_lr, c.path_epochs, c, seed)  # theta'_ij
        inverse = _sft_copy(theta[j], samples[i], c.path_lr, c.path_epochs, c, seed)  # theta'_ji
        after_f, after_i = (measure.response_log_probs(m, world, prompts) for m in (forward, inverse))
        tokens = w.response_length + 1
        d = {"inverse": _distance(laws[i], after_i, laws[j], tokens),  # target theta_i
             "forward": _distance(laws[j], after_f, laws[i], tokens)}  # target theta_j
        pairs.append({"pair": [i, j], **{f"{side}_{k}": v for side, got in d.items() for k, v in got.items()}})
    return {"seed": seed, "pairs": pairs, "part_size": part, "wall_s": time.perf_counter() - began}


def _sft_copy(model, tokens, lr: float, epochs: int, c: ResistConfig, seed: int):
    out = copy.deepcopy(model)
    data = np.concatenate([tokens] * epochs)
    trajectory.trajectory(out, data, (len(data),), lambda m: {}, lr=lr, batch_size=c.batch_size, seed=seed,
                          loss_from=c.world.response_start)
    return out


def _sample(world: World, log_q: np.ndarray, like: np.ndarray, temperature: float, rng) -> np.ndarray:
    """``like``'s prompts, each with a response drawn from the model's law at ``temperature``
    (renormalized over the valid responses): exact ancestral sampling, by enumeration."""
    cfg = world.config
    tokens = like.copy()
    digits = (like[:, 1:1 + cfg.prompt_length] - 4) @ cfg.prompt_vocab ** np.arange(cfg.prompt_length - 1, -1, -1)
    scaled = log_q / temperature
    probs = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    cumulative = probs.cumsum(axis=1)
    picks = (cumulative[digits] < rng.random((len(like), 1))).sum(axis=1)
    tokens[:, cfg.response_start:-1] = world.response_tokens()[np.minimum(picks, probs.shape[1] - 1)]
    return tokens


def _distance(target: np.ndarray, model: np.ndarray, before: np.ndarray, tokens: int) -> dict:
    """Cross-entropy (nats/token) of the target's law (over valid responses) under ``model`` and
    under ``before``; the KLs; KL after / KL before."""
    p = np.exp(target - target.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1).mean()  # 0 log 0 = 0
    ce_after, ce_before = (float(-(p * lq).sum(axis=1).mean()) for lq in (model, before))
    kl_after, kl_before = ce_after - entropy, ce_before - entropy
    return {"nats": ce_after / tokens, "before_nats": ce_before / tokens, "kl_nats": kl_after,
            "kl_before_nats": kl_before, "relative": kl_after / kl_before}
