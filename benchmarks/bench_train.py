"""Training throughput on the synthetic world: trl's SFTTrainer against a plain AdamW loop
on the same model, data, batch size and number of epochs, in one run.

    .venv/bin/python benchmarks/bench_train.py         (about a minute)

Both train on the response tokens of the same 4000 D_align sequences (the plain loop via
``loss_from``), one torch thread. Throughput counts every token of every sequence fed to the
model; the overhead is the trainer's time over the plain loop's.
"""

import copy

import torch
from timing import once_seconds

from empirical.models import build_model, count_parameters
from empirical.train import StageConfig, sft, train
from empirical.world import World, WorldConfig

N, EPOCHS, BATCH = 4000, 2, 32


def main() -> None:
    torch.set_num_threads(1)
    world = World(WorldConfig(n_align=N))
    cfg = world.config
    tokens = world.datasets()["align"].tokens
    n_tokens = tokens.size * EPOCHS
    stage = StageConfig(epochs=EPOCHS, learning_rate=1e-3, batch_size=BATCH)
    plain_stage = StageConfig(epochs=EPOCHS, learning_rate=1e-3, batch_size=BATCH,
                              loss_from=cfg.response_start)
    for size in ("tiny", "small", "medium"):
        model = build_model(cfg.vocab_size, cfg.sequence_length, size, seed=0)
        sft(copy.deepcopy(model), tokens[:BATCH], cfg, stage)  # warm-up: imports, first trainer
        a, b = copy.deepcopy(model), copy.deepcopy(model)
        plain = once_seconds(lambda: train(a, tokens, plain_stage))  # noqa: B023 - called at once
        trainer = once_seconds(lambda: sft(b, tokens, cfg, stage))  # noqa: B023
        print(f"{size:<7} {count_parameters(model):>9,} params: plain loop {n_tokens / plain:>9,.0f} "
              f"tok/s, trl SFTTrainer {n_tokens / trainer:>9,.0f} tok/s, overhead {trainer / plain:.2f}x")


if __name__ == "__main__":
    main()
