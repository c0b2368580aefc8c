"""Multi-GPU runs through `accelerate`: an accelerate config file (YAML, as written by
``accelerate config``) read and turned into the trl/transformers training arguments it
implies, so a protocol launched with ``accelerate launch --config_file FILE`` trains with the
same DDP, FSDP or DeepSpeed setup that the file names.

- ``NO`` / ``MULTI_GPU`` (DDP): nothing to add; the Trainer wraps the model under the launcher;
- ``FSDP``: ``fsdp`` (the sharding strategy, plus ``auto_wrap`` when a wrap policy is set) and
  ``fsdp_config`` (the file's fsdp_config section);
- ``DEEPSPEED``: ``deepspeed`` = the file's deepspeed_config_file, or a ZeRO config built from
  its zero_stage (batch sizes and precision left to the Trainer, "auto").

Only the main process (RANK 0) writes results and checkpoints.
"""

import os
from pathlib import Path

DISTRIBUTED_TYPES = ("NO", "MULTI_GPU", "FSDP", "DEEPSPEED")
FSDP_STRATEGIES = {"FULL_SHARD": "full_shard", "SHARD_GRAD_OP": "shard_grad_op",
                   "NO_SHARD": "no_shard", "HYBRID_SHARD": "hybrid_shard", "1": "full_shard",
                   "2": "shard_grad_op", "3": "no_shard", "4": "hybrid_shard"}


def read_config(path) -> dict:
    import yaml

    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"--accelerate-config {path} is not a file")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"--accelerate-config {path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"--accelerate-config {path}: expected a mapping of settings")
    kind = str(config.get("distributed_type", "NO"))
    if kind not in DISTRIBUTED_TYPES:
        raise ValueError(f"--accelerate-config {path}: distributed_type must be one of "
                         f"{DISTRIBUTED_TYPES}, got {kind!r}")
    return config


def trainer_kwargs(path) -> dict:
    """The training arguments an accelerate config implies (see the module docstring); none for
    an empty path (no config)."""
    if not path:
        return {}
    config = read_config(path)
    kind = str(config.get("distributed_type", "NO"))
    if kind == "FSDP":
        fsdp = dict(config.get("fsdp_config") or {})
        strategy = str(fsdp.get("fsdp_sharding_strategy", "FULL_SHARD"))
        if strategy not in FSDP_STRATEGIES:
            raise ValueError(f"--accelerate-config {path}: unknown fsdp_sharding_strategy {strategy!r}")
        wrap = " auto_wrap" if fsdp.get("fsdp_auto_wrap_policy", "NO_WRAP") != "NO_WRAP" else ""
        return {"fsdp": FSDP_STRATEGIES[strategy] + wrap, "fsdp_config": fsdp}
    if kind == "DEEPSPEED":
        ds = dict(config.get("deepspeed_config") or {})
        if ds.get("deepspeed_config_file"):
            return {"deepspeed": str(ds["deepspeed_config_file"])}
        stage = int(ds.get("zero_stage", 2))
        return {"deepspeed": {"zero_optimization": {"stage": stage}, "bf16": {"enabled": "auto"},
                              "train_micro_batch_size_per_gpu": "auto",
                              "gradient_accumulation_steps": "auto"}}
    return {}


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
