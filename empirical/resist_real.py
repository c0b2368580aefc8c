"""Forward against inverse alignment on a real model and dataset (``empirical.resist`` runs it):
theta_0 is the model at ``model_path`` (optionally first fine-tuned on an instruction set, as
the paper does before its safe and truthful runs), theta_1..3 are fine-tuned on D_1..D_3 with
trl, each answers D_4's prompts (the paths' training data) and the held-out test prompts (the
measurement data), and the distances are cross-entropies on those answers in nats per token.
Checkpoints and generations are kept under the run folder and shared under locks, so a rerun
resumes and parallel shards never duplicate work."""

import copy
import time
from pathlib import Path

import numpy as np

from empirical import text
from empirical.distributed import is_main_process
from empirical.tasks import checkpoint
from empirical.train import StageConfig, logging_to, sft_pairs
from harness import store
from harness.configs import ResistConfig


class Source:
    """The model, tokenizer and data of a real run, loaded once per process."""

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


class Paths:
    """The real-model cells of one run folder: one per (seed, pair)."""

    def __init__(self, config: ResistConfig, device: str, report_to: tuple[str, ...], folder: Path):
        self.config, self.device, self.folder = config, device, folder
        self.source = Source(config, device, report_to, folder / "logs" if report_to else None)

    @property
    def part(self) -> int:
        return self.config.part_size or len(self.source.pairs) // 4

    def check(self) -> None:
        """Refuse, before any training, a dataset too small for four parts and the measurement."""
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
                return store.read_sealed_json(path, "delete it to sample the answers again")
            tokenizer = self.source.tokenizer
            out = {"train": text.generate(model, tokenizer, d4_prompts, self.decoding, seed * 10 + i),
                   "test": text.generate(model, tokenizer, self.source.eval_prompts, self.decoding,
                                         seed * 10 + i + 5)}
            if is_main_process():
                store.write_sealed_json(path, out)
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

    def run_pair(self, seed: int, i: int, j: int, key: str) -> dict:
        """Both paths of the pair (i, j) for one seed, and their cross-entropies."""
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
