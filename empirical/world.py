"""The synthetic world: token data whose distribution is known exactly (DESIGN.md section 6).

A sequence is  BOS prompt SEP response EOS.  Prompts are ``prompt_length`` tokens drawn
uniformly from a prompt vocabulary (like the first tokens of an IMDb review); the response
does not depend on them, so held-out prompts test generalization, not memory.

Responses are the M = V^L leaves of the full V-ary token response tree of depth L + 1 over
V content tokens. A response's **style** is a distributed property, not a marker: it is
positive when most of its tokens are "bright" (the first half of the content vocabulary),
negative otherwise (L is odd, so every response has exactly one style). Each style's
distribution puts iid Pareto masses (Assumption C.15, E[X] = 1) on the leaves of its style,
normalized: p_pos and p_neg have disjoint supports, so the probability a model puts on the
positive style is exact: the sum of its probabilities over positive responses.

Datasets: D_pre mixes the styles (fraction ``pre_positive_fraction`` positive), D_align is
positive, D_perturb negative; each has a held-out split. Everything is a function of the seed.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elasticity import store
from elasticity.configs import WorldConfig
from theory import pareto

__all__ = ["World", "WorldConfig", "Dataset", "all_responses", "PAD", "BOS", "SEP", "EOS", "SPECIAL"]

PAD, BOS, SEP, EOS = 0, 1, 2, 3
SPECIAL = 4


@dataclass(frozen=True)
class Dataset:
    """Token sequences (n, sequence_length) int64 and the style of each (True = positive)."""

    tokens: np.ndarray
    positive: np.ndarray


class World:
    """The generating distributions and the datasets of one configuration."""

    def __init__(self, config: WorldConfig):
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        self.responses = all_responses(config.content_vocab, config.response_length)
        bright = (self.responses < config.content_vocab // 2).sum(axis=1)
        self.is_positive = bright > config.response_length // 2
        masses = pareto.sample(config.alpha, self.responses.shape[0], rng)
        self.p_pos = np.where(self.is_positive, masses, 0.0)
        self.p_pos /= self.p_pos.sum()
        self.p_neg = np.where(self.is_positive, 0.0, masses)
        self.p_neg /= self.p_neg.sum()

    def response_distribution(self, positive_fraction: float) -> np.ndarray:
        """Law of the response index under a mixture of the styles."""
        return positive_fraction * self.p_pos + (1.0 - positive_fraction) * self.p_neg

    def sample(self, n: int, positive_fraction: float, stream: int) -> Dataset:
        """``n`` sequences; ``stream`` separates independent draws (datasets, splits)."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 1, stream])
        positive = rng.random(n) < positive_fraction
        index = np.where(positive, rng.choice(self.p_pos.size, n, p=self.p_pos),
                         rng.choice(self.p_neg.size, n, p=self.p_neg))
        tokens = np.empty((n, cfg.sequence_length), dtype=np.int64)
        tokens[:, 0] = BOS
        prompts = rng.integers(0, cfg.prompt_vocab, (n, cfg.prompt_length))
        tokens[:, 1:1 + cfg.prompt_length] = SPECIAL + prompts
        tokens[:, cfg.response_start - 1] = SEP
        tokens[:, cfg.response_start:-1] = SPECIAL + cfg.prompt_vocab + self.responses[index]
        tokens[:, -1] = EOS
        return Dataset(tokens, positive)

    def datasets(self) -> dict[str, Dataset]:
        """train and held-out splits of D_pre, D_align, D_perturb (fixed streams)."""
        cfg = self.config
        spec = {"pre": (cfg.n_pre, cfg.pre_positive_fraction), "align": (cfg.n_align, 1.0),
                "perturb": (cfg.n_perturb, 0.0)}
        out = {}
        for i, (name, (n, frac)) in enumerate(spec.items()):
            out[name] = self.sample(n, frac, stream=2 * i)
            out[f"{name}_held_out"] = self.sample(cfg.n_held_out, frac, stream=2 * i + 1)
        return out

    def response_tokens(self) -> np.ndarray:
        """Every response as token ids (M, L), aligned with p_pos / p_neg."""
        return SPECIAL + self.config.prompt_vocab + self.responses

    def save(self, folder) -> None:
        """config.json + world.npz (generating distributions and every dataset), each written
        under a unique temporary name and renamed, so a crash or a concurrent writer leaves no
        half file."""
        folder = Path(folder)
        arrays = {"responses": self.responses, "p_pos": self.p_pos, "p_neg": self.p_neg}
        for name, data in self.datasets().items():
            arrays[f"{name}_tokens"] = data.tokens
            arrays[f"{name}_positive"] = data.positive
        store.atomic_write_json(folder / "config.json", self.config.as_dict())
        store.atomic_save_npz(folder / "world.npz", arrays)


def all_responses(vocab: int, length: int) -> np.ndarray:
    """The V^L responses in lexicographic order (the leaves of the full tree), (M, L) int64."""
    digits = np.arange(vocab**length)[:, None] // vocab ** np.arange(length - 1, -1, -1)
    return (digits % vocab).astype(np.int64)
