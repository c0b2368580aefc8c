"""The scaling experiment's world: V^L responses whose law has structure to learn, examples drawn
fresh (never repeated), scored exactly by enumeration (docs/experiments.md, "Scaling").

A sequence is ``BOS x_1 ... x_L`` over V content tokens (ids 0..V-1; BOS is id V). The base law
q over the M = V^L responses is a **Zipf cascade of order c**: the law of x_i given its prefix
depends on the last min(c, i - 1) tokens (its context); each context has its own next-token law,
Zipf (mass proportional to rank^-s) over a seeded permutation of the V tokens. Order 0 is one law
for every position (iid tokens); order L - 1 gives every node of the response tree its own law
(a multiplicative cascade). The number of contexts, about V^c, is what a model must learn:
capacity binds when it is large against the model, data binds when it is large against the
examples seen.

A response's **style** is positive when most of its tokens are "bright" (ids < V / 2; L is odd).
The laws: align = q restricted to the positive responses (renormalized), perturb = q restricted
to the negative ones, pre(f) = f align + (1 - f) perturb. One cascade under both styles, so what
a model learns of the structure serves both; the style share is what alignment moves.

Fresh examples (``Stream``): row j of a stream is fixed by (world, seed, stream, j) alone, drawn
in chunks of ``CHUNK`` rows with their own generators, so that the first n rows of a stream are
the same whatever larger amount is drawn (the data amounts are nested) and a schedule that cuts
rows 0..n-1 into batches sees each drawn example once. Row j is positive when u_j < f and is the
response at v_j of the inverse CDF of its style's law (common random numbers: two arms with
shares f_low < f_high see the same rows except those with f_low <= u_j < f_high, which change
style).
"""

from dataclasses import dataclass

import numpy as np
import torch

from empirical.llama_fn import LlamaShape, forward_logits
from empirical.world import all_responses, entropy_nats
from harness.configs import ScalingConfig

__all__ = ["ScaleWorld", "Stream", "prefix_ids", "response_log_probs", "score", "code_length_nats", "CHUNK"]

CHUNK = 4096  # rows per generator: the unit of reproducible fresh draws


@dataclass(frozen=True)
class Spec:
    """The world numbers of a config (what ``ScaleWorld`` needs)."""

    vocab: int
    length: int
    order: int
    zipf_s: float
    seed: int

    @classmethod
    def of(cls, c: ScalingConfig) -> "Spec":
        return cls(c.content_vocab, c.response_length, c.context_order, c.zipf_s, c.world_seed)


class ScaleWorld:
    """The cascade law, its style restrictions and the fresh streams of one run seed."""

    def __init__(self, spec: Spec, seed: int):
        self.spec, self.seed = spec, int(seed)
        v, length = spec.vocab, spec.length
        self.responses = all_responses(v, length)  # (M, L), lexicographic
        self.log_q = cascade_log_law(self.responses, v, spec.order, spec.zipf_s,
                                     np.random.default_rng([spec.seed, self.seed, 0]))
        q = np.exp(self.log_q)
        self.q = q / q.sum()  # sums to 1 up to rounding already (a product of normalized laws)
        self.is_positive = (self.responses < v // 2).sum(axis=1) > length // 2
        self.p_pos = np.where(self.is_positive, self.q, 0.0) / self.q[self.is_positive].sum()
        self.p_neg = np.where(self.is_positive, 0.0, self.q) / self.q[~self.is_positive].sum()
        self._cdf = {True: np.cumsum(self.p_pos), False: np.cumsum(self.p_neg)}

    @property
    def bos(self) -> int:
        return self.spec.vocab

    @property
    def vocab_size(self) -> int:
        return self.spec.vocab + 1

    def laws(self, f: float) -> dict[str, np.ndarray]:
        """pre (at positive share f), align and perturb, over the M responses."""
        return {"pre": f * self.p_pos + (1.0 - f) * self.p_neg, "align": self.p_pos, "perturb": self.p_neg}

    def entropy_nats_per_token(self, f: float) -> dict[str, float]:
        return {name: entropy_nats(p) / self.spec.length for name, p in self.laws(f).items()}

    def stream(self, stream: int) -> "Stream":
        return Stream(self, stream)

    def tokens(self, index: np.ndarray) -> np.ndarray:
        """``BOS x_1 .. x_L`` rows (n, L + 1) for response indices."""
        out = np.empty((len(index), self.spec.length + 1), dtype=np.int64)
        out[:, 0] = self.bos
        out[:, 1:] = self.responses[index]
        return out

    def pick(self, u: np.ndarray, v: np.ndarray, f: float) -> np.ndarray:
        """Response indices of rows with uniforms (u, v) at positive share f."""
        positive = u < f
        index = np.empty(len(u), dtype=np.int64)
        for style in (True, False):
            rows = positive == style
            cdf = self._cdf[style]
            index[rows] = np.minimum(np.searchsorted(cdf, v[rows] * cdf[-1], side="right"), len(cdf) - 1)
        return index


def cascade_log_law(responses: np.ndarray, vocab: int, order: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """log q of every response under a Zipf cascade of ``order``: per context (position-specific
    while the prefix is shorter than ``order``, shared after), a Zipf law over a seeded
    permutation of the tokens. Laws are drawn in a fixed order (depth, then context), so a
    world is its seeds."""
    zipf = np.arange(1, vocab + 1, dtype=float) ** -s
    zipf /= zipf.sum()
    length = responses.shape[1]
    log_q = np.zeros(responses.shape[0])
    shared = None
    for i in range(length):
        width = min(order, i)
        if i < order or shared is None:
            table = np.log(zipf[np.argsort(rng.random((vocab ** width, vocab)), axis=1)])  # seeded permutations
            if i >= order:
                shared = table  # every later position reads the same order-c table
        else:
            table = shared
        context = np.zeros(responses.shape[0], dtype=np.int64)
        for t in range(i - width, i):
            context = context * vocab + responses[:, t]
        log_q += table[context, responses[:, i]]
    return log_q


class Stream:
    """Fresh examples of one stream of one seed's world: rows j = start..stop-1 at share f."""

    def __init__(self, world: ScaleWorld, stream: int):
        self.world, self.stream = world, int(stream)
        self._chunk: tuple[int, np.ndarray, np.ndarray] | None = None

    def _uniforms(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        if self._chunk is None or self._chunk[0] != chunk:
            w = self.world
            rng = np.random.default_rng([w.spec.seed, w.seed, 1, self.stream, chunk])
            self._chunk = (chunk, rng.random(CHUNK), rng.random(CHUNK))
        return self._chunk[1], self._chunk[2]

    def uniforms(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) of rows start..stop-1."""
        us, vs = [], []
        for chunk in range(start // CHUNK, (stop - 1) // CHUNK + 1 if stop > start else start // CHUNK):
            u, v = self._uniforms(chunk)
            lo, hi = max(start - chunk * CHUNK, 0), min(stop - chunk * CHUNK, CHUNK)
            us.append(u[lo:hi])
            vs.append(v[lo:hi])
        return (np.concatenate(us), np.concatenate(vs)) if us else (np.zeros(0), np.zeros(0))

    def rows(self, start: int, stop: int, f: float) -> np.ndarray:
        """Token rows (stop - start, L + 1) of rows start..stop-1 at positive share f."""
        u, v = self.uniforms(start, stop)
        return self.world.tokens(self.world.pick(u, v, f))


# --- exact scoring by enumeration ---------------------------------------------------------------

def prefix_ids(vocab: int, length: int) -> torch.Tensor:
    """[V^(L-1), L]: BOS (id V) then each prefix of L - 1 content tokens, lexicographic."""
    digits = np.arange(vocab ** (length - 1))[:, None] // vocab ** np.arange(length - 2, -1, -1)
    body = torch.from_numpy((digits % vocab).astype(np.int64)).reshape(vocab ** (length - 1), length - 1)
    return torch.cat([torch.full((body.shape[0], 1), vocab, dtype=torch.long), body], dim=1)


@torch.no_grad()
def response_log_probs(params: dict, shape: LlamaShape, vocab: int, length: int, *,
                       member_chunk: int | None = None) -> torch.Tensor:
    """log q_e(x) [E, V^L] of every member e for every response (lexicographic), exact: the
    V^(L-1) distinct prefixes are fed once; a response's log-probability is the sum of its
    tokens' log-softmaxes over the V content tokens (BOS is never a response token), the last
    position's softmax covering all V final tokens. Computed in float64 from the logits."""
    ids = prefix_ids(vocab, length).to(params["model.embed_tokens.weight"].device)
    members = params["model.embed_tokens.weight"].shape[0]
    batch = ids[None].expand(members, *ids.shape)
    logits = forward_logits(params, batch, shape, member_chunk=member_chunk)
    logp = torch.log_softmax(logits[..., :vocab].double(), dim=-1)  # [E, P, L, V]
    own = logp[:, :, :-1].gather(3, batch[:, :, 1:, None])[..., 0].sum(-1)  # the prefix's own tokens [E, P]
    return (own[:, :, None] + logp[:, :, -1]).reshape(members, -1)


def score(log_q: torch.Tensor, world: ScaleWorld) -> np.ndarray:
    """Each member's probability of the positive style [E]."""
    positive = torch.from_numpy(world.is_positive).to(log_q.device)
    return log_q.exp().mul(positive).sum(-1).cpu().numpy()


def code_length_nats(log_q: torch.Tensor, law: np.ndarray, length: int) -> np.ndarray:
    """Cross-entropy of each member [E] on ``law``, nats per response token."""
    p = torch.from_numpy(law).to(log_q)
    return (-(log_q * p).sum(-1) / length).cpu().numpy()
