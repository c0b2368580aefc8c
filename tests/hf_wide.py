"""HF's Llama computes RMSNorm and the rotary table in float32 even for a float64 model; for a
tight float64 comparison with empirical.llama_fn, widen both to the model's dtype."""

import torch
from transformers.models.llama import modeling_llama


def _rms_forward(self, hidden):
    normed = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
    return self.weight * normed


def _rope_forward(self, x, position_ids):
    dim = self.inv_freq.numel() * 2
    inv_freq = 1.0 / self.config.rope_parameters["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = position_ids[..., None].double() * inv_freq
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def widen_hf(monkeypatch) -> None:
    """Patch (for one test, through pytest's monkeypatch) HF's float32 islands away."""
    monkeypatch.setattr(modeling_llama.LlamaRMSNorm, "forward", _rms_forward)
    monkeypatch.setattr(modeling_llama.LlamaRotaryEmbedding, "forward", _rope_forward)
