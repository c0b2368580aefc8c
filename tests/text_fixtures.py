"""Tiny local models and datasets in the public formats, written by the tests (nothing is
downloaded): a word-level tokenizer, a random Llama causal LM, a random RoBERTa sentiment
classifier, a safe-rlhf-layout cost model, and IMDb / PKU-SafeRLHF / Alpaca / QA files."""

import csv
import json
from pathlib import Path

import numpy as np
import torch

POSITIVE = ["great", "wonderful", "love", "excellent", "happy", "beautiful", "best", "fun"]
NEGATIVE = ["awful", "boring", "hate", "terrible", "sad", "ugly", "worst", "dull"]
NEUTRAL = ["the", "movie", "film", "was", "a", "plot", "actor", "scene", "and", "it", "this", "story",
           "how", "do", "i", "make", "help", "what", "is", "answer", "question", "user", "assistant",
           "instruction", "input", "response", "user:", "assistant:", "instruction:", "input:",
           "response:", "question:", "answer:", "safe", "unsafe", "steal", "car", "cook", "rice"]
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + POSITIVE + NEGATIVE + NEUTRAL)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")


def _quiet():
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _ids(tok) -> dict:
    _quiet()
    return {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id}


def causal_lm(path: Path, seed: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, **_ids(tok))
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def classifier(path: Path, seed: int = 0, labels=("NEGATIVE", "POSITIVE")) -> Path:
    from transformers import RobertaConfig, RobertaForSequenceClassification

    tok = tokenizer()
    config = RobertaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, max_position_embeddings=600, type_vocab_size=1,
                           id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                           **_ids(tok))
    torch.manual_seed(seed)
    RobertaForSequenceClassification(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def cost_model(path: Path, seed: int = 0) -> Path:
    """The safe-rlhf layout: a Llama backbone under ``model.`` and a linear ``score_head``."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaModel

    tok = tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=600,
                         **_ids(tok))
    config.architectures = ["LlamaModelForScore"]
    torch.manual_seed(seed)
    backbone = LlamaModel(config)
    weights = {f"model.{k}": v.contiguous() for k, v in backbone.state_dict().items()}
    weights["score_head.weight"] = torch.randn(1, 32)
    weights["score_head.bias"] = torch.tensor([0.1])
    path.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _review(rng, words: list[str]) -> str:
    n = int(rng.integers(6, 12))
    pool = words + NEUTRAL[:12]
    return " ".join(rng.choice(pool, n)) + " " + " ".join(rng.choice(words, 2))


def imdb_rows(n_pos: int, n_neg: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = [{"text": _review(rng, POSITIVE), "label": 1} for _ in range(n_pos)]
    rows += [{"text": _review(rng, NEGATIVE) + " <br /><br /> dull", "label": 0} for _ in range(n_neg)]
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def safe_rlhf_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        safe_first = bool(rng.integers(2))
        safe, unsafe = "i help you cook rice safe", "steal a car this is how"
        both = i % 7 == 0  # some rows with two safe answers
        rows.append({"prompt": f"how do i {rng.choice(['cook', 'steal', 'make'])} it",
                     "response_0": safe if safe_first or both else unsafe,
                     "response_1": unsafe if safe_first and not both else safe,
                     "is_response_0_safe": safe_first or both,
                     "is_response_1_safe": (not safe_first) or both})
    return rows


def alpaca_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"instruction": "make a story", "input": "" if i % 2 else "the movie",
             "output": " ".join(rng.choice(NEUTRAL[:12] + POSITIVE, 6))} for i in range(n)]


def qa_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"question": "what is the plot", "best_answer": " ".join(rng.choice(NEUTRAL[:12], 5))}
            for _ in range(n)]


def write(folder: Path, splits: dict[str, list[dict]], fmt: str = "jsonl") -> Path:
    """One file per split in ``fmt`` (jsonl, json, csv, parquet) or a datasets save dir (disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "disk":
        from datasets import Dataset, DatasetDict

        DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(folder))
        return folder
    for split, rows in splits.items():
        path = folder / f"{split}.{fmt}"
        if fmt == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif fmt == "json":
            path.write_text(json.dumps(rows))
        elif fmt == "csv":
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), path)
    return folder
