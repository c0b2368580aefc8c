"""The synthetic world: token data whose distribution is known exactly (docs/design.md, section 6).

A sequence is  BOS prompt SEP response EOS.  Prompts are ``prompt_length`` tokens drawn
uniformly from a prompt vocabulary (like the first tokens of an IMDb review). Responses do
not depend on the prompt, so every prompt measures the same law: evaluation prompts are not
"held out" in any useful sense, and one or two of them suffice.

Responses are the M = V^L leaves of the full V-ary token response tree of depth L + 1 over
V content tokens. A response's **style** is a distributed property, not a marker: it is
positive when most of its tokens are "bright" (the first half of the content vocabulary),
negative otherwise (L is odd, so every response has exactly one style). Each style's law puts
heavy-tailed masses on the leaves of its style: Zipf (mass proportional to rank^-s over a
seeded shuffle of the style's responses; the default, because a small model can learn it) or
iid Pareto (Assumption C.15, E[X] = 1; the theory's own law). p_pos and p_neg have disjoint
supports, so the probability a model puts on the positive style is exact: the sum of its
probabilities over positive responses.

Datasets: D_pre mixes the styles (exactly a share f positive), D_align is positive, D_perturb
negative; each has a held-out sample. ``World(config, seed)`` is the world of one run seed:
the laws and every dataset are drawn afresh for each seed. ``sample`` uses common random
numbers: two calls with the same stream and size but different f differ only in which
examples are positive (the counterfactual arms' pre-training sets).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import store
from harness.configs import WorldConfig
from theory import pareto

__all__ = ["World", "WorldConfig", "Dataset", "all_responses", "information", "PAD", "BOS", "SEP", "EOS",
           "SPECIAL"]

PAD, BOS, SEP, EOS = 0, 1, 2, 3
SPECIAL = 4


@dataclass(frozen=True)
class Dataset:
    """Token sequences (n, sequence_length) int64 and the style of each (True = positive)."""

    tokens: np.ndarray
    positive: np.ndarray


class World:
    """The generating laws and the datasets of one configuration and run seed."""

    def __init__(self, config: WorldConfig, seed: int = 0):
        self.config, self.seed = config, int(seed)
        rng = np.random.default_rng([config.seed, self.seed, 0])
        self.responses = all_responses(config.content_vocab, config.response_length)
        bright = (self.responses < config.content_vocab // 2).sum(axis=1)
        self.is_positive = bright > config.response_length // 2
        self.p_pos = _style_law(self.is_positive, config, rng)
        self.p_neg = _style_law(~self.is_positive, config, rng)

    def response_distribution(self, positive_fraction: float) -> np.ndarray:
        """Law of the response index under a mixture of the styles."""
        return positive_fraction * self.p_pos + (1.0 - positive_fraction) * self.p_neg

    def sample(self, n: int, positive_fraction: float, stream: int) -> Dataset:
        """``n`` sequences; ``stream`` separates independent draws (datasets, splits)."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, self.seed, 1, stream])
        # exactly round(f n) positives (the first in a seeded order), so two arms' shares differ
        # by design only, not by binomial noise: their positive sets are nested
        positive = rng.permutation(n) < round(positive_fraction * n)
        index = np.where(positive, rng.choice(self.p_pos.size, n, p=self.p_pos),
                         rng.choice(self.p_neg.size, n, p=self.p_neg))
        prompts = rng.integers(0, cfg.prompt_vocab, (n, cfg.prompt_length))
        return Dataset(self._sequences(prompts, index), positive)

    def _sequences(self, prompts: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``BOS prompt SEP response EOS`` token rows for prompt ids and response indices."""
        cfg = self.config
        tokens = np.empty((len(index), cfg.sequence_length), dtype=np.int64)
        tokens[:, 0] = BOS
        tokens[:, 1:1 + cfg.prompt_length] = SPECIAL + prompts
        tokens[:, cfg.response_start - 1] = SEP
        tokens[:, cfg.response_start:-1] = SPECIAL + cfg.prompt_vocab + self.responses[index]
        tokens[:, -1] = EOS
        return tokens

    def format_sample(self, n: int, stream: int) -> Dataset:
        """``n`` sequences in the world's format whose responses are uniform over all M (no law:
        no style preference, no heavy tail): what a never-pre-trained control learns so that it
        writes well-formed responses without having seen the world's laws."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, self.seed, 2, stream])
        index = rng.integers(0, self.responses.shape[0], n)
        prompts = rng.integers(0, cfg.prompt_vocab, (n, cfg.prompt_length))
        return Dataset(self._sequences(prompts, index), self.is_positive[index])

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

    def laws(self, positive_fraction: float | None = None) -> dict[str, np.ndarray]:
        """The exact laws over responses of D_pre (at ``positive_fraction``, default the
        config's), D_align and D_perturb."""
        f = self.config.pre_positive_fraction if positive_fraction is None else positive_fraction
        return {"pre": self.response_distribution(f), "align": self.p_pos, "perturb": self.p_neg}

    def prompts(self, n: int) -> np.ndarray:
        """The first ``n`` distinct prompts (lexicographic) as token ids, (n, prompt_length)."""
        cfg = self.config
        if not 1 <= n <= cfg.distinct_prompts:
            raise ValueError(f"there are {cfg.distinct_prompts} distinct prompts, asked {n}")
        digits = np.arange(n)[:, None] // cfg.prompt_vocab ** np.arange(cfg.prompt_length - 1, -1, -1)
        return SPECIAL + digits % cfg.prompt_vocab

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
        store.atomic_write_json(folder / "config.json", {**self.config.as_dict(), "run_seed": self.seed})
        store.atomic_save_npz(folder / "world.npz", arrays)


def _style_law(members: np.ndarray, config: WorldConfig, rng: np.random.Generator) -> np.ndarray:
    """A law over all M responses, zero off ``members``: Zipf by a seeded rank, or iid Pareto."""
    index = np.flatnonzero(members)
    masses = np.zeros(members.size)
    if config.law == "zipf":
        ranks = rng.permutation(index.size) + 1.0
        masses[index] = ranks ** -config.zipf_s
    else:
        masses[index] = pareto.sample(config.alpha, index.size, rng)
    return masses / masses.sum()


def information(world: World, f: float | None = None, compare=()) -> dict:
    """The world's information numbers, exact (nats): the entropy per token of each dataset's
    law (D_pre at positive share ``f``, default the config's), D_pre's KL to the uniform law
    over responses per token, and the KL between the pre-training laws at the lowest and
    highest of ``compare`` (the styles themselves have disjoint supports: their KL is
    infinite and their Jensen-Shannon divergence log 2)."""
    tokens = world.config.response_length + 1  # every response token and EOS
    log_m = float(np.log(world.responses.shape[0]))
    f = world.config.pre_positive_fraction if f is None else f
    laws = world.laws(f)
    out = {"responses": int(world.responses.shape[0]), "tokens_per_response": tokens, "pre_positive_fraction": f,
           "entropy_nats_per_token": {k: entropy_nats(p) / tokens for k, p in laws.items()},
           "kl_pre_to_uniform_nats_per_token": (log_m - entropy_nats(laws["pre"])) / tokens,
           "kl_between_styles_nats": None, "js_between_styles_nats": float(np.log(2.0))}
    if len(set(compare)) > 1:
        lo, hi = min(compare), max(compare)
        low, high = world.response_distribution(lo), world.response_distribution(hi)
        out["kl_between_pretraining_laws_nats_per_token"] = {
            f"f={lo:g} || f={hi:g}": kl_nats(low, high) / tokens, f"f={hi:g} || f={lo:g}": kl_nats(high, low) / tokens}
    return out


def entropy_nats(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log(q)).sum())


def kl_nats(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats; infinite when p puts mass where q has none."""
    support = p > 0
    if (q[support] <= 0).any():
        return float("inf")
    return float((p[support] * (np.log(p[support]) - np.log(q[support]))).sum())


def all_responses(vocab: int, length: int) -> np.ndarray:
    """The V^L responses in lexicographic order (the leaves of the full tree), (M, L) int64."""
    digits = np.arange(vocab**length)[:, None] // vocab ** np.arange(length - 1, -1, -1)
    return (digits % vocab).astype(np.int64)
