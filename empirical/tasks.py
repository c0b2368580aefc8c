"""What the rebound trains on and measures: the synthetic world, or a real model on a real
dataset. The protocol (``empirical.rebound``) sees only this interface:

- ``base(seed)``: the pre-trained model (synthetic: trained from scratch on that seed's D_pre;
  real: the model at ``model_path``); ``fresh(seed)``: the same architecture, randomly
  initialized; ``control(seed)``: the never-pre-trained control's start (synthetic: pre-trained
  on the world's format only, responses uniform; real: ``fresh``);
- ``first_stage(model, q1, seed)``: fine-tune in place on the first Q1 examples of one style;
- ``second_trajectory(model, seed, reference)``: fine-tune on the other style along one path,
  measured at every Q2 of the grid (``reference`` is the model the arm started from);
- ``measure(model, seed, reference)``: what a point records; ``load`` / ``save``: checkpoints.

The synthetic task takes lists instead (``starts``, ``first_stages``, ``second_trajectories``):
its config's ``trainer`` trains the models of several cells together in one ensemble
(``empirical.together``, the default) or one after another with the plain loop of
``empirical.trajectory`` (the reference); both use the same completion-only loss as trl's SFT and
measure exactly by enumeration. Real models train with trl, the second stage in chunks between
checkpoints (the optimizer restarts at each checkpoint; the data is one prefix path). Both check
their inputs when built, before any training starts.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np

from empirical import measure, together, trajectory
from empirical.distributed import is_main_process
from empirical.train import StageConfig, dpo_pairs, logging_to, sft_pairs
from harness import store

PRE_STREAM, FIRST_STREAM, SECOND_STREAM = 10, 12, 13


def checkpoint(path: Path, make, load, save):
    """The model saved at ``path``, or ``make()`` saved there. One process makes it while
    others wait for it (a lock per checkpoint); it is written to a uniquely named temporary
    folder and renamed, so a crash leaves no half checkpoint. Under accelerate only the main
    process writes. A sealed manifest records the checkpoint's name and the SHA-256 of every
    file; a checkpoint is loaded only after they match (``store.check_manifest``)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per checkpoint would bury ours
    path = Path(path)
    with store.locked(path.with_name(f".{path.name}.lock")):
        if path.exists():
            store.check_manifest(path)
            return load(path)
        model = make()
        if is_main_process():
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
            try:
                save(model, tmp)
                store.write_manifest(tmp, path.name)
                tmp.replace(path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return model


class SyntheticTask:
    """The synthetic world of each seed: exact score, code lengths against the laws, KL."""

    def __init__(self, config, device: str = "cpu"):
        self.config, self.device = config, device
        self._worlds = {}

    def world(self, seed: int):
        from empirical.world import World

        if seed not in self._worlds:
            self._worlds[seed] = World(self.config.world, seed)
        return self._worlds[seed]

    def _styles(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(first-stage, second-stage) examples: positives then negatives (reversed: the other way)."""
        w, c = self.world(seed), self.config.world
        positive = w.sample(c.n_align, 1.0, FIRST_STREAM).tokens
        negative = w.sample(c.n_perturb, 0.0, SECOND_STREAM).tokens
        return (negative, positive) if self.config.variant == "reversed" else (positive, negative)

    def save_inputs(self, folder: Path, seed: int) -> None:
        """The generating laws and the data of each seed beside the results (concurrent-safe)."""
        target = folder / "world" / f"seed-{seed}"
        with store.locked(folder / "world" / f".seed-{seed}.lock"):
            if not (target / "world.npz").is_file():
                self.world(seed).save(target)

    def fresh(self, seed: int):
        from empirical.models import build_model

        cfg = self.config.world
        return build_model(cfg.vocab_size, cfg.sequence_length, self.config.model_size, seed).to(self.device)

    def base(self, seed: int):
        return self.starts([("pretrained", seed)])[0]

    def control(self, seed: int):
        """The never-pre-trained control's start: a fresh model pre-trained as long on the world's
        format only (responses uniform over all M, no law), so that it answers well-formed and
        its points are measured rather than withheld, without having seen the world's laws."""
        return self.starts([("format-only", seed)])[0]

    def starts(self, wanted: list[tuple[str, int]]) -> list:
        """The start of each (kind, seed): "pretrained" on D_pre or "format-only" (`control`),
        pre-trained together with the ensemble trainer, else one after another."""
        c, w = self.config, self.config.world
        models = [self.fresh(seed) for _, seed in wanted]
        corpora = [(self.world(seed).sample(w.n_pre, w.pre_positive_fraction, PRE_STREAM) if kind == "pretrained"
                    else self.world(seed).format_sample(w.n_pre, PRE_STREAM)).tokens for kind, seed in wanted]
        p = c.pretrain
        together.pretrain_by(c.trainer, models, corpora, steps=[p.steps] * len(wanted), batch_size=p.batch, lr=p.lr,
                             seeds=[seed for _, seed in wanted])
        return models

    def _measurer(self, seed: int, reference=None) -> measure.Enumerated:
        """measure(model) on this seed's world; the KL is taken to ``reference``'s law. Enumerated,
        so that models trained together are measured in one batched forward."""
        world = self.world(seed)
        prompts = world.prompts(self.config.prompts_to_score)
        ref = None if reference is None else measure.response_log_probs(reference, world, prompts)
        laws = world.laws()
        return measure.Enumerated(world, prompts, lambda log_q: measure.law_measures(log_q, world, laws, ref))

    def measure(self, model, seed: int, reference=None) -> dict:
        return self._measurer(seed, reference)(model)

    def first_stages(self, models: list, q1s: list[int], seeds: list[int]) -> None:
        """Each model fine-tuned in place on the first Q1 examples of its seed's first style, with
        the config's trainer (the ensemble: all together)."""
        c = self.config
        runs = [together.Run(m, self._styles(s)[0], (q1,), together.unmeasured, c.first_lr, c.batch_size, s,
                             c.world.response_start) for m, q1, s in zip(models, q1s, seeds, strict=True)]
        together.trajectories_by(c.trainer, runs)

    def second_trajectories(self, models: list, seeds: list[int], references: list) -> list[list[dict]]:
        """Each model's second stage, measured at every Q2 (KL to its ``reference``), with the
        config's trainer: a trajectory (SFT or DPO) or, in q2_mode fixed-steps, a copy per Q2."""
        c = self.config
        runs = []
        for model, seed, reference in zip(models, seeds, references, strict=True):
            first, second = self._styles(seed)
            # DPO: rejected = first-style examples from the end of its set, which the first stage did not see
            objective = (trajectory.DPO(np.ascontiguousarray(first[::-1]), c.dpo_beta) if c.variant == "dpo"
                         else trajectory.SFT())
            runs.append(together.Run(model, second, tuple(sorted(c.q2)), self._measurer(seed, reference), c.second_lr,
                                     c.batch_size, seed, c.world.response_start, objective))
        if c.q2_mode == "fixed-steps":
            return together.fixed_steps_by(c.trainer, runs, c.fixed_steps)
        return together.trajectories_by(c.trainer, runs)

    def load(self, path: Path):
        from transformers import LlamaForCausalLM

        return LlamaForCausalLM.from_pretrained(path).to(self.device).eval()

    def save(self, model, path: Path) -> None:
        model.save_pretrained(path)


class TextTask:
    """A local causal LM on a local dataset, scored by a scorer; code lengths on the test split
    (nats and bits per token); no KL (it would need the models' full laws over text)."""

    def __init__(self, config, device: str = "cpu"):
        from empirical import data, score, text

        self.config, self.device = config, device
        self.report_to, self.log_dir = (), None  # trl logging integrations; the protocol sets both per cell
        self.model_dir = text.check_causal_lm(config.model_path)
        self.tokenizer = text.load_tokenizer(self.model_dir, config.trust_remote_code)
        self.data = data.load(config.dataset, config.data_dir, seed=0, tokenizer=self.tokenizer,
                              columns=config.columns)
        reverse = config.variant == "reversed"
        self.first, self.second = ((self.data.negative, self.data.positive) if reverse
                                   else (self.data.positive, self.data.negative))
        names = ("negative", "positive") if reverse else ("positive", "negative")
        for q, pool, name, what in ((max(config.q1), self.first, names[0], "Q1"),
                                    (max(config.q2), self.second, names[1], "Q2")):
            if q > len(pool):
                raise ValueError(f"{what} = {q} is larger than the {len(pool)} {name} examples in "
                                 f"{config.data_dir} ({config.dataset} train split)")
        if config.variant == "dpo" and max(config.q2) > len(self.first):
            raise ValueError(f"DPO needs Q2 <= {len(self.first)} rejected (positive) examples")
        self.prompts = self.data.eval_prompts[: config.prompts_to_score]
        if len(self.prompts) < 2:
            raise ValueError(f"{config.data_dir}: need at least 2 test prompts, found {len(self.prompts)}")
        self.scorer = score.make(config.scorer, config.scorer_path, device)
        self.decoding = text.Decoding(max_new_tokens=config.max_new_tokens)

    def save_inputs(self, folder: Path, seed: int) -> None:
        """Nothing to save: the model and the data are the user's files."""

    def base(self, seed: int):
        return self.load(self.model_dir)

    def control(self, seed: int):
        """The never-pre-trained control: the architecture with fresh weights (a real model's
        pre-training cannot be replaced by a format-only one here)."""
        return self.fresh(seed)

    def fresh(self, seed: int):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(self.model_dir, trust_remote_code=self.config.trust_remote_code)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=self.config.trust_remote_code)
        return model.to(self.device, dtype=torch.bfloat16 if self.device == "cuda" else torch.float32)

    def _stage(self, lr: float, seed: int, name: str) -> StageConfig:
        c = self.config
        return StageConfig(learning_rate=lr, epochs=1, batch_size=c.batch_size, seed=seed, lr_scheduler="constant",
                           lora_rank=c.lora_rank, device=self.device,
                           **logging_to(self.report_to, self.log_dir and self.log_dir / name))

    def first_stage(self, model, q1: int, seed: int) -> None:
        c = self.config
        prompts, completions = zip(*self.first[:q1], strict=True)
        sft_pairs(model, self.tokenizer, prompts, completions, self._stage(c.first_lr, seed, "first"), c.max_length)

    def second_trajectory(self, model, seed: int, reference) -> list[dict]:
        """Chunks of the second stage between checkpoints, each a trl stage at the constant
        learning rate, measured after each chunk."""
        c = self.config
        points, seen = [{"q": 0, **self.measure(model, seed)}], 0
        for q in sorted(c.q2):
            prompts, completions = zip(*self.second[seen:q], strict=True)
            stage = self._stage(c.second_lr, seed + q, f"second-q{q}")
            if c.variant == "dpo":  # safe-rlhf: first[i] answers the same prompt as second[i]
                rejected = [completion for _, completion in self.first[seen:q]]
                loss = dpo_pairs(model, self.tokenizer, prompts, completions, rejected, stage, c.max_length,
                                 c.dpo_beta)
            else:
                loss = sft_pairs(model, self.tokenizer, prompts, completions, stage, c.max_length)
            seen = q
            points.append({"q": q, **self.measure(model, seed), "train_loss_nats": loss})
        return points

    def measure(self, model, seed: int, reference=None) -> dict:
        from empirical import score, text

        responses = text.generate(model, self.tokenizer, self.prompts, self.decoding, seed)
        # the scorer reads prompt and response as one text; sampled responses come stripped
        texts = [f"{p.rstrip()} {r}" for p, r in zip(self.prompts, responses, strict=True)]
        values = self.scorer.values(texts)
        n = len(self.prompts)
        lengths = {}
        for name, pairs in (("positive", self.data.test_positive), ("negative", self.data.test_negative)):
            if pairs:
                prompts, completions = zip(*pairs[:n], strict=True)
                lengths[name] = text.completion_code_length(model, self.tokenizer, prompts, completions,
                                                            max_length=self.config.max_length)
        return {**score.summarize(self.scorer, values), "valid_mass": 1.0,
                "code_length_nats": {k: v["nats_per_token"] for k, v in lengths.items()},
                "kl_to_pretrained_nats": None, "examples": responses[:3]}

    def load(self, path: Path):
        from empirical import text

        return text.load_causal_lm(path, self.device, self.config.trust_remote_code)

    def save(self, model, path: Path) -> None:
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)


def make(config, device: str = "cpu"):
    return SyntheticTask(config, device) if config.dataset == "synthetic" else TextTask(config, device)
