"""Forward against inverse alignment on the synthetic world, exact (``empirical.resist`` runs it).

Every theta's law over the responses is enumerated, so the distances are exact: the inverse
distance is KL(theta_i || theta'_ji) and the forward one KL(theta_j || theta'_ij), each taken
relative to its value before the path's training (KL(theta_i || theta_j), KL(theta_j ||
theta_i)). Both laws of a KL are renormalized over the valid responses alike, so a KL is a
divergence between two laws over the same set (the model's valid mass is recorded beside it,
never folded into the distance). One record per seed and arm: the base is pre-trained from
scratch on that seed's world, or, in the control, pre-trained as long on the world's format only
(``World.format_sample``: well-formed responses, uniform over all of them, no law; as rebound's
scratch control). Sequential fine-tuning alone can produce an asymmetry; a control left at its
initialization wrote mostly malformed output (forward paths 0.19 of their mass on well-formed
responses), so it compared well-formed against malformed laws. The valid mass of every theta and
of every path's model is recorded, so that a run can say whether each arm stayed in the regime.
"""

import copy
import time

import numpy as np

from empirical import measure, together, trajectory
from empirical.world import World
from harness.configs import ResistConfig

PAIRS = ((1, 2), (2, 3), (1, 3))


ARMS = ("pretrained", "format_only")
PRE_STREAM = 10  # the world's sample stream of D_pre (and of the control's format-only corpus)


def _bases(c: ResistConfig, cells: list[tuple[int, str]]) -> list:
    """theta_0 of each (seed, arm) cell: pre-trained on D_pre, or as long (same steps, batch,
    learning rate, corpus size) on the format only; together with the ensemble trainer."""
    from empirical.models import build_model

    w, p = c.world, c.pretrain
    models = [build_model(w.vocab_size, w.sequence_length, c.model_size, seed) for seed, _ in cells]
    corpora = [(World(w, seed).sample(w.n_pre, w.pre_positive_fraction, PRE_STREAM) if arm == "pretrained"
                else World(w, seed).format_sample(w.n_pre, PRE_STREAM)).tokens for seed, arm in cells]
    together.pretrain_by(c.trainer, models, corpora, steps=[p.steps] * len(cells), batch_size=p.batch, lr=p.lr,
                         seeds=[seed for seed, _ in cells])
    return models


def _valid_mass(log_q: np.ndarray) -> float:
    """The model's mean probability (over prompts) of writing a well-formed response."""
    return float(np.exp(log_q).sum(axis=1).mean())


def run_seeds(c: ResistConfig, cells: list[tuple[int, str]]) -> list[dict]:
    """The record of each (seed, arm) cell; their bases pre-train together (`_bases`)."""
    bad = [arm for _, arm in cells if arm not in ARMS]
    if bad:
        raise ValueError(f"arm must be one of {ARMS}, got {bad[0]!r}")
    began = time.perf_counter()
    bases = _bases(c, cells)
    shared_s = (time.perf_counter() - began) / len(cells)
    return [_run_seed(c, seed, arm, base, shared_s) for (seed, arm), base in zip(cells, bases, strict=True)]


def run_seed(c: ResistConfig, seed: int, arm: str = "pretrained") -> dict:
    """theta_0..theta_3, samples, both paths of every pair, exact distances: one seed's record of
    one arm (``ARMS``)."""
    return run_seeds(c, [(seed, arm)])[0]


def _run_seed(c: ResistConfig, seed: int, arm: str, base, shared_s: float) -> dict:
    began = time.perf_counter()
    w = c.world
    world = World(w, seed)
    part = c.part_size or w.n_align // 4
    parts = np.split(world.sample(4 * part, 1.0, 12).tokens, 4)
    prompts = world.prompts(w.distinct_prompts)  # every distinct prompt
    theta = [base]
    for i in (1, 2, 3):
        theta.append(_sft_copy(theta[-1], parts[i - 1], c.sequential_lr, c.sequential_epochs, c, seed))
    laws = [measure.response_log_probs(m, world, prompts) for m in theta]
    rng = np.random.default_rng([seed, 4])
    samples = {i: _sample(world, laws[i], parts[3], c.temperature, rng) for i in (1, 2, 3)}
    pairs = []
    for i, j in PAIRS:
        forward = _sft_copy(theta[i], samples[j], c.path_lr, c.path_epochs, c, seed)  # theta'_ij
        inverse = _sft_copy(theta[j], samples[i], c.path_lr, c.path_epochs, c, seed)  # theta'_ji
        after_f, after_i = (measure.response_log_probs(m, world, prompts) for m in (forward, inverse))
        tokens = w.response_length + 1
        d = {"inverse": _distance(laws[i], after_i, laws[j], tokens),  # target theta_i
             "forward": _distance(laws[j], after_f, laws[i], tokens)}  # target theta_j
        pairs.append({"pair": [i, j], **{f"{side}_{k}": v for side, got in d.items() for k, v in got.items()}})
    return {"seed": seed, "arm": arm, "pretrained": arm == "pretrained", "pairs": pairs, "part_size": part,
            "theta_valid_mass": [_valid_mass(law) for law in laws],
            "wall_s": shared_s + time.perf_counter() - began}


def _sft_copy(model, tokens, lr: float, epochs: int, c: ResistConfig, seed: int):
    out = copy.deepcopy(model)
    data = np.concatenate([tokens] * epochs)
    trajectory.trajectory(out, data, (len(data),), lambda m: {}, lr=lr, batch_size=c.batch_size, seed=seed,
                          loss_from=c.world.response_start)
    return out


def _sample(world: World, log_q: np.ndarray, like: np.ndarray, temperature: float, rng) -> np.ndarray:
    """``like``'s prompts, each with a response drawn from the model's law at ``temperature``
    (renormalized over the valid responses): exact ancestral sampling, by enumeration."""
    cfg = world.config
    tokens = like.copy()
    digits = (like[:, 1:1 + cfg.prompt_length] - 4) @ cfg.prompt_vocab ** np.arange(cfg.prompt_length - 1, -1, -1)
    scaled = log_q / temperature
    probs = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    cumulative = probs.cumsum(axis=1)
    picks = (cumulative[digits] < rng.random((len(like), 1))).sum(axis=1)
    tokens[:, cfg.response_start:-1] = world.response_tokens()[np.minimum(picks, probs.shape[1] - 1)]
    return tokens


def _renormalized(log_q: np.ndarray) -> np.ndarray:
    """Log-probabilities over the valid responses, renormalized per prompt."""
    top = log_q.max(axis=1, keepdims=True)
    return log_q - (top + np.log(np.exp(log_q - top).sum(axis=1, keepdims=True)))


def _distance(target: np.ndarray, model: np.ndarray, before: np.ndarray, tokens: int) -> dict:
    """Cross-entropy (nats/token) of the target's law under ``model`` and under ``before``, all
    three renormalized over the valid responses; the KLs; KL after / KL before; and the valid
    mass of ``model`` (what the renormalization set aside)."""
    log_p = _renormalized(target)
    p = np.exp(log_p)
    entropy = -(p * np.where(p > 0, log_p, 0.0)).sum(axis=1).mean()  # 0 log 0 = 0
    ce_after, ce_before = (float(-(p * _renormalized(lq)).sum(axis=1).mean()) for lq in (model, before))
    kl_after, kl_before = ce_after - entropy, ce_before - entropy
    return {"nats": ce_after / tokens, "before_nats": ce_before / tokens, "kl_nats": kl_after,
            "kl_before_nats": kl_before, "relative": kl_after / kl_before,
            "valid_mass": _valid_mass(model)}
