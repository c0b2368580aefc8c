"""The scaling experiment: do elasticity's two effects grow with model size and with the amount of
pre-training data? (docs/experiments.md, "Scaling".)

A cell is one (hidden width, pre-training examples) of the grid; its members are every seed x
arm, trained together as one ensemble (``empirical.ensemble``: members of one architecture):

- arms ``f_low`` and ``f_high`` of a seed share the initialization and the rows of the fresh
  pre-training stream (common random numbers: they differ only in the rows whose style the
  share f decides), are pre-trained for n_pre / pretrain_batch steps (one pass: each example seen
  once), aligned on the same q1 positive examples, and perturbed by the same negative examples,
  their score (the probability of the positive style) measured exactly at each Q2 checkpoint.

Per seed and cell, in logit units (drop(q) = logit s(aligned) - logit s(Q2 = q), the
counterfactual experiment's drop), each averaged over the declared window:

- the **counterfactual effect**: drop(f_low) - drop(f_high), the counterfactual experiment's
  contrast (> 0: the arm pre-trained less on the aligned style is pulled back further);
- the **rebound**: drop(f_low) / (logit s(aligned) - logit s(pre-trained)) of the low arm: the
  share of what alignment gained that the perturbation undoes in the window (how fast the model
  returns toward its pre-training).

The effects and endpoints are computed in ``empirical.scaling_stats``: the slopes of each effect against log10
parameters, log10 examples and their product, fitted per seed over the grid.
"""

import os
import time
from pathlib import Path

import torch

from empirical import scaling_stats
from empirical.ensemble import (
    CPU_GROUP_ACTIVATIONS,
    AdamW,
    EnsembleState,
    MemberBatch,
    ResponseCE,
    collate,
    linear_decay,
    train_step,
)
from empirical.llama_fn import LlamaShape, count_params, params_from_hf
from empirical.scale_world import ScaleWorld, Spec, code_length_nats, response_log_probs, score
from harness.configs import ScalingConfig

PRE_STREAM, ALIGN_STREAM, PERTURB_STREAM = 20, 21, 22
ARMS = ("f_low", "f_high")


def cell_key(hidden: int, n_pre: int) -> str:
    return f"h{hidden}-n{n_pre}"


def grid(c: ScalingConfig) -> list[tuple[int, int]]:
    """(hidden, n_pre) of every cell, the largest first (the longest cells start first under workers)."""
    return sorted(((h, n) for h in c.hidden for n in c.n_pre), key=lambda g: (-g[0] * g[1], g))


def members(c: ScalingConfig) -> list[tuple[int, str, float]]:
    """(seed, arm, f) of each ensemble member, in member order."""
    low, high = sorted(c.fractions)
    return [(s, arm, f) for s in c.seeds for arm, f in zip(ARMS, (low, high), strict=True)]


def shape_of(c: ScalingConfig, hidden: int) -> LlamaShape:
    return LlamaShape(vocab=c.content_vocab + 1, hidden=hidden, layers=c.layers, heads=c.heads,
                      intermediate=2 * hidden, max_length=c.response_length + 1)


def init(c: ScalingConfig, hidden: int, seed: int) -> dict[str, torch.Tensor]:
    """A member's initial parameters: the project's Llama (HF initialization, tied embeddings),
    seeded by the run seed and the width, the same for both arms of a seed."""
    from transformers import LlamaConfig, LlamaForCausalLM

    s = shape_of(c, hidden)
    cfg = LlamaConfig(vocab_size=s.vocab, hidden_size=hidden, intermediate_size=s.intermediate,
                      num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.heads,
                      max_position_embeddings=s.max_length, tie_word_embeddings=True, bos_token_id=c.content_vocab,
                      eos_token_id=c.content_vocab, pad_token_id=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1_000_003 + hidden)
        return params_from_hf(LlamaForCausalLM(cfg))


def parameters(c: ScalingConfig, hidden: int) -> int:
    """Parameters of one model of this width (the tied embedding once)."""
    s = shape_of(c, hidden)
    per_layer = 4 * hidden * hidden + 3 * hidden * s.intermediate + 2 * hidden
    return s.vocab * hidden + s.layers * per_layer + hidden


def flops(c: ScalingConfig, hidden: int, n_pre: int) -> dict:
    """Estimated FLOPs of one cell (all members): training 6 P per token processed (forward and
    backward; every position of a row, L + 1 tokens), scoring 2 P per token of the V^(L-1)
    enumerated prefixes (L tokens each) at every measurement (pre-trained, aligned, each Q2).
    Attention over L + 1 positions and the optimizer are left out (under 1% at these sizes)."""
    p, tokens = parameters(c, hidden), c.response_length + 1
    e = len(members(c))
    train = 6 * p * tokens * (n_pre + c.q1 + max(c.q2)) * e
    score_ = 2 * p * c.content_vocab ** (c.response_length - 1) * c.response_length * (2 + len(c.q2)) * e
    return {"train": float(train), "score": float(score_), "total": float(train + score_)}


def total_flops(c: ScalingConfig) -> float:
    return sum(flops(c, h, n)["total"] for h, n in grid(c))


class Scaling:
    experiment = "scaling"
    cells_across_ranks = True  # a cell is one ensemble on one device: torchrun ranks split the cells (harness.engine)

    def __init__(self, config: ScalingConfig):
        self.config = config
        self.device = config.device
        self._cells = {cell_key(h, n): (h, n) for h, n in grid(config)}

    def cells(self) -> list[str]:
        return list(self._cells)

    def prepare(self, folder: Path) -> None:
        """Nothing to read: the worlds are generated."""

    def record_fields(self, key: str) -> tuple:
        return RECORD_FIELDS

    def run_cell(self, key: str, folder: Path) -> dict:
        return run_cell(self.config, *self._cells[key])

    def summarize(self, records: dict[str, dict], folder: Path):
        return scaling_stats.summarize(self.config, [records[k] for k in self._cells])


RECORD_FIELDS = (("hidden", "int"), ("params", "int"), ("n_pre", "int"), ("members", "list"),
                 ("members[].seed", "int"), ("members[].f", "number"), ("members[].pretrained.score", "number"),
                 ("members[].aligned_score", "number"), ("members[].points", "list"),
                 ("members[].pretrained.excess_nats_per_token", "number"))


# --- one cell ------------------------------------------------------------------------------------

class _Measure:
    """Exact measurements of every member (enumeration), with the laws of each member's world."""

    def __init__(self, c: ScalingConfig, worlds: dict[int, ScaleWorld], who: list[tuple[int, str, float]], chunk):
        self.c, self.worlds, self.who, self.chunk = c, worlds, who, chunk

    def log_q(self, state: EnsembleState) -> torch.Tensor:
        return response_log_probs(state.params(), state.shape, self.c.content_vocab, self.c.response_length,
                                  member_chunk=self.chunk)

    def scores(self, state: EnsembleState) -> list[float]:
        log_q = self.log_q(state)
        return [float(score(log_q[e:e + 1], self.worlds[s])[0]) for e, (s, _, _) in enumerate(self.who)]

    def pretrained(self, state: EnsembleState) -> list[dict]:
        log_q, out = self.log_q(state), []
        for e, (s, _, f) in enumerate(self.who):
            world, row = self.worlds[s], log_q[e:e + 1]
            ce = {name: float(code_length_nats(row, law, self.c.response_length)[0])
                  for name, law in world.laws(f).items()}
            out.append({"score": float(score(row, world)[0]), "code_length_nats": ce,
                        "excess_nats_per_token": ce["pre"] - world.entropy_nats_per_token(f)["pre"]})
        return out


def _fresh_optimizer(state: EnsembleState) -> None:
    """A new stage starts a new AdamW (as the per-model loop builds one per stage)."""
    state.exp_avg.zero_()
    state.exp_avg_sq.zero_()
    state.step.zero_()


def _stage(state, streams, who, f_of, batch: int, steps: range, lr, opt, autocast: bool) -> None:
    """Train ``steps`` of one stage: member e reads rows [s B, (s + 1) B) of its seed's stream."""
    for step in steps:
        rows = [MemberBatch(torch.from_numpy(streams[s].rows(step * batch, (step + 1) * batch, f_of(f))), batch)
                for s, _, f in who]
        train_step(state, collate(rows, device=state.flat.device), (ResponseCE(),), opt, lr(step), loss_from=1,
                   autocast=autocast)


def device_of(c: ScalingConfig) -> str:
    """Where a cell trains: the config's device; on GPUs under torchrun, each rank its own
    (``cuda:LOCAL_RANK``), since the ranks split the cells."""
    rank = os.environ.get("LOCAL_RANK")
    return f"cuda:{int(rank)}" if c.device == "cuda" and rank is not None else c.device


def run_cell(c: ScalingConfig, hidden: int, n_pre: int, *, member_chunk: int | str | None = "default") -> dict:
    """Pre-train, align and perturb every member of one (hidden, n_pre) cell; its record.
    ``member_chunk``: the ensemble's grouping ("default": the device's; None: all at once, as on
    a GPU; tests compare the two)."""
    began = time.perf_counter()
    who = members(c)
    worlds = {s: ScaleWorld(Spec.of(c), s) for s in c.seeds}
    inits = {s: init(c, hidden, s) for s in c.seeds}
    state = EnsembleState.from_params([inits[s] for s, _, _ in who], shape_of(c, hidden), device=device_of(c))
    if member_chunk != "default":
        state.member_chunk = member_chunk
    eval_chunk = _eval_chunk(state, c)
    measure = _Measure(c, worlds, who, eval_chunk)
    e = state.members
    opt = AdamW.for_members(e, device=state.flat.device)
    autocast = c.bf16
    constant = lambda lr: (lambda step: torch.full((e,), lr, dtype=torch.float64))  # noqa: E731

    steps = n_pre // c.pretrain_batch
    peak, total = torch.full((e,), c.pretrain_lr, dtype=torch.float64), torch.full((e,), steps)
    pre = {s: w.stream(PRE_STREAM) for s, w in worlds.items()}
    _stage(state, pre, who, lambda f: f, c.pretrain_batch, range(steps), lambda i: linear_decay(peak, total, i), opt,
           autocast)
    pre_s = time.perf_counter() - began
    pretrained = measure.pretrained(state)

    _fresh_optimizer(state)
    align = {s: w.stream(ALIGN_STREAM) for s, w in worlds.items()}
    _stage(state, align, who, lambda f: 1.0, c.align_batch, range(c.q1 // c.align_batch), constant(c.align_lr), opt,
           autocast)
    aligned = measure.scores(state)

    _fresh_optimizer(state)
    perturb = {s: w.stream(PERTURB_STREAM) for s, w in worlds.items()}
    points, done = [[{"q": 0, "score": a}] for a in aligned], 0
    for q in sorted(c.q2):
        _stage(state, perturb, who, lambda f: 0.0, c.second_batch, range(done, q // c.second_batch),
               constant(c.second_lr), opt, autocast)
        done = q // c.second_batch
        for row, value in zip(points, measure.scores(state), strict=True):
            row.append({"q": q, "score": value})
    rows = [{"seed": s, "arm": arm, "f": f, "pretrained": p, "aligned_score": a, "points": pts}
            for (s, arm, f), p, a, pts in zip(who, pretrained, aligned, points, strict=True)]
    check = count_params(state.params(), members=True)
    if check != parameters(c, hidden):  # the count the slopes use is the model's own
        raise AssertionError(f"parameter count {check} != {parameters(c, hidden)}")
    return {"hidden": hidden, "params": check, "n_pre": n_pre, "pretrain_steps": steps, "members": rows,
            "flops": flops(c, hidden, n_pre), "pretrain_s": pre_s, "wall_s": time.perf_counter() - began}


def _eval_chunk(state: EnsembleState, c: ScalingConfig) -> int | None:
    """Members per scoring forward: on a CPU the ensemble's cache rule (``CPU_GROUP_ACTIVATIONS``)
    at the enumeration's V^(L-1) x L tokens; on a GPU all at once."""
    if state.flat.device.type != "cpu":
        return None
    tokens = c.content_vocab ** (c.response_length - 1) * c.response_length
    return max(1, CPU_GROUP_ACTIVATIONS // (tokens * state.shape.hidden))
