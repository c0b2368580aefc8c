"""Small causal transformers built from a `transformers` config: no downloads, seeded init.

Model size is a named, controlled axis (the paper's Figure 3): each size is a Llama
configuration; the parameter counts in the comments are for the default world's vocabulary
of 16 tokens.
"""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from empirical.world import BOS, EOS, PAD
from harness.configs import MODEL_SIZES as SIZES


def build_model(vocab_size: int, max_length: int, size: str = "small", seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialized model; the same seed gives the same weights."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    if vocab_size < 2 or max_length < 2:
        raise ValueError(f"vocab_size and max_length must be >= 2, got {vocab_size}, {max_length}")
    s = SIZES[size]
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=s.hidden, intermediate_size=2 * s.hidden,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.heads,
        max_position_embeddings=max_length, tie_word_embeddings=True,
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,  # as the world's tokenizer
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
