"""Training stages on token arrays: a plain AdamW loop used for pre-training from scratch and
for supervised fine-tuning on responses (the loss then covers the response tokens only).

One torch thread by default on CPU (two threads on a busy 2-core machine slow training 10x).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    learning_rate: float = 1e-3
    epochs: int = 1
    batch_size: int = 64
    seed: int = 0
    loss_from: int = 1  # first target position that counts (1 = every token after BOS)
    threads: int = 1

    def __post_init__(self):
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive finite number, got {self.learning_rate}")
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1 or self.loss_from < 1:
            raise ValueError("epochs, batch_size, threads and loss_from must be >= 1")


def train(model, tokens: np.ndarray, config: StageConfig, progress=None) -> list[float]:
    """Minimize the next-token cross-entropy of ``tokens`` (n, length) from position
    ``loss_from`` on; returns the mean loss of each epoch (nats per counted token)."""
    tokens = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    if tokens.ndim != 2 or tokens.shape[0] == 0:
        raise ValueError(f"tokens must be a non-empty 2-D array, got shape {tuple(tokens.shape)}")
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    model.train()
    losses = []
    for _ in range(config.epochs):
        order = torch.randperm(tokens.shape[0], generator=generator)
        total, count = 0.0, 0
        for start in range(0, tokens.shape[0], config.batch_size):
            batch = tokens[order[start:start + config.batch_size]]
            logits = model(input_ids=batch).logits[:, config.loss_from - 1:-1]
            targets = batch[:, config.loss_from:]
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * targets.numel()
            count += targets.numel()
            if progress is not None:
                progress(batch.shape[0])
        losses.append(total / count)
    model.eval()
    return losses
