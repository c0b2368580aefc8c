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

from empirical import measure, together
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
    """The record of each (seed, arm) cell: theta_0..theta_3, samples, both paths of every pair,
    exact distances. Each training stage of every cell is one call with the config's trainer (the
    ensemble: the cells' models together): the bases (`_bases`), theta_1, theta_2, theta_3, then
    all six paths of every cell. A record's wall_s is the cells' time over their number."""
    bad = [arm for _, arm in cells if arm not in ARMS]
    if bad:
        raise ValueError(f"arm must be one of {ARMS}, got {bad[0]!r}")
    began = time.perf_counter()
    seeds = [seed for seed, _ in cells]
    worlds = [World(c.world, seed) for seed in seeds]
    part = c.part_size or c.world.n_align // 4
    parts = [np.split(world.sample(4 * part, 1.0, 12).tokens, 4) for world in worlds]
    thetas = [[base] for base in _bases(c, cells)]
    for i in (1, 2, 3):
        step = _sft_copies(c, [t[-1] for t in thetas], [p[i - 1] for p in parts], c.sequential_lr,
                           c.sequential_epochs, seeds)
        for theta, model in zip(thetas, step, strict=True):
            theta.append(model)
    prompts = [world.prompts(c.world.distinct_prompts) for world in worlds]  # every distinct prompt
    laws = [[measure.response_log_probs(m, w, p) for m in theta] for theta, w, p in zip(thetas, worlds, prompts,
                                                                                         strict=True)]
    samples = [_samples(c, seed, world, law, p[3]) for seed, world, law, p in zip(seeds, worlds, laws, parts,
                                                                                  strict=True)]
    starts = []  # per cell and pair: theta'_ij (forward: theta_i on theta_j's samples), then theta'_ji (inverse)
    for e, (theta, sample) in enumerate(zip(thetas, samples, strict=True)):
        for i, j in PAIRS:
            starts += [(e, theta[i], sample[j]), (e, theta[j], sample[i])]
    paths = _sft_copies(c, [m for _, m, _ in starts], [d for _, _, d in starts], c.path_lr, c.path_epochs,
                        [seeds[e] for e, _, _ in starts])
    wall_s = (time.perf_counter() - began) / len(cells)
    out = []
    for e, (seed, arm) in enumerate(cells):
        mine = iter(paths[2 * len(PAIRS) * e:2 * len(PAIRS) * (e + 1)])
        pairs = [_pair(c, i, j, laws[e], next(mine), next(mine), worlds[e], prompts[e]) for i, j in PAIRS]
        out.append({"seed": seed, "arm": arm, "pretrained": arm == "pretrained", "pairs": pairs, "part_size": part,
                    "theta_valid_mass": [_valid_mass(law) for law in laws[e]], "wall_s": wall_s})
    return out


def run_seed(c: ResistConfig, seed: int, arm: str = "pretrained") -> dict:
    """One seed's record of one arm (``ARMS``): `run_seeds` of one cell."""
    return run_seeds(c, [(seed, arm)])[0]


def _samples(c: ResistConfig, seed: int, world: World, laws: list, like: np.ndarray) -> dict:
    """Samples of theta_1..theta_3 on ``like``'s prompts (the seed's own generator, drawn in order)."""
    rng = np.random.default_rng([seed, 4])
    return {i: _sample(world, laws[i], like, c.temperature, rng) for i in (1, 2, 3)}


def _pair(c: ResistConfig, i: int, j: int, laws: list, forward, inverse, world: World, prompts) -> dict:
    """The exact distances of one pair's two paths: inverse to theta_i, forward to theta_j."""
    after_f, after_i = (measure.response_log_probs(m, world, prompts) for m in (forward, inverse))
    tokens = c.world.response_length + 1
    d = {"inverse": _distance(laws[i], after_i, laws[j], tokens),  # target theta_i
         "forward": _distance(laws[j], after_f, laws[i], tokens)}  # target theta_j
    return {"pair": [i, j], **{f"{side}_{k}": v for side, got in d.items() for k, v in got.items()}}


def _sft_copies(c: ResistConfig, models: list, datasets: list, lr: float, epochs: int, seeds: list[int]) -> list:
    """A copy of each model fine-tuned on its data (``epochs`` passes, in order), with the
    config's trainer."""
    out = [copy.deepcopy(m) for m in models]
    runs = []
    for model, tokens, seed in zip(out, datasets, seeds, strict=True):
        data = np.concatenate([tokens] * epochs)
        runs.append(together.Run(model, data, (len(data),), together.unmeasured, lr, c.batch_size, seed,
                                 c.world.response_start))
    together.trajectories_by(c.trainer, runs)
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
