"""Training measured along one optimization path: a plain AdamW loop on token arrays (the
synthetic world), constant learning rate, with measurements at checkpoints of examples seen.

- ``pretrain``: a fixed number of steps over a dataset (seeded epochs of permutations, so a
  dataset smaller than steps x batch is seen several times), learning rate decayed linearly to
  zero; the same seed gives the same initialization and, for datasets of one size, the same
  order (the counterfactual arms differ only in their data);
- ``trajectory``: one pass over a stage's examples in order; ``checkpoints`` are numbers of
  stage examples seen (Q1 or Q2), hit exactly (a batch is cut at a checkpoint), so a curve's
  points are prefixes of one path, monotone in data. Options: an L2 **spring** to anchor
  weights (lambda * ||theta - theta_anchor||^2 added to the loss), an **output-space anchor**
  (beta * KL(model || anchor) per response token of the stage's own examples, added to the loss:
  it pulls the model's predictions, not its weights, towards the anchor's from the first step),
  and **replay** (each batch
  also holds examples drawn from a pool, e.g. D_pre and the alignment set, so that a fraction
  ``replay_fraction`` of the examples trained on are replayed);
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

import numpy as np
import torch


def _vector(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _loss(model, batch: torch.Tensor, loss_from: int, anchor=None, beta: float = 0.0, rows: int = 0):
    """Mean cross-entropy of the response tokens; with ``beta`` > 0, plus beta times the mean
    per-token KL(model || anchor) over the first ``rows`` rows (the stage's own examples)."""
    logits = model(input_ids=batch).logits[:, loss_from - 1:-1]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, loss_from:].flatten())
    if beta > 0:
        with torch.no_grad():
            reference = torch.log_softmax(anchor(input_ids=batch[:rows]).logits[:, loss_from - 1:-1], -1)
        log_q = torch.log_softmax(logits[:rows], -1)
        loss = loss + beta * (log_q.exp() * (log_q - reference)).sum(-1).mean()
    return loss


def _sequence_log_probs(model, batch: torch.Tensor, loss_from: int) -> torch.Tensor:
    """Sum over positions >= loss_from of log q(token | prefix), one number per row."""
    logits = model(input_ids=batch).logits[:, loss_from - 1:-1]
    return torch.log_softmax(logits, -1).gather(-1, batch[:, loss_from:, None])[..., 0].sum(-1)


def _dpo_loss(model, reference, chosen, rejected, loss_from: int, beta: float) -> torch.Tensor:
    """DPO: -log sigmoid(beta [(log pi(c) - log ref(c)) - (log pi(r) - log ref(r))]), mean."""
    with torch.no_grad():
        ref_c, ref_r = (_sequence_log_probs(reference, x, loss_from) for x in (chosen, rejected))
    margin = (_sequence_log_probs(model, chosen, loss_from) - ref_c) - (_sequence_log_probs(model, rejected,
                                                                                            loss_from) - ref_r)
    return -torch.nn.functional.logsigmoid(beta * margin).mean()


def _check(lr: float, batch_size: int, spring: float, replay_fraction: float, kl_to_anchor: float = 0.0) -> None:
    if not (math.isfinite(lr) and lr > 0) or batch_size < 1:
        raise ValueError(f"need a finite learning rate > 0 and batch_size >= 1, got {lr}, {batch_size}")
    if not (math.isfinite(spring) and spring >= 0) or not 0 <= replay_fraction < 1:
        raise ValueError(f"need spring >= 0 and 0 <= replay_fraction < 1, got {spring}, {replay_fraction}")
    if not (math.isfinite(kl_to_anchor) and kl_to_anchor >= 0):
        raise ValueError(f"need kl_to_anchor >= 0, got {kl_to_anchor}")


def pretrain(model, tokens: np.ndarray, *, steps: int, batch_size: int, lr: float, seed: int,
             loss_from: int = 1) -> list[float]:
    """``steps`` AdamW steps, linear decay to 0; returns the loss of every 50th step (nats)."""
    _check(lr, batch_size, 0.0, 0.0)
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
               loss_from: int, anchor=None, spring: float = 0.0, kl_to_anchor: float = 0.0,
               replay: np.ndarray | None = None, replay_fraction: float = 0.0, rejected: np.ndarray | None = None,
               beta: float = 0.1, on_checkpoint=None) -> list[dict]:
    """Train ``model`` in place on ``tokens`` in order (one pass up to the last checkpoint) and
    return ``{"q": 0, ...}`` then one point per checkpoint: ``measure(model)`` plus the norms.
    With ``rejected`` (rows paired with ``tokens``), the objective is DPO against the model as
    it enters the stage, ``tokens`` chosen. ``on_checkpoint(q, model, point)`` may keep a copy
    of the model at a point."""
    checkpoints = sorted(int(q) for q in checkpoints)
    _check(lr, batch_size, spring, replay_fraction, kl_to_anchor)
    if not checkpoints or checkpoints[0] < 1 or checkpoints[-1] > len(tokens):
        raise ValueError(f"checkpoints must lie in [1, {len(tokens)}] (the stage's examples), got "
                         f"{checkpoints[:1]}..{checkpoints[-1:]}")
    if (spring > 0 or kl_to_anchor > 0) and anchor is None:
        raise ValueError("a spring or a KL to the anchor needs the anchor model")
    if kl_to_anchor > 0 and rejected is not None:
        raise ValueError("the KL to the anchor applies to SFT stages, not DPO")
    if replay_fraction > 0 and (replay is None or len(replay) == 0):
        raise ValueError("replay needs a non-empty pool of examples")
    if rejected is not None and (len(rejected) < checkpoints[-1] or not (math.isfinite(beta) and beta > 0)):
        raise ValueError(f"DPO needs {checkpoints[-1]} rejected rows and beta > 0, got {len(rejected)}, {beta}")
    if rejected is not None and replay_fraction > 0:
        raise ValueError("DPO pairs chosen and rejected rows; replay would break the pairs")
    torch.set_num_threads(1)
    data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    pool = torch.from_numpy(np.asarray(replay, dtype=np.int64)) if replay_fraction > 0 else None
    generator = torch.Generator().manual_seed(seed)
    start = _vector(model)
    anchor_params = [p.detach().clone() for p in anchor.parameters()] if spring > 0 else None
    if kl_to_anchor > 0:
        anchor.eval()
    worse = torch.from_numpy(np.asarray(rejected, dtype=np.int64)) if rejected is not None else None
    reference = copy.deepcopy(model).eval() if worse is not None else None
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
                extra = round(take * replay_fraction / (1.0 - replay_fraction))
                batch = torch.cat([batch, pool[torch.randint(0, len(pool), (extra,), generator=generator)]])
            model.train()
            if worse is not None:
                loss = _dpo_loss(model, reference, batch, worse[seen:seen + take], loss_from, beta)
            else:
                loss = _loss(model, batch, loss_from, anchor, kl_to_anchor, take)
            if anchor_params is not None:
                loss = loss + spring * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor_params,
                                                                                strict=True))
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
    _check(lr, batch_size, 0.0, 0.0)
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
