"""Training measured along one optimization path: a plain AdamW loop on token arrays (the
synthetic world), constant learning rate, with measurements at checkpoints of examples seen.

- ``pretrain``: a fixed number of steps over a dataset (seeded epochs of permutations, so a
  dataset smaller than steps x batch is seen several times), learning rate decayed linearly to
  zero; the same seed gives the same initialization and, for datasets of one size, the same
  order (the counterfactual arms differ only in their data);
- ``trajectory``: one pass over a stage's examples in order; ``checkpoints`` are numbers of
  stage examples seen (Q1 or Q2), hit exactly (a batch is cut at a checkpoint), so a curve's
  points are prefixes of one path, monotone in data. The objective is composed, not flagged:
  ``SFT(terms=(...), replay=...)`` with a weight-space ``Spring`` (spring * ||theta -
  theta_anchor||^2), an ``OutputAnchor`` (anchor_beta * KL(model || anchor) per response token of
  the stage's own examples: it pulls predictions, not weights, from the first step) and
  ``Replay`` (a share ``replay_fraction`` of each batch drawn from a pool, e.g. D_pre and the
  alignment set); or ``DPO(rejected, dpo_beta)``, its own loss, which takes neither;
- ``fixed_steps``: the alternative design: for each Q, a fresh copy trained a fixed number of
  steps on batches drawn with replacement from the first Q examples (Q sets the data, not the
  number of updates).

Each point records the measurement, the parameter norm, the relative size of the update since
the stage began, ||theta - theta_start|| / ||theta_start||, and the mean training loss of the
steps since the previous point (nats per token; with a spring, the penalty included). One
torch thread.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch


def _vector(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _loss(model, batch: torch.Tensor, loss_from: int, terms=(), rows: int = 0):
    """Mean cross-entropy of the response tokens, plus each term of the objective (``rows``: the
    stage's own examples at the top of the batch; replayed rows follow them)."""
    logits = model(input_ids=batch).logits[:, loss_from - 1:-1]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, loss_from:].flatten())
    for term in terms:
        loss = loss + term(model, logits[:rows], batch[:rows], loss_from)
    return loss


@dataclass(frozen=True)
class Spring:
    """A weight-space spring: ``spring`` * ||theta - theta_anchor||^2."""

    anchor_params: tuple
    spring: float

    @classmethod
    def to(cls, anchor, spring: float) -> "Spring":
        return cls(tuple(p.detach().clone() for p in anchor.parameters()), spring)

    def __call__(self, model, logits, batch, loss_from) -> torch.Tensor:
        return self.spring * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), self.anchor_params,
                                                                       strict=True))


@dataclass(frozen=True)
class OutputAnchor:
    """An output-space anchor: ``anchor_beta`` * the mean per-token KL(model || anchor) over the
    stage's own examples. It pulls the model's predictions, not its weights, from the first step."""

    anchor: torch.nn.Module
    anchor_beta: float

    def __call__(self, model, logits, batch, loss_from) -> torch.Tensor:
        self.anchor.eval()
        with torch.no_grad():
            reference = torch.log_softmax(self.anchor(input_ids=batch).logits[:, loss_from - 1:-1], -1)
        log_q = torch.log_softmax(logits, -1)
        return self.anchor_beta * (log_q.exp() * (log_q - reference)).sum(-1).mean()


@dataclass(frozen=True)
class Replay:
    """Each batch also holds examples drawn from ``pool``, so that a share ``replay_fraction`` of
    the examples trained on are replayed."""

    pool: np.ndarray
    replay_fraction: float

    def __post_init__(self):
        if len(self.pool) == 0 or not 0 <= self.replay_fraction < 1:
            raise ValueError(f"replay needs a non-empty pool and 0 <= replay_fraction < 1, got {len(self.pool)} "
                             f"rows and {self.replay_fraction}")


@dataclass(frozen=True)
class SFT:
    """Supervised fine-tuning: cross-entropy plus ``terms`` (springs, output anchors), with optional replay."""

    terms: tuple = ()
    replay: Replay | None = None


@dataclass(frozen=True)
class DPO:
    """DPO against the model as it enters the stage; ``rejected`` rows pair with the stage's
    (chosen) rows. Its own loss: no terms and no replay (replay would break the pairs)."""

    rejected: np.ndarray
    dpo_beta: float


def _sequence_log_probs(model, batch: torch.Tensor, loss_from: int) -> torch.Tensor:
    """Sum over positions >= loss_from of log q(token | prefix), one number per row."""
    logits = model(input_ids=batch).logits[:, loss_from - 1:-1]
    return torch.log_softmax(logits, -1).gather(-1, batch[:, loss_from:, None])[..., 0].sum(-1)


def _dpo_loss(model, reference, chosen, rejected, loss_from: int, dpo_beta: float) -> torch.Tensor:
    """DPO: -log sigmoid(beta [(log pi(c) - log ref(c)) - (log pi(r) - log ref(r))]), mean."""
    with torch.no_grad():
        ref_c, ref_r = (_sequence_log_probs(reference, x, loss_from) for x in (chosen, rejected))
    margin = (_sequence_log_probs(model, chosen, loss_from) - ref_c) - (_sequence_log_probs(model, rejected,
                                                                                            loss_from) - ref_r)
    return -torch.nn.functional.logsigmoid(dpo_beta * margin).mean()


def _check(lr: float, batch_size: int) -> None:
    if not (math.isfinite(lr) and lr > 0) or batch_size < 1:
        raise ValueError(f"need a finite learning rate > 0 and batch_size >= 1, got {lr}, {batch_size}")


def pretrain(model, tokens: np.ndarray, *, steps: int, batch_size: int, lr: float, seed: int,
             loss_from: int = 1) -> list[float]:
    """``steps`` AdamW steps, linear decay to 0; returns the loss of every 50th step (nats)."""
    _check(lr, batch_size)
    torch.set_num_threads(1)
    data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    generator = torch.Generator().manual_seed(seed)
    epochs = math.ceil(steps * batch_size / data.shape[0])
    order = torch.cat([torch.randperm(data.shape[0], generator=generator) for _ in range(epochs)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0 - i / steps)
    model.train()
    losses = []
    for step in range(steps):
        loss = _loss(model, data[order[step * batch_size:(step + 1) * batch_size]], loss_from)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            losses.append(loss.item())
    model.eval()
    return losses


def trajectory(model, tokens: np.ndarray, checkpoints, measure, *, lr: float, batch_size: int, seed: int,
               loss_from: int, objective: SFT | DPO = SFT(), on_checkpoint=None) -> list[dict]:
    """Train ``model`` in place on ``tokens`` in order (one pass up to the last checkpoint) and
    return ``{"q": 0, ...}`` then one point per checkpoint: ``measure(model)`` plus the norms.
    The ``objective`` is SFT (with its terms and replay) or DPO (``tokens`` chosen).
    ``on_checkpoint(q, model, point)`` may keep a copy of the model at a point."""
    checkpoints = sorted(int(q) for q in checkpoints)
    _check(lr, batch_size)
    if not checkpoints or checkpoints[0] < 1 or checkpoints[-1] > len(tokens):
        raise ValueError(f"checkpoints must lie in [1, {len(tokens)}] (the stage's examples), got "
                         f"{checkpoints[:1]}..{checkpoints[-1:]}")
    dpo = isinstance(objective, DPO)
    if dpo and len(objective.rejected) < checkpoints[-1]:
        raise ValueError(f"DPO needs {checkpoints[-1]} rejected rows, got {len(objective.rejected)}")
    torch.set_num_threads(1)
    data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    replay = None if dpo else objective.replay
    pool = torch.from_numpy(np.asarray(replay.pool, dtype=np.int64)) if replay else None
    generator = torch.Generator().manual_seed(seed)
    start = _vector(model)
    worse = torch.from_numpy(np.asarray(objective.rejected, dtype=np.int64)) if dpo else None
    reference = copy.deepcopy(model).eval() if dpo else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)  # constant: points share one path

    losses: list[float] = []  # training losses since the last checkpoint

    def point(q: int) -> dict:
        model.eval()
        now = _vector(model)
        out = {"q": q, **measure(model), "param_norm": float(now.norm()),
               "relative_update": float((now - start).norm() / start.norm()),
               "train_loss_nats": float(np.mean(losses)) if losses else None}
        losses.clear()
        if on_checkpoint is not None:
            on_checkpoint(q, model, out)
        return out

    points, seen = [point(0)], 0
    for target in checkpoints:
        while seen < target:
            take = min(batch_size, target - seen)
            batch = data[seen:seen + take]
            if pool is not None:
                extra = round(take * replay.replay_fraction / (1.0 - replay.replay_fraction))
                batch = torch.cat([batch, pool[torch.randint(0, len(pool), (extra,), generator=generator)]])
            model.train()
            if dpo:
                loss = _dpo_loss(model, reference, batch, worse[seen:seen + take], loss_from, objective.dpo_beta)
            else:
                loss = _loss(model, batch, loss_from, objective.terms, take)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            seen += take
        points.append(point(target))
    return points


def fixed_steps(model, tokens: np.ndarray, checkpoints, measure, *, steps: int, lr: float, batch_size: int,
                seed: int, loss_from: int) -> list[dict]:
    """For each Q: a copy of ``model`` trained ``steps`` steps on batches drawn with replacement
    from ``tokens[:Q]``, then measured. The model itself is left unchanged."""
    _check(lr, batch_size)
    torch.set_num_threads(1)
    start = _vector(model)
    points = [{"q": 0, **measure(model), "param_norm": float(start.norm()), "relative_update": 0.0}]
    for q in sorted(int(c) for c in checkpoints):
        if not 1 <= q <= len(tokens):
            raise ValueError(f"checkpoint {q} outside [1, {len(tokens)}]")
        copy_ = copy.deepcopy(model)
        data = torch.from_numpy(np.asarray(tokens[:q], dtype=np.int64))
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(copy_.parameters(), lr=lr)
        copy_.train()
        for _ in range(steps):
            loss = _loss(copy_, data[torch.randint(0, q, (batch_size,), generator=generator)], loss_from)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        copy_.eval()
        now = _vector(copy_)
        points.append({"q": q, **measure(copy_), "param_norm": float(now.norm()),
                       "relative_update": float((now - start).norm() / start.norm())})
    return points
