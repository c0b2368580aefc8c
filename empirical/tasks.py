"""What a rebound protocol trains on and measures: the synthetic world, or a real model on a
real dataset. The protocol (``empirical.protocols``) sees only this interface:

- ``needs_pretraining``; ``pretrain(seed)`` (synthetic: from scratch on D_pre) or
  ``load_base()`` (real: the model at ``model_path``);
- ``fresh(seed)``: the same architecture, randomly initialized (the never-pre-trained control);
- ``first_stage`` / ``second_stage``: fine-tune in place on the first Q1 / Q2 examples;
- ``measure(model, seed)`` and ``reference(seed)``: what a cell and the reference line record;
- ``load(path)`` / ``save(model, path)``: checkpoints (safetensors).

Both check their inputs when built, before any training starts.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np

from elasticity import store
from empirical import measure
from empirical.distributed import is_main_process, trainer_kwargs
from empirical.train import StageConfig, dpo, dpo_pairs, sft, sft_pairs, train


def checkpoint(path: Path, make, load, save):
    """The model saved at ``path``, or ``make()`` saved there. One process makes it while
    others wait for it (a lock per checkpoint); it is written to a uniquely named temporary
    folder and renamed, so a crash leaves no half checkpoint. Under accelerate only the main
    process writes."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per checkpoint would bury ours
    path = Path(path)
    with store.locked(path.with_name(f".{path.name}.lock")):
        if (path / "config.json").is_file():
            return load(path)
        model = make()
        if is_main_process():
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
            try:
                save(model, tmp)
                tmp.replace(path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return model


def _stage_config(config, lr: float, epochs: int, seed: int, device: str = "cpu",
                  trainer_extra: dict | None = None) -> StageConfig:
    return StageConfig(learning_rate=lr, epochs=epochs, batch_size=config.batch_size, seed=seed,
                       lora_rank=config.lora_rank, device=device, trainer_extra=trainer_extra or {})


class SyntheticTask:
    """The synthetic world: exact scores by enumeration, code lengths, KL to the pre-trained."""

    needs_pretraining = True

    def __init__(self, config, pretrained, device: str = "cpu"):
        from empirical.world import World

        self.config, self.pretrained, self.device = config, pretrained, device
        self.world = World(config.world)
        self.data = self.world.datasets()
        held = self.data["pre_held_out"].tokens
        self.prompts = held[: config.eval_prompts, 1:1 + config.world.prompt_length]
        first, second = ("perturb", "align") if config.variant == "reversed" else ("align", "perturb")
        self.first, self.second = self.data[first].tokens, self.data[second].tokens
        self._reference_log_probs_cache: dict[int, np.ndarray] = {}
        self.trainer_extra = trainer_kwargs(config.accelerate_config)  # checked here

    def save_inputs(self, folder: Path) -> None:
        """The generating laws and the data beside the results (once; concurrent-safe)."""
        with store.locked(folder / ".world.lock"):
            if not (folder / "world" / "world.npz").is_file():
                self.world.save(folder / "world")

    def fresh(self, seed: int):
        from empirical.models import build_model

        cfg = self.config.world
        return build_model(cfg.vocab_size, cfg.sequence_length, self.config.model_size, seed).to(self.device)

    def pretrain(self, seed: int):
        c = self.config
        model = self.fresh(seed)
        train(model, self.data["pre"].tokens, StageConfig(
            epochs=c.pretrain_epochs, learning_rate=c.pretrain_lr, batch_size=c.batch_size, seed=seed))
        return model

    def first_stage(self, model, q1: int, seed: int):
        c = self.config
        sft(model, self.first[:q1], c.world,
            _stage_config(c, c.first_lr, c.first_epochs, seed, self.device, self.trainer_extra))

    def second_stage(self, model, q2: int, seed: int):
        c = self.config
        stage = _stage_config(c, c.second_lr, c.second_epochs, seed, self.device, self.trainer_extra)
        if c.variant == "dpo":  # rejected: first-style examples the first stage did not see
            dpo(model, self.second[:q2], self.first[-q2:], c.world, stage, beta=c.dpo_beta)
        else:
            sft(model, self.second[:q2], c.world, stage)

    def _reference_log_probs(self, seed: int) -> np.ndarray:
        """The pre-trained model's enumerated log-probabilities, once per seed (every cell's
        KL needs them; recomputing them per cell doubled the measuring time)."""
        if seed not in self._reference_log_probs_cache:
            self._reference_log_probs_cache[seed] = measure.response_log_probs(
                self.pretrained(seed), self.world, self.prompts)
        return self._reference_log_probs_cache[seed]

    def measure(self, model, seed: int) -> dict:
        rs = self.config.world.response_start
        log_q = measure.response_log_probs(model, self.world, self.prompts)  # once per cell
        lengths = {k: measure.code_length(model, self.data[f"{k}_held_out"].tokens, rs)
                   for k in ("pre", "align", "perturb")}
        return {**measure.score_from_log_probs(log_q, self.world),
                "code_length_nats": {k: v["nats_per_token"] for k, v in lengths.items()},
                "code_length_bits": {k: v["bits_per_token"] for k, v in lengths.items()},
                "kl_to_pretrained_nats": measure.kl_from_log_probs(log_q, self._reference_log_probs(seed))}

    def reference(self, seed: int) -> dict:
        return measure.score_from_log_probs(self._reference_log_probs(seed), self.world)

    def load(self, path: Path):
        from transformers import LlamaForCausalLM

        return LlamaForCausalLM.from_pretrained(path).to(self.device).eval()

    def save(self, model, path: Path) -> None:
        model.save_pretrained(path)


class TextTask:
    """A local causal LM on a local dataset, scored by a scorer; code lengths on the test split
    (nats and bits per token); no KL (it would need the models' full laws over text)."""

    needs_pretraining = False

    def __init__(self, config, pretrained, device: str = "cpu"):
        from empirical import data, score, text

        self.config, self.pretrained, self.device = config, pretrained, device
        self.model_dir = text.check_causal_lm(config.model_path)
        self.tokenizer = text.load_tokenizer(self.model_dir, config.trust_remote_code)
        self.data = data.load(config.dataset, config.data_dir, seed=0, tokenizer=self.tokenizer)
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
        self.prompts = self.data.eval_prompts[: config.eval_prompts]
        if len(self.prompts) < 2:
            raise ValueError(f"{config.data_dir}: need at least 2 test prompts, found {len(self.prompts)}")
        self.scorer = score.make(config.scorer, config.scorer_path, device)
        self.decoding = text.Decoding(max_new_tokens=config.max_new_tokens)
        self.trainer_extra = trainer_kwargs(config.accelerate_config)  # checked here

    def save_inputs(self, folder: Path) -> None:
        """Nothing to save: the model and the data are the user's files."""

    def load_base(self):
        return self.load(self.model_dir)

    def fresh(self, seed: int):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(self.model_dir, trust_remote_code=self.config.trust_remote_code)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=self.config.trust_remote_code)
        return model.to(self.device, dtype=torch.bfloat16 if self.device == "cuda" else torch.float32)

    def _stage(self, lr: float, epochs: int, seed: int) -> StageConfig:
        return _stage_config(self.config, lr, epochs, seed, self.device, self.trainer_extra)

    def first_stage(self, model, q1: int, seed: int):
        c = self.config
        prompts, completions = zip(*self.first[:q1], strict=True)
        sft_pairs(model, self.tokenizer, prompts, completions, self._stage(c.first_lr, c.first_epochs, seed),
                  c.max_length)

    def second_stage(self, model, q2: int, seed: int):
        c = self.config
        stage = self._stage(c.second_lr, c.second_epochs, seed)
        prompts, completions = zip(*self.second[:q2], strict=True)
        if c.variant == "dpo":  # safe-rlhf: first[i] answers the same prompt as second[i]
            rejected = [completion for _, completion in self.first[:q2]]
            dpo_pairs(model, self.tokenizer, prompts, completions, rejected, stage, c.max_length, c.dpo_beta)
        else:
            sft_pairs(model, self.tokenizer, prompts, completions, stage, c.max_length)

    def measure(self, model, seed: int) -> dict:
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
        return {**score.summarize(self.scorer, values),
                "code_length_nats": {k: v["nats_per_token"] for k, v in lengths.items()},
                "code_length_bits": {k: v["bits_per_token"] for k, v in lengths.items()},
                "kl_to_pretrained_nats": None, "examples": responses[:3]}

    def reference(self, seed: int) -> dict:
        values = self.measure(self.pretrained(seed), seed)
        return {k: values[k] for k in ("score", "score_se", "n_responses")}

    def load(self, path: Path):
        from empirical import text

        return text.load_causal_lm(path, self.device, self.config.trust_remote_code)

    def save(self, model, path: Path) -> None:
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)


def make(config, pretrained, device: str = "cpu"):
    if config.dataset == "synthetic":
        return SyntheticTask(config, pretrained, device)
    return TextTask(config, pretrained, device)
