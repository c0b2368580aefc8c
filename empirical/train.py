"""Training stages.

- ``train``: a plain AdamW loop on token arrays, used for pre-training from scratch (and as
  the baseline that measures the trainers' overhead);
- ``sft_pairs`` and ``dpo_pairs``: supervised fine-tuning and DPO through trl on prompt /
  completion text with any tokenizer (loss on the completion only, as trl does for
  prompt-completion data), full fine-tuning or LoRA (peft, merged back after the stage);
- ``sft`` and ``dpo``: the same on the synthetic world's token arrays, through its WordLevel
  tokenizer.

One torch thread by default on CPU (two threads on a busy 2-core machine slow training 10x).
"""

import contextlib
import copy
import math
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from empirical.tokenizer import prompt_completion, world_tokenizer
from empirical.world import WorldConfig


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    learning_rate: float = 1e-3
    epochs: int = 1
    batch_size: int = 64
    seed: int = 0
    loss_from: int = 1  # first target position that counts (1 = every token after BOS)
    threads: int = 1
    lr_scheduler: str = "linear"  # a transformers scheduler name (the paper's Table 1: constant, cosine)
    lora_rank: int = 0  # 0: full fine-tuning; r > 0: LoRA of rank r on every linear layer
    device: str = "cpu"  # "cuda": bf16 mixed precision on the GPU
    trainer_extra: dict = field(default_factory=dict)  # further trainer arguments, for Python callers
    report_to: tuple[str, ...] = ()  # transformers logging integrations ("tensorboard", "wandb", ...)
    log_dir: str | None = None  # where they log (the trainer's output_dir); required with report_to

    def __post_init__(self):
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive finite number, got {self.learning_rate}")
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1 or self.loss_from < 1:
            raise ValueError("epochs, batch_size, threads and loss_from must be >= 1")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0, got {self.lora_rank}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.report_to:
            check_report_to(self.report_to)
            if not self.log_dir:
                raise ValueError("report_to needs a log_dir for the integrations' files")


# the synthetic world trains with the plain loop (empirical.trajectory): no trainer to log from
NO_REPORT_TO = ("--report-to applies to the trl stages of real models; the synthetic world trains with a plain "
                "loop whose training loss is kept at every point of the result (train_loss_nats)")


def logging_to(report_to, log_dir) -> dict:
    """StageConfig's logging fields: nothing without integrations, else where this stage logs."""
    return {"report_to": tuple(report_to), "log_dir": str(log_dir)} if report_to else {}


def check_report_to(names) -> tuple[str, ...]:
    """``names`` as a tuple of logging integrations that transformers knows and that are
    installed; the error names what is known and what to install."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    names = tuple(names)
    unknown = [n for n in names if n not in INTEGRATION_TO_CALLBACK]
    if unknown:
        raise ValueError(f"unknown --report-to integration(s) {unknown}; transformers knows "
                         f"{sorted(INTEGRATION_TO_CALLBACK)}")
    missing = [n for n in names if n not in get_available_reporting_integrations()]
    if missing:
        hint = " (pip install tensorboardX, or tensorboard)" if "tensorboard" in missing else ""
        raise ValueError(f"--report-to {','.join(missing)}: not installed{hint}")
    return names


def train(model, tokens: np.ndarray, config: StageConfig, progress=None) -> list[float]:
    """Minimize the next-token cross-entropy of ``tokens`` (n, length) from position
    ``loss_from`` on; returns the mean loss of each epoch (nats per counted token)."""
    tokens = torch.from_numpy(np.asarray(tokens, dtype=np.int64)).to(model.device)
    if tokens.ndim != 2 or tokens.shape[0] == 0:
        raise ValueError(f"tokens must be a non-empty 2-D array, got shape {tuple(tokens.shape)}")
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    gpu = tokens.device.type == "cuda"  # bf16 autocast there (the weights stay float32)
    model.train()
    losses = []
    for _ in range(config.epochs):
        order = torch.randperm(tokens.shape[0], generator=generator).to(tokens.device)
        total, count = 0.0, 0
        for start in range(0, tokens.shape[0], config.batch_size):
            batch = tokens[order[start:start + config.batch_size]]
            with torch.autocast(device_type=batch.device.type, dtype=torch.bfloat16, enabled=gpu):
                logits = model(input_ids=batch).logits[:, config.loss_from - 1:-1].float()
            targets = batch[:, config.loss_from:]
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * targets.numel()
            count += targets.numel()
            if progress is not None:
                progress(batch.shape[0])
        losses.append(total / count)
    model.eval()
    return losses


def _trainer_args(cls, config: StageConfig, out_dir: str, **extra):
    """The trainer's arguments. Without integrations nothing is logged and the output folder is
    temporary; with them, every step's loss goes to ``log_dir`` (no checkpoints either way)."""
    gpu = config.device == "cuda"
    logging = ({"report_to": list(config.report_to), "logging_strategy": "steps", "logging_steps": 1}
               if config.report_to else {"report_to": [], "logging_strategy": "no"})
    return cls(output_dir=config.log_dir if config.report_to else out_dir, use_cpu=not gpu, bf16=gpu,
               num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
               learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler, seed=config.seed,
               save_strategy="no", disable_tqdm=True, activation_checkpointing=False, **logging,
               **config.trainer_extra, **extra)


def _lora(config: StageConfig):
    if config.lora_rank == 0:
        return None
    from peft import LoraConfig

    return LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _train_silently(trainer):
    """With progress bars off, the Trainer prints its metrics to stdout, which would corrupt
    the CLI's --json output; the numbers are returned instead."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer.train()


def _release(model, trainer) -> None:
    """Undo what the Trainer leaves on the model. A LoRA stage is merged into the weights
    (peft's merge returns this very object, unwrapped), so every stage hands on a plain model.
    Then the instance-level ``forward`` wrapper that closes over this object goes: a
    ``copy.deepcopy`` of the model would keep calling the original's forward (same logits, zero
    gradients), and every branch of a protocol would be silently frozen. Found by
    tests/test_empirical_core.py."""
    if trainer.model is not model:  # a peft wrapper around it
        merged = trainer.model.merge_and_unload()
        assert merged is model, "peft merged into a new object; the caller's model is stale"
    model.__dict__.pop("forward", None)
    model.eval()


@contextlib.contextmanager
def _quiet():
    """Inside a trl stage: no per-step dataset progress bars, and none of the two known
    messages that are about trl's internals, not about the caller's data (trl 1.16 calls
    transformers' deprecated ``is_gradient_checkpointing``; our prompts end on a token
    boundary, which trl cannot see and warns about)."""
    import datasets

    datasets.disable_progress_bars()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*tokenized prompt is not a prefix.*")
        yield


def sft_pairs(model, tokenizer, prompts: list[str], completions: list[str], config: StageConfig,
              max_length: int) -> float:
    """trl SFT on prompt -> completion text; returns the mean training loss (nats per token)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if len(prompts) != len(completions) or not prompts:
        raise ValueError(f"prompts and completions must be non-empty and paired, got {len(prompts)} "
                         f"and {len(completions)}")
    torch.set_num_threads(config.threads)
    data = Dataset.from_dict({"prompt": list(prompts), "completion": list(completions)})
    with tempfile.TemporaryDirectory() as out, _quiet():
        args = _trainer_args(SFTConfig, config, out, max_length=max_length)
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                             peft_config=_lora(config))
        result = _train_silently(trainer)
    _release(model, trainer)
    return float(result.training_loss)


def dpo_pairs(model, tokenizer, prompts: list[str], chosen: list[str], rejected: list[str],
              config: StageConfig, max_length: int, beta: float = 0.1) -> float:
    """trl DPO with ``chosen`` preferred to ``rejected`` after the same prompt. The reference is
    a frozen copy of the model as it enters the stage (with LoRA: the model with its adapter
    switched off, which is the same thing)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if not (len(prompts) == len(chosen) == len(rejected)) or not prompts:
        raise ValueError(f"prompts, chosen and rejected must be non-empty and paired, got "
                         f"{len(prompts)}, {len(chosen)} and {len(rejected)}")
    torch.set_num_threads(config.threads)
    data = Dataset.from_dict({"prompt": list(prompts), "chosen": list(chosen), "rejected": list(rejected)})
    lora = _lora(config)
    # ref_model=None fails for a model built from a config (docs/design.md, section 8); trl refuses
    # a reference model next to a peft config
    reference = None if lora else copy.deepcopy(model).eval()
    with tempfile.TemporaryDirectory() as out, _quiet():
        args = _trainer_args(DPOConfig, config, out, max_length=max_length, beta=beta)
        trainer = DPOTrainer(model=model, ref_model=reference, args=args, train_dataset=data,
                             processing_class=tokenizer, peft_config=lora)
        result = _train_silently(trainer)
    _release(model, trainer)
    return float(result.training_loss)


def sft(model, tokens: np.ndarray, world: WorldConfig, config: StageConfig) -> float:
    """``sft_pairs`` on the world's sequences (prompt -> response)."""
    prompts, completions = prompt_completion(tokens, world)
    return sft_pairs(model, world_tokenizer(world), prompts, completions, config, world.sequence_length)


def dpo(model, chosen: np.ndarray, rejected: np.ndarray, world: WorldConfig, config: StageConfig,
        beta: float = 0.1) -> float:
    """``dpo_pairs`` on the world's sequences, rows paired; the prompts are ``chosen``'s."""
    if len(chosen) != len(rejected) or len(chosen) == 0:
        raise ValueError(f"chosen and rejected must be non-empty and paired, got {len(chosen)} "
                         f"and {len(rejected)}")
    prompts, good = prompt_completion(chosen, world)
    _, bad = prompt_completion(rejected, world)
    return dpo_pairs(model, world_tokenizer(world), prompts, good, bad, config, world.sequence_length, beta)
