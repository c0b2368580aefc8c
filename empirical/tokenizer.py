"""The world's vocabulary as a real `transformers` tokenizer (offline WordLevel), so that the
trl trainers see text exactly as they would with a real model. Token i <-> word NAMES[i]."""

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from empirical.world import WorldConfig


def names(config: WorldConfig) -> list[str]:
    return (["<pad>", "<bos>", "<sep>", "<eos>"] + [f"p{i}" for i in range(config.prompt_vocab)]
            + [f"c{i}" for i in range(config.content_vocab)])


def world_tokenizer(config: WorldConfig) -> PreTrainedTokenizerFast:
    vocab = {name: i for i, name in enumerate(names(config))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", sep_token="<sep>")


def to_text(tokens: np.ndarray, config: WorldConfig) -> list[str]:
    """Each row of token ids as space-separated words."""
    words = np.array(names(config))
    return [" ".join(row) for row in words[np.asarray(tokens)]]


def prompt_completion(tokens: np.ndarray, config: WorldConfig) -> tuple[list[str], list[str]]:
    """Prompts ("<bos> p.. <sep> ", with a trailing space so the completion's first word
    cannot merge with <sep>) and completions (the response words; trl appends <eos>)."""
    tokens = np.asarray(tokens)
    prompts = [t + " " for t in to_text(tokens[:, :config.response_start], config)]
    return prompts, to_text(tokens[:, config.response_start:-1], config)
