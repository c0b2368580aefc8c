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

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirical import ensemble as ens
from empirical import trajectory
from empirical.llama_fn import load_into_hf, params_from_hf, stack_params
from empirical.measure import Enumerated
from harness.configs import TRAINERS

__all__ = ["pretrain", "pretrain_by", "Run", "trajectories", "trajectories_by", "fixed_steps", "fixed_steps_by",
           "unmeasured", "groups", "GROUP_SIZE"]

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


def pretrain_by(trainer: str, models: Sequence, datasets: Sequence[np.ndarray], *, steps: Sequence[int],
                batch_size: int, lr: float, seeds: Sequence[int]) -> list[list[float]]:
    """Pre-train each model on its dataset with a config's ``trainer``: "ensemble" (`pretrain`,
    together) or "loop" (`trajectory.pretrain`, one after another, the reference)."""
    if trainer == "ensemble":
        return pretrain(models, datasets, steps=steps, batch_size=batch_size, lr=lr, seeds=seeds)
    _check_trainer(trainer)
    return [trajectory.pretrain(m, d, steps=n, batch_size=batch_size, lr=lr, seed=s)
            for m, d, n, s in zip(models, datasets, steps, seeds, strict=True)]


def unmeasured(model) -> dict:
    """A run's measure when its points record nothing but the norms (a stage that only trains)."""
    return {}


@dataclass(frozen=True)
class Run:
    """One trajectory: the arguments `trajectory.trajectory` takes for one model: SFT (its terms
    at most one `Spring` and one `OutputAnchor`, and its replay) or DPO."""

    model: object
    tokens: np.ndarray
    checkpoints: tuple[int, ...]
    measure: Callable
    lr: float
    batch_size: int
    seed: int
    loss_from: int
    objective: trajectory.SFT | trajectory.DPO = trajectory.SFT()
    on_checkpoint: Callable | None = None


def trajectories(runs: Sequence[Run]) -> list[list[dict]]:
    """`trajectory.trajectory` for each run, the models trained together (constant learning
    rate per run, AdamW with torch's defaults): each model ends trained in place, and each run
    gets the same points, ``{"q": 0, ...}`` then one per checkpoint, measured on its model
    (``measure``, ``on_checkpoint``) with its parameter norm, relative update and mean training
    loss since the previous point. Runs may differ in data, checkpoints, batch size, learning
    rate and objective terms; a run whose checkpoints end earlier stops (masked). Runs trained
    together are all SFT or all DPO (one loss per step)."""
    if not runs:
        return []
    _check_runs(runs)
    if len({type(r.objective) for r in runs}) > 1:
        raise ValueError("runs trained together need one kind of objective (all SFT or all DPO)")
    torch.set_num_threads(1)
    state = ens.EnsembleState.from_models([r.model for r in runs], dtype=next(runs[0].model.parameters()).dtype)
    start = state.flat.clone()
    per_member = [_batches(r) for r in runs]
    terms = _terms(runs, state)
    opt, lr = ens.AdamW.for_members(len(runs)), torch.tensor([r.lr for r in runs], dtype=torch.float64)
    seen, losses = [0] * len(runs), [[] for _ in runs]
    measured = _measure(state, runs, range(len(runs)))
    points = [[_point(state, start, e, r, 0, losses[e], measured[e])] for e, r in enumerate(runs)]
    for member_batches in ens.member_schedule(per_member):
        step_losses = ens.train_step(state, ens.collate(member_batches, device=state.flat.device), terms, opt, lr,
                                     loss_from=runs[0].loss_from)
        hits = []
        for e, b in enumerate(member_batches):
            if b is None:
                continue
            losses[e].append(float(step_losses[e]))
            seen[e] += b.own
            if seen[e] in runs[e].checkpoints:
                hits.append(e)
        measured = _measure(state, runs, hits)
        for e in hits:
            points[e].append(_point(state, start, e, runs[e], seen[e], losses[e], measured[e]))
    for r, member in zip(runs, ens.members_as_trees(state), strict=True):
        load_into_hf(member, r.model).eval()
    return points


def trajectories_by(trainer: str, runs: Sequence[Run]) -> list[list[dict]]:
    """The runs' trajectories with a config's ``trainer``: "ensemble" (`trajectories`, together)
    or "loop" (`trajectory.trajectory`, one after another, the reference)."""
    if trainer == "ensemble":
        return trajectories(runs)
    _check_trainer(trainer)
    return [trajectory.trajectory(r.model, r.tokens, r.checkpoints, r.measure, lr=r.lr, batch_size=r.batch_size,
                                  seed=r.seed, loss_from=r.loss_from, objective=r.objective,
                                  on_checkpoint=r.on_checkpoint) for r in runs]


def fixed_steps(runs: Sequence[Run], steps: int) -> list[list[dict]]:
    """`trajectory.fixed_steps` for each run, every (run, checkpoint Q) a member of one ensemble:
    a copy of the run's model trained ``steps`` steps (constant lr, AdamW with torch's defaults)
    on batches drawn with replacement from its first Q examples by the run's seeded generator,
    then measured. The models are left unchanged; SFT without terms or replay only (as the loop)."""
    if not runs:
        return []
    _check_fixed(runs, steps)
    torch.set_num_threads(1)
    points = [[{"q": 0, **r.measure(r.model), "param_norm": float(trajectory._vector(r.model).norm()),
                "relative_update": 0.0}] for r in runs]
    # a member measured on an HF model gets a copy of its run's (the run's own stays unchanged)
    members = [(dataclasses.replace(r, model=copy.deepcopy(r.model)), q) for r in runs for q in r.checkpoints]
    state = ens.EnsembleState.from_models([r.model for r, _ in members], dtype=next(runs[0].model.parameters()).dtype)
    start = state.flat.clone()
    schedule = ens.member_schedule([_drawn_batches(r.tokens, q, steps, r.batch_size, r.seed) for r, q in members])
    lr = torch.tensor([r.lr for r, _ in members], dtype=torch.float64)
    ens.fit(state, schedule, (ens.ResponseCE(),), ens.AdamW.for_members(len(members)), lambda s: lr,
            loss_from=runs[0].loss_from)
    measured = _measure(state, [r for r, _ in members], range(len(members)))
    e = 0
    for r, own in zip(runs, points, strict=True):
        for q in r.checkpoints:
            now = state.flat[e].detach()
            own.append({"q": q, **measured[e], "param_norm": float(now.norm()),
                        "relative_update": float((now - start[e]).norm() / start[e].norm())})
            e += 1
    return points


def fixed_steps_by(trainer: str, runs: Sequence[Run], steps: int) -> list[list[dict]]:
    """`fixed_steps` with a config's ``trainer`` ("loop": `trajectory.fixed_steps` per run)."""
    if trainer == "ensemble":
        return fixed_steps(runs, steps)
    _check_trainer(trainer)
    _check_fixed(runs, steps)  # the loop would ignore an objective it does not train
    return [trajectory.fixed_steps(r.model, r.tokens, r.checkpoints, r.measure, steps=steps, lr=r.lr,
                                   batch_size=r.batch_size, seed=r.seed, loss_from=r.loss_from) for r in runs]


def _check_fixed(runs: Sequence[Run], steps: int) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    _check_runs(runs)
    if any(not isinstance(r.objective, trajectory.SFT) or r.objective.terms or r.objective.replay for r in runs):
        raise ValueError("fixed steps train plain SFT (no terms, no replay, no DPO)")


def _drawn_batches(tokens: np.ndarray, q: int, steps: int, batch_size: int, seed: int) -> list[ens.MemberBatch]:
    """The batches `trajectory.fixed_steps` draws for checkpoint q: a fresh generator per q."""
    data = torch.from_numpy(np.asarray(tokens[:q], dtype=np.int64))
    generator = torch.Generator().manual_seed(seed)
    return [ens.MemberBatch(data[torch.randint(0, q, (batch_size,), generator=generator)], batch_size)
            for _ in range(steps)]


def _check_trainer(trainer: str) -> None:
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {', '.join(TRAINERS)}, got {trainer!r}")


def _check_runs(runs: Sequence[Run]) -> None:
    """Each run's own arguments, and the one response start that runs trained together share."""
    for r in runs:
        _check_run(r)
    if len({r.loss_from for r in runs}) > 1:
        raise ValueError("runs trained together need one loss_from (the response's first position)")


def _check_run(r: Run) -> None:
    trajectory._check(r.lr, r.batch_size)
    q = sorted(r.checkpoints)
    if not q or q[0] < 1 or q[-1] > len(r.tokens) or list(r.checkpoints) != q:
        raise ValueError(f"checkpoints must be sorted and lie in [1, {len(r.tokens)}] (the stage's examples), "
                         f"got {list(r.checkpoints)[:3]}...")
    if isinstance(r.objective, trajectory.DPO):
        rejected = np.asarray(r.objective.rejected)
        if len(rejected) < q[-1] or rejected.shape[1:] != np.asarray(r.tokens).shape[1:]:
            raise ValueError(f"DPO needs {q[-1]} rejected rows of the chosen rows' length "
                             f"{np.asarray(r.tokens).shape[1:]}, got {rejected.shape}")
        return
    if not isinstance(r.objective, trajectory.SFT):
        raise ValueError(f"an objective must be trajectory.SFT or trajectory.DPO, got {type(r.objective).__name__}")
    kinds = [type(t) for t in r.objective.terms]
    if any(k not in (trajectory.Spring, trajectory.OutputAnchor) for k in kinds) or len(set(kinds)) < len(kinds):
        raise ValueError("a run's terms may be one Spring and one OutputAnchor")


def _batches(r: Run) -> list[ens.MemberBatch]:
    """The batches `trajectory.trajectory` trains run ``r`` on (its replay, or DPO's rejected rows)."""
    o = r.objective
    if isinstance(o, trajectory.DPO):
        return ens.trajectory_batches(r.tokens, r.checkpoints, batch_size=r.batch_size, seed=r.seed,
                                      rejected=o.rejected)
    return ens.trajectory_batches(r.tokens, r.checkpoints, batch_size=r.batch_size, seed=r.seed,
                                  replay=o.replay.pool if o.replay else None,
                                  replay_fraction=o.replay.replay_fraction if o.replay else 0.0)


def _term(run: Run, kind):
    return next((t for t in run.objective.terms if isinstance(t, kind)), None)


def _terms(runs: Sequence[Run], state: ens.EnsembleState) -> tuple:
    """DPO against the models as they entered the stage; or cross-entropy, plus a spring and an
    output anchor per member where any run has one (a member without gets weight 0: exactly no
    contribution)."""
    if isinstance(runs[0].objective, trajectory.DPO):
        reference = {n: p.detach().clone() for n, p in state.params().items()}
        return (ens.DPO(reference, torch.tensor([r.objective.dpo_beta for r in runs])),)
    terms = [ens.ResponseCE()]
    springs = [_term(r, trajectory.Spring) for r in runs]
    if any(springs):
        reference = torch.stack([torch.cat([p.reshape(-1) for p in t.anchor_params]) if t else state.flat[e]
                                 for e, t in enumerate(springs)]).to(state.flat)
        terms.append(ens.Spring(reference, torch.tensor([t.spring if t else 0.0 for t in springs])))
    anchors = [_term(r, trajectory.OutputAnchor) for r in runs]
    if any(anchors):
        trees = [params_from_hf(t.anchor) if t else params_from_hf(r.model) for r, t in zip(runs, anchors,
                                                                                             strict=True)]
        terms.append(ens.OutputAnchor(stack_params(trees), torch.tensor([t.anchor_beta if t else 0.0
                                                                         for t in anchors])))
    return tuple(terms)


# Sequences scored in one batched forward when members are measured together: the logits of
# this many sequences (x length x vocab, float64) stay within tens of MB.
MEASURE_SEQUENCES = 1 << 16


@torch.no_grad()
def _measure(state: ens.EnsembleState, runs: Sequence[Run], members) -> dict[int, dict]:
    """The measurements of ``members`` now: those whose measure enumerates fixed sequences
    (`measure.Enumerated`) scored in batched forwards of the ensemble's weights, log-probabilities
    in float64 as `measure.response_log_probs` takes them; any other measure on its HF model."""
    out, params = {}, state.params()
    enumerated = [e for e in members if isinstance(runs[e].measure, Enumerated)]

    def kind(e):  # members scored in one forward: the same sequences' shape and response start
        return tuple(runs[e].measure.sequences.shape), runs[e].measure.start

    for shape, start in sorted({kind(e) for e in enumerated}):
        same = [e for e in enumerated if kind(e) == (shape, start)]
        chunk = max(1, MEASURE_SEQUENCES // shape[0])
        for part in (same[i:i + chunk] for i in range(0, len(same), chunk)):
            index = torch.tensor(part, device=state.flat.device)
            tree = {n: p.detach()[index] for n, p in params.items()}
            ids = torch.stack([runs[e].measure.sequences for e in part]).to(state.flat.device)
            logits = ens.response_logits(tree, ids, state.shape, start, shared=state.share_prefixes)
            logits = logits.double()  # sums of many log-probs
            token_lp = torch.log_softmax(logits, -1).gather(-1, ids[:, :, start:, None])[..., 0]
            out.update({e: runs[e].measure.from_token_log_probs(token_lp[i]) for i, e in enumerate(part)})
    for e in members:
        if e not in out:
            out[e] = runs[e].measure(_member_model(state, e, runs[e]))
    return out


def _member_model(state: ens.EnsembleState, e: int, run: Run):
    """Run e's HF model holding member e's weights now."""
    return load_into_hf({n: p[e].detach() for n, p in state.params().items()}, run.model).eval()


def _point(state: ens.EnsembleState, start: torch.Tensor, e: int, run: Run, q: int, losses: list[float],
           measured: dict) -> dict:
    """Member e's point at q, as `trajectory.trajectory` records it (``measured``: its measurement now)."""
    now = state.flat[e].detach()
    out = {"q": q, **measured, "param_norm": float(now.norm()),
           "relative_update": float((now - start[e]).norm() / start[e].norm()),
           "train_loss_nats": float(np.mean(losses)) if losses else None}
    losses.clear()
    if run.on_checkpoint is not None:
        run.on_checkpoint(q, _member_model(state, e, run), out)
    return out


def groups(keys: list[str], batched: bool) -> list[list[str]]:
    """An engine protocol's groups (`harness.engine`): GROUP_SIZE cells at a time when they
    train together, else one by one."""
    size = GROUP_SIZE if batched else 1
    return [keys[i:i + size] for i in range(0, len(keys), size)]
