"""Exact measurements of a model on the synthetic world (no classifier, no sampling).

- ``response_log_probs``: log q(response | BOS prompt SEP) for every one of the world's M
  responses (EOS included), by enumeration;
- ``style_score``: the probability the model puts on the positive style, sum of q over the
  positive responses, normalized by the mass it puts on valid responses, averaged over
  prompts; the valid mass is reported too;
- ``code_length``: cross-entropy of a dataset's response tokens under the model (nats and
  bits per token), i.e. the arithmetic-coding length;
- ``kl_divergence``: KL(q_model || q_reference) between the two models' laws over valid
  responses, averaged over prompts (nats);
- ``law_measures``: all of the above from one enumeration, with code lengths taken against the
  world's exact laws (the expected code length of a law's samples, not a sample's).
"""

import math

import numpy as np
import torch

from empirical.world import BOS, EOS, SEP, World


@torch.no_grad()
def _token_log_probs(model, tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
    """log q(tokens[:, i] | tokens[:, :i]) for i >= 1, shape (n, length - 1)."""
    out = []
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start:start + batch_size].to(model.device)
        logits = model(input_ids=batch).logits[:, :-1].double()  # sums of many log-probs
        out.append(torch.log_softmax(logits, -1).gather(-1, batch[:, 1:, None])[..., 0].cpu())
    return torch.cat(out)


def response_sequences(world: World, prompt: np.ndarray) -> np.ndarray:
    """(M, length) token ids: BOS prompt SEP response EOS for every one of the world's responses."""
    cfg = world.config
    responses = world.response_tokens()
    seq = np.empty((responses.shape[0], cfg.sequence_length), dtype=np.int64)
    seq[:, 0] = BOS
    seq[:, 1:1 + cfg.prompt_length] = prompt
    seq[:, cfg.response_start - 1] = SEP
    seq[:, cfg.response_start:-1] = responses
    seq[:, -1] = EOS
    return seq


def response_log_probs(model, world: World, prompts: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """(n_prompts, M) array of log q(response + EOS | BOS prompt SEP), nats."""
    start = world.config.response_start
    return np.stack([_token_log_probs(model, torch.from_numpy(response_sequences(world, prompt)), batch_size)
                     [:, start - 1:].sum(-1).numpy() for prompt in prompts])


class Enumerated:
    """A measurement read from log q of every response to every scored prompt, ``reduce(log_q)``
    with log_q (n_prompts, M): called on a model it enumerates like `response_log_probs`; an
    ensemble instead scores ``sequences`` for several members in one batched forward and calls
    ``from_token_log_probs`` (`empirical.together`)."""

    def __init__(self, world: World, prompts: np.ndarray, reduce):
        self.sequences = torch.from_numpy(np.concatenate([response_sequences(world, p) for p in prompts]))
        self.n_prompts, self.start, self.reduce = len(prompts), world.config.response_start, reduce
        self.world, self.prompts = world, prompts

    def __call__(self, model) -> dict:
        return self.reduce(response_log_probs(model, self.world, self.prompts))

    def from_token_log_probs(self, token_log_probs: torch.Tensor) -> dict:
        """``reduce`` of log q from the log-probabilities of the response tokens (EOS included),
        [n_prompts * M, length - start], of ``sequences``."""
        log_q = token_log_probs.sum(-1).reshape(self.n_prompts, -1)
        return self.reduce(log_q.cpu().numpy())


def _normalized(log_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt: the law over valid responses and the valid mass."""
    top = log_q.max(axis=1, keepdims=True)
    w = np.exp(log_q - top)
    total = w.sum(axis=1, keepdims=True)
    return w / total, (total[:, 0] * np.exp(top[:, 0]))


def style_score(model, world: World, prompts: np.ndarray) -> dict:
    return score_from_log_probs(response_log_probs(model, world, prompts), world)


def score_from_log_probs(log_q: np.ndarray, world: World) -> dict:
    """``style_score`` from already enumerated log-probabilities (n_prompts, M)."""
    q, valid = _normalized(log_q)
    per_prompt = q[:, world.is_positive].sum(axis=1)
    n = len(per_prompt)
    se = float(per_prompt.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return {"score": float(per_prompt.mean()), "score_se": se, "valid_mass": float(valid.mean())}


def code_length(model, tokens: np.ndarray, response_start: int, batch_size: int = 4096) -> dict:
    """Mean code length of the response tokens (EOS included) of ``tokens``."""
    lp = _token_log_probs(model, torch.from_numpy(np.asarray(tokens, dtype=np.int64)), batch_size)
    nats = float(-lp[:, response_start - 1:].mean())
    return {"nats_per_token": nats, "bits_per_token": nats / math.log(2)}


def kl_divergence(model, reference, world: World, prompts: np.ndarray) -> float:
    return kl_from_log_probs(response_log_probs(model, world, prompts),
                             response_log_probs(reference, world, prompts))


def kl_from_log_probs(log_q: np.ndarray, log_r: np.ndarray) -> float:
    """``kl_divergence`` from already enumerated log-probabilities of the two models."""
    q, _ = _normalized(log_q)
    r, _ = _normalized(log_r)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * (np.log(q) - np.log(r)), 0.0)
    return float(terms.sum(axis=1).mean())


def law_measures(log_q: np.ndarray, world: World, laws: dict, reference_log_q: np.ndarray | None = None) -> dict:
    """From enumerated log-probabilities (n_prompts, M): the style score (and its logit), the
    valid mass, the exact code length of each law's responses under the model (nats per token,
    EOS included: -sum_r p(r) log q(r) / (L + 1); mass the model puts off the valid responses
    counts as lost, as a real coder would lose it) and the KL to a reference model."""
    tokens = world.config.response_length + 1
    out = score_from_log_probs(log_q, world)
    score = min(max(out["score"], 1e-12), 1 - 1e-12)  # a logit of exactly 0 or 1 is infinite
    out["score_logit"] = math.log(score / (1 - score))
    out["code_length_nats"] = {name: float(-(log_q @ p).mean() / tokens) for name, p in laws.items()}
    if reference_log_q is not None:
        out["kl_to_pretrained_nats"] = kl_from_log_probs(log_q, reference_log_q)
    return out
