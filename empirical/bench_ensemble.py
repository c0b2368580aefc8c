"""Side-by-side timing of the ensemble trainer against the per-model loop (one run, one thread).

Both train the same E members (model seed ``seed + e``, data-order seed ``seed + e``, the
default world's D_pre, `empirical.trajectory.pretrain`'s settings: AdamW with torch's defaults,
the pre-training preset's batch 128 and learning rate 5e-3 decayed linearly to 0) for N steps:
the loop one HF model after another through `trajectory.pretrain`, the ensemble in one
batched step, once as the experiments run it (each distinct prefix of a member's rows computed
once, `empirical.prefix_tree`) and once at every row's every position (what batching members
alone gives). Each side is timed best of ``repeats``, the sides interleaved (the machine may be
shared), including its data order and set-up; the parameters are then compared with the loop's.

What bounds the ratio: the FLOPs of a model-step (the model's matmuls, forward and backward)
over the CPU's own single-thread float32 matmul rate, measured in the same run on a large
square matmul, give the time no trainer can beat; ``floor_ratio`` is the loop's time over that
floor, the ratio a trainer that ran every matmul at the CPU's peak and nothing else would reach.
Both rates count the same nominal work, a full forward and backward of every position; the
ensemble skips what the loss never reads (`ensemble.response_logits`: the last token, and the
last layer's queries, MLP and head before the first response position) and computes a shared
prefix once, so its rate is an effective one (it may exceed the peak).
"""

import copy
import time

import torch

from empirical import ensemble as ens
from empirical import prefix_tree, trajectory
from empirical.models import build_model
from empirical.world import World, WorldConfig
from harness.configs import PretrainConfig

__all__ = ["bench_ensemble"]


def _best_seconds(fns, repeats: int) -> tuple[list[float], list]:
    """Best wall time in seconds of each of ``fns`` over ``repeats`` rounds, the calls
    interleaved (a, b, a, b, ...) so that both see the same load on a shared machine; and
    each one's last result."""
    best, out = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            out[i] = fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best, out


def model_flops_per_step(shape, rows: int, length: int) -> float:
    """Matmul FLOPs of one model's training step (forward and backward, 3x the forward) on
    ``rows`` sequences of ``length`` tokens: per token and layer the q, k, v, o projections
    (4 H^2), the MLP (3 H I) and attention scores and mixing (2 T H), then the output head (H V)."""
    h, i, t = shape.hidden, shape.intermediate, length
    per_token = shape.layers * (4 * h * h + 3 * h * i + 2 * t * h) + h * shape.vocab
    return 3 * 2 * per_token * rows * length


def matmul_peak_gflops(size: int = 1024, repeats: int = 5) -> float:
    """This CPU's single-thread float32 matmul rate (GFLOP/s) on ``size``-square matrices, best of
    ``repeats``: the rate no small-matrix step reaches."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def _param_diffs(state: ens.EnsembleState, models) -> tuple[float, float]:
    """Largest over members and parameter tensors of ||a - b|| / ||b|| and of max|a - b| / max|b|."""
    trees = ens.members_as_trees(state)
    norm, entry = 0.0, 0.0
    for e, model in enumerate(models):
        for name, p in model.named_parameters():
            a, b = trees[e][name], p.detach()
            norm = max(norm, float((a - b).norm() / b.norm()))
            entry = max(entry, float((a - b).abs().max() / b.abs().max()))
    return norm, entry


def _distinct_prefix_fraction(per_member) -> float:
    """Distinct prefixes of a batch's forward inputs (every token but the last) over its positions,
    mean over every member's batches: the share of the work prefix sharing keeps."""
    fractions = [int(prefix_tree.build(b.tokens[None, :, :-1]).distinct[0]) / b.tokens[:, :-1].numel()
                 for batches in per_member for b in batches]
    return sum(fractions) / len(fractions)


def bench_ensemble(members: int = 48, steps: int = 20, seed: int = 0, *, size: str = "tiny", repeats: int = 3,
                   batch_size: int | None = None) -> dict:
    """Train ``members`` models ``steps`` steps as a loop and as one ensemble; returns members,
    steps, loop_seconds, ensemble_seconds (best of ``repeats``), ratio (loop time per model-step
    over the ensemble's), max_rel_param_diff (per tensor, norm-relative: the equivalence tests'
    metric), max_rel_entry_diff (largest entry over the tensor's largest), ensemble_every_row_seconds,
    ratio_every_row and max_rel_param_diff_every_row (the ensemble computing every row's every
    position, `EnsembleState.share_prefixes` off), distinct_prefix_fraction (distinct prefixes over
    the positions a forward reads, mean over member-steps) and the settings."""
    if members < 1 or steps < 1 or repeats < 1:
        raise ValueError(f"members, steps and repeats must be >= 1, got {members}, {steps}, {repeats}")
    preset = PretrainConfig()
    batch = preset.batch if batch_size is None else batch_size
    torch.set_num_threads(1)
    world = World(WorldConfig(), seed=seed)
    tokens, loss_from = world.datasets()["pre"].tokens, world.config.response_start
    starts = [build_model(world.config.vocab_size, world.config.sequence_length, size, seed=seed + e)
              for e in range(members)]

    def loop():
        models = [copy.deepcopy(m) for m in starts]
        for e, m in enumerate(models):
            trajectory.pretrain(m, tokens, steps=steps, batch_size=batch, lr=preset.lr, seed=seed + e,
                                loss_from=loss_from)
        return models

    def ensemble(share_prefixes=True):
        state = ens.EnsembleState.from_models(starts)
        state.share_prefixes = share_prefixes
        schedule = ens.member_schedule([ens.pretrain_batches(tokens, steps=steps, batch_size=batch, seed=seed + e)
                                        for e in range(members)])
        lr, total = torch.full((members,), preset.lr, dtype=torch.float64), torch.full((members,), steps)
        ens.fit(state, schedule, (ens.ResponseCE(),), ens.AdamW.for_members(members),
                lambda s: ens.linear_decay(lr, total, s), loss_from=loss_from)
        return state

    (loop_seconds, ensemble_seconds, every_row_seconds), (models, state, every_row) = _best_seconds(
        (loop, ensemble, lambda: ensemble(share_prefixes=False)), repeats)
    every_row_norm, _ = _param_diffs(every_row, models)
    fraction = _distinct_prefix_fraction([ens.pretrain_batches(tokens, steps=steps, batch_size=batch, seed=seed + e)
                                          for e in range(members)])
    norm, entry = _param_diffs(state, models)
    peak = matmul_peak_gflops()
    gflop = members * steps * model_flops_per_step(state.shape, batch, world.config.sequence_length) / 1e9
    return {"members": members, "steps": steps, "seed": seed, "size": size, "batch_size": batch, "lr": preset.lr,
            "repeats": repeats, "threads": torch.get_num_threads(), "loop_seconds": loop_seconds,
            "ensemble_seconds": ensemble_seconds, "ratio": loop_seconds / ensemble_seconds,
            "ensemble_every_row_seconds": every_row_seconds, "ratio_every_row": loop_seconds / every_row_seconds,
            "max_rel_param_diff_every_row": every_row_norm, "distinct_prefix_fraction": fraction,
            "max_rel_param_diff": norm, "max_rel_entry_diff": entry, "model_gflop": gflop,
            "matmul_peak_gflops": peak, "loop_gflops": gflop / loop_seconds,
            "ensemble_gflops": gflop / ensemble_seconds, "floor_ratio": loop_seconds / (gflop / peak)}
