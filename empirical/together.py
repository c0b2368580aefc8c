"""The per-model stages of `empirical.trajectory` run for several models at once through the
ensemble trainer (`empirical.ensemble`): the same data order, schedule and optimizer settings,
one batched step for every model.

Each function takes HF models of one architecture, trains them in place and returns what its
per-model twin returns, one entry per model; its twin is the reference it is tested against
(`tests/test_together.py`: parameters within 1e-4 relative after the stage in float32). The
results do not depend on how many models train together: a model's numbers are the same alone
or among 24 (tested bit for bit on this project's CPUs; `bmm` runs each member's matmul on its
own), so an experiment may group its cells as it likes.
"""

from collections.abc import Sequence

import numpy as np
import torch

from empirical import ensemble as ens
from empirical.llama_fn import load_into_hf

__all__ = ["pretrain", "groups", "GROUP_SIZE"]

# Cells an experiment pre-trains in one ensemble: enough members for the batched step to pay
# (the CPU runs them in groups of about 8 at batch 128, `empirical.ensemble`), few enough that a
# crash loses little and that two worker processes each get several groups of a 144-cell run.
# A cell's numbers do not depend on it (see above).
GROUP_SIZE = 24

LOSS_EVERY = 50  # `trajectory.pretrain` records the loss of every 50th step and of the last


def pretrain(models: Sequence, datasets: Sequence[np.ndarray], *, steps: Sequence[int], batch_size: int, lr: float,
             seeds: Sequence[int], loss_from: int = 1) -> list[list[float]]:
    """`trajectory.pretrain` for each model (its own dataset, number of steps and seed) in one
    ensemble: AdamW with torch's defaults (weight decay 0.01, no clipping), lr decayed linearly
    to 0 over each model's own steps; a model with fewer steps stops (masked) while the others
    go on. Returns each model's loss at every 50th step and at its last (nats)."""
    count = len(models)
    if not count or len(datasets) != count or len(steps) != count or len(seeds) != count:
        raise ValueError(f"need one dataset, step count and seed per model, got {count} models, {len(datasets)} "
                         f"datasets, {len(steps)} step counts, {len(seeds)} seeds")
    if not (np.isfinite(lr) and lr > 0) or batch_size < 1 or min(steps) < 1:
        raise ValueError(f"need lr > 0, batch_size >= 1 and steps >= 1, got {lr}, {batch_size}, {min(steps)}")
    torch.set_num_threads(1)
    state = ens.EnsembleState.from_models(models, dtype=next(models[0].parameters()).dtype)
    schedule = ens.member_schedule([ens.pretrain_batches(d, steps=n, batch_size=batch_size, seed=s)
                                    for d, n, s in zip(datasets, steps, seeds, strict=True)])
    lr_column = torch.full((count,), lr, dtype=torch.float64)
    total = torch.tensor(list(steps))
    losses = ens.fit(state, schedule, (ens.ResponseCE(),), ens.AdamW.for_members(count),
                     lambda s: ens.linear_decay(lr_column, total, s), loss_from=loss_from)
    for model, member in zip(models, ens.members_as_trees(state), strict=True):
        load_into_hf(member, model).eval()
    return [[float(losses[s, e]) for s in range(n) if s % LOSS_EVERY == 0 or s == n - 1]
            for e, n in enumerate(steps)]


def groups(keys: list[str], batched: bool) -> list[list[str]]:
    """An engine protocol's groups (`harness.engine`): GROUP_SIZE cells at a time when they
    pre-train together, else one by one."""
    size = GROUP_SIZE if batched else 1
    return [keys[i:i + size] for i in range(0, len(keys), size)]
