"""The GPU check (issue 5): pre-train a ~100M-parameter model of the synthetic world from
scratch and run the rebound protocol on a reduced grid, printing tokens/s and model FLOPs
utilization (MFU) for training and generation.

    python benchmarks/gpu_check.py                       # on the GPU: preset gpu (target < 8 min)
    python benchmarks/gpu_check.py --preset cpu-smoke    # the same path, tiny, on CPU (the test)

MFU = achieved FLOP/s over the device's dense bf16 peak, with 6 N FLOPs per trained token and
2 N per generated token (N = parameters; attention FLOPs ignored, the sequences are 10 tokens).
Peaks: H100/H200 SXM 989 TFLOP/s; others unknown (MFU not reported). Writes gpu_check.json.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from elasticity import runs  # noqa: E402
from empirical import rebound  # noqa: E402
from empirical.models import build_model, count_parameters  # noqa: E402
from empirical.text import default_device  # noqa: E402
from empirical.train import StageConfig, train  # noqa: E402
from empirical.world import BOS, SEP, World, WorldConfig  # noqa: E402
from harness.configs import PretrainConfig, ReboundConfig  # noqa: E402

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12}

PRESETS = {
    "gpu": ReboundConfig(
        world=WorldConfig(content_vocab=8, response_length=5, n_pre=200_000, n_align=4_096, n_perturb=4_096,
                          n_held_out=200),
        model_size="gpu-100m", q1=(256, 1024), q2=(64, 256, 1024), seeds=(0,), controls=False,
        pretrain=PretrainConfig(steps=2_000, batch=256, lr=3e-4), first_lr=1e-4, second_lr=1e-4, batch_size=64),
    "cpu-smoke": ReboundConfig(
        world=WorldConfig(content_vocab=4, response_length=3, prompt_vocab=3, n_pre=600, n_align=100,
                          n_perturb=40, n_held_out=20),
        model_size="tiny", q1=(50,), q2=(10, 20), seeds=(0,), controls=False,
        pretrain=PretrainConfig(steps=20, batch=64, lr=1e-2), first_lr=3e-3, second_lr=3e-3, batch_size=16,
        k_fit_points=2),
}


def _peak(device: str) -> float | None:
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def _sync(device: str):
    if device == "cuda":
        torch.cuda.synchronize()


def training_throughput(config, device: str) -> dict:
    world = World(config.world)
    tokens = world.datasets()["pre"].tokens
    cfg = config.world
    model = build_model(cfg.vocab_size, cfg.sequence_length, config.model_size, 0).to(device)
    n = count_parameters(model)
    stage = StageConfig(epochs=1, learning_rate=config.pretrain.lr, batch_size=config.pretrain.batch)
    train(model, tokens[: config.pretrain.batch * 4], stage)  # warm-up: kernels, allocator
    _sync(device)
    start = time.perf_counter()
    train(model, tokens, stage)
    _sync(device)
    seconds = time.perf_counter() - start
    return {"parameters": n, "tokens": int(tokens.size), "seconds": seconds,
            "tokens_per_s": tokens.size / seconds, "flops_per_token": 6 * n}


@torch.no_grad()
def generation_throughput(config, device: str, batch: int = 512) -> dict:
    cfg = config.world
    model = build_model(cfg.vocab_size, cfg.sequence_length, config.model_size, 0).to(device).eval()
    n = count_parameters(model)
    prompts = torch.randint(4, 4 + cfg.prompt_vocab, (batch, cfg.prompt_length))
    ids = torch.cat([torch.full((batch, 1), BOS), prompts, torch.full((batch, 1), SEP)], 1).to(device)
    new = cfg.response_length + 1

    def once():
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=30,
                           top_p=0.9, temperature=0.1, max_new_tokens=new, min_new_tokens=new)
    once()
    _sync(device)
    start = time.perf_counter()
    once()
    _sync(device)
    seconds = time.perf_counter() - start
    return {"parameters": n, "tokens": batch * new, "seconds": seconds, "tokens_per_s": batch * new / seconds,
            "flops_per_token": 2 * n}


def theory_throughput(preset: str) -> dict:
    """The JAX batch path (theory.batch) on a map: values, points per second after compilation."""
    import jax
    import numpy as np

    from theory import batch

    n_alpha, n_k = (50, 2000) if preset == "gpu" else (4, 50)
    A, K = np.meshgrid(np.linspace(1.5, 6.0, n_alpha), np.geomspace(1.0, 1e6, n_k), indexing="ij")
    start = time.perf_counter()
    batch.evaluate(A, K, 0.0, derivatives=False)
    first = time.perf_counter() - start
    start = time.perf_counter()
    batch.evaluate(A, K, 0.0, derivatives=False)
    seconds = time.perf_counter() - start
    return {"points": int(A.size), "seconds": seconds, "points_per_s": A.size / seconds,
            "compile_s": first - seconds, "backend": jax.default_backend()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="gpu (default on a GPU) or cpu-smoke (default on CPU)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=default_device())
    parser.add_argument("--results", type=Path, default=Path("results"), help="result store root")
    args = parser.parse_args(argv)
    preset = args.preset or ("gpu" if args.device == "cuda" else "cpu-smoke")
    config = PRESETS[preset]
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    peak = _peak(args.device)
    total = time.perf_counter()
    report = {"preset": preset, "device": device_name, "peak_bf16_flops": peak}
    for name, fn in (("training", training_throughput), ("generation", generation_throughput)):
        stats = fn(config, args.device)
        stats["mfu"] = stats["tokens_per_s"] * stats["flops_per_token"] / peak if peak else None
        report[name] = stats
        mfu = f"{stats['mfu']:.1%}" if stats["mfu"] is not None else "n/a (unknown peak)"
        print(f"{name:<11} {stats['parameters'] / 1e6:7.1f}M params  "
              f"{stats['tokens_per_s']:12,.0f} tokens/s  MFU {mfu}", flush=True)
    report["theory_batch"] = theory_throughput(preset)
    t = report["theory_batch"]
    print(f"theory      {t['points']} points: {t['points_per_s']:,.0f} points/s on {t['backend']} "
          f"(compilation {t['compile_s']:.1f} s; target on a GPU >= 1e5 points/s)", flush=True)
    start = time.perf_counter()
    path = runs.rebound(config, results=args.results, run_id=f"gpu-check-{preset}", device=args.device).path
    report["rebound_seconds"] = time.perf_counter() - start
    report["rebound_result"] = str(path)
    report["total_seconds"] = time.perf_counter() - total
    doc = json.loads(Path(path).read_text())
    print(f"rebound     {rebound.n_points(config)} points in {report['rebound_seconds']:.1f} s; reference "
          f"{doc['reference_score']:.4f}; total {report['total_seconds']:.1f} s on {device_name}")
    out = args.results / f"gpu_check-{preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
