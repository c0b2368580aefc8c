"""Causal language models on text: loading from local paths, sampling, and code length.

- ``resolve_model_dir``: a model directory, or a Hugging Face id already in the local cache
  (never a download), checked to hold a causal LM before anything is loaded;
- ``load_causal_lm``: model and tokenizer; bf16 on a GPU, float32 on CPU; no remote code
  unless asked;
- ``generate``: sampled completions with a given decoding (the paper's Appendix E: top-k 30,
  top-p 0.9, temperature 0.1), seeded;
- ``completion_code_length``: cross-entropy of completions after their prompts (nats and bits
  per token, EOS included), tokenized as trl tokenizes for training (prompt + completion as
  one string, loss from the prompt's length on), so training and measuring agree.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True, kw_only=True)
class Decoding:
    top_k: int = 30
    top_p: float = 0.9
    temperature: float = 0.1
    max_new_tokens: int = 48


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _read_config(path: Path, what: str) -> dict:
    config = path / "config.json"
    if not path.is_dir():
        raise ValueError(f"{what} {path} is not a directory")
    if not config.is_file():
        raise ValueError(f"{what} {path} has no config.json (not a saved transformers model)")
    return json.loads(config.read_text())


def resolve_model_dir(name: str, what: str = "--model-path") -> Path:
    """A local directory, else a snapshot of hub id ``name`` in the local cache."""
    path = Path(name).expanduser()
    if not path.exists() and "/" in name and not name.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download

        try:
            path = Path(snapshot_download(name, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means: not in the cache
            raise ValueError(f"{what} {name!r} is neither a directory nor a model in the local "
                             f"Hugging Face cache (nothing is downloaded)") from None
    if not path.exists():
        raise ValueError(f"{what} {name} does not exist")
    return path


def check_causal_lm(name: str) -> Path:
    """The resolved directory; raises ValueError if it does not hold a causal LM."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    path = resolve_model_dir(name)
    config = _read_config(path, "--model-path")
    architectures = config.get("architectures") or []
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures) if architectures \
        else config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES  # saved without architectures
    if not causal:
        raise ValueError(f"--model-path {path} is not a causal language model "
                         f"(architectures {architectures}, model_type {config.get('model_type')!r})")
    return path


def load_tokenizer(path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:  # many causal LMs ship none; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path, device: str = "cpu", trust_remote_code: bool = False):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot load the model ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:300]})") from None
    except Exception as err:  # safetensors' own error type for a truncated or damaged file
        if "safetensor" not in type(err).__module__.lower() + type(err).__name__.lower():
            raise
        raise ValueError(f"{path}: the weights file is damaged or truncated ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:300]})") from None
    return model.to(device).eval()


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], decoding: Decoding, seed: int,
             batch_size: int = 32) -> list[str]:
    """One sampled completion per prompt (special tokens removed)."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right end
    out = []
    try:
        with torch.random.fork_rng(devices=[] if model.device.type == "cpu" else [model.device]):
            torch.manual_seed(seed)
            for start in range(0, len(prompts), batch_size):
                batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True)
                batch = {k: v.to(model.device) for k, v in batch.items()}
                ids = model.generate(**batch, do_sample=True, top_k=decoding.top_k, top_p=decoding.top_p,
                                     temperature=decoding.temperature,
                                     max_new_tokens=decoding.max_new_tokens,
                                     pad_token_id=tokenizer.pad_token_id)
                new = ids[:, batch["input_ids"].shape[1]:]
                out += tokenizer.batch_decode(new, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [text.strip() for text in out]


def _encode(tokenizer, prompt: str, completion: str, max_length: int) -> tuple[list[int], int]:
    ids = tokenizer(prompt + completion)["input_ids"][: max_length - 1] + [tokenizer.eos_token_id]
    return ids, min(len(tokenizer(prompt)["input_ids"]), len(ids) - 1)


@torch.no_grad()
def completion_code_length(model, tokenizer, prompts: list[str], completions: list[str],
                           max_length: int = 512, batch_size: int = 16) -> dict:
    """Mean code length of the completions' tokens (EOS included) given their prompts."""
    if len(prompts) != len(completions) or not prompts:
        raise ValueError("prompts and completions must be non-empty and paired")
    encoded = [_encode(tokenizer, p, c, max_length) for p, c in zip(prompts, completions, strict=True)]
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        counted = torch.zeros((len(chunk), width - 1), dtype=torch.bool)
        for i, (row, n_prompt) in enumerate(chunk):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
            counted[i, n_prompt - 1:len(row) - 1] = True  # targets row[n_prompt:]
        ids, mask, counted = ids.to(model.device), mask.to(model.device), counted.to(model.device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].double()
        log_p = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
        total += float(-log_p[counted].sum())
        count += int(counted.sum())
    nats = total / count
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "tokens": count}
