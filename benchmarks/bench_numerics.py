"""The cost of the portable numerics mode, and what it buys, side by side in one run.

    .venv/bin/python benchmarks/bench_numerics.py                 (about half a minute)
    .venv/bin/python benchmarks/bench_numerics.py --resist-micro  (and resist micro, a few minutes)

Trains the same tiny Llama with AdamW for 300 steps (batch 16, one torch thread, the synthetic
world's D_align) in the default and the portable mode, each in a fresh process (the mode must be
set before torch loads), alternating, ``REPEATS`` times each; prints the best time of each mode, the
ratio portable / default, and a hash of the final parameters. Each mode is run once more on a
simulated lesser CPU (ATen, MKL and oneDNN limited to AVX2, as an AVX2-only CPU would choose): the
default mode's bits change with it, the portable mode's must not. ``--resist-micro`` also times
``elasticity resist --preset micro`` in both modes and compares the per-seed numbers bit for bit.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS, STEPS = 3, 300
ROOT = Path(__file__).resolve().parent.parent
AVX2_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def child(mode: str) -> None:
    """One training run in this fresh process: its time and the hash of its final parameters."""
    from harness import numerics

    numerics.apply(mode)  # before torch is imported
    import torch

    from empirical.models import build_model
    from empirical.world import World, WorldConfig

    torch.set_num_threads(1)
    world = World(WorldConfig(n_align=512))
    tokens = torch.as_tensor(world.datasets()["align"].tokens)
    model = build_model(world.config.vocab_size, world.config.sequence_length, "tiny", 0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    draws = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(STEPS):
        batch = tokens[torch.randint(0, len(tokens), (16,), generator=draws)]
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    print(json.dumps({"seconds": seconds, "sha256": digest[:16], "capability": numerics.torch_build()["capability"],
                      "numerics": numerics.check()}))


def _run(mode: str, extra_env: dict | None = None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(extra_env or {})}
    env.pop("ELASTICITY_NUMERICS", None)
    out = subprocess.run([sys.executable, __file__, "--child", mode], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _resist_micro(mode: str) -> tuple[float, dict]:
    """``elasticity --numerics MODE resist --preset micro`` in a fresh store: seconds, per-seed numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "elasticity", "--numerics", mode, "resist", "--preset", "micro",
                        "--results", tmp, "--json"], env=env, capture_output=True, check=True)
        seconds = time.perf_counter() - start
        doc = json.loads(next(Path(tmp, "resist").glob("*/result.json")).read_text())
    return seconds, {str(r["pair"]): r["forward_minus_inverse"]["per_seed"] for r in doc["metrics"]["table2"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=("default", "portable"))
    parser.add_argument("--resist-micro", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    runs = {"default": [], "portable": []}
    for _ in range(REPEATS):  # alternating, so that load from other processes falls on both modes alike
        for mode in runs:
            runs[mode].append(_run(mode))
    best = {mode: min(r["seconds"] for r in got) for mode, got in runs.items()}
    for mode, got in runs.items():
        hashes = {r["sha256"] for r in got}
        print(f"{mode:<9} {STEPS} AdamW steps, tiny Llama, 1 thread: best {best[mode]:.2f} s of {REPEATS} "
              f"(kernels {got[0]['capability']}); parameters {', '.join(sorted(hashes))}")
    print(f"portable / default time: {best['portable'] / best['default']:.2f}")
    same = runs["default"][0]["sha256"] == runs["portable"][0]["sha256"]
    print(f"final parameters, default vs portable: {'bit-identical' if same else 'differ in bits'}")
    for mode, got in runs.items():
        lesser = _run(mode, AVX2_CPU)
        verdict = "the same bits" if lesser["sha256"] == got[0]["sha256"] else "other bits"
        print(f"{mode:<9} on a simulated AVX2-only CPU ({', '.join(f'{k}={v}' for k, v in AVX2_CPU.items())}): "
              f"{lesser['sha256']} ({verdict})")
    if args.resist_micro:
        timed = {mode: _resist_micro(mode) for mode in ("default", "portable")}
        ratio = timed["portable"][0] / timed["default"][0]
        same = timed["portable"][1] == timed["default"][1]
        print(f"resist micro (whole command): default {timed['default'][0]:.1f} s, portable "
              f"{timed['portable'][0]:.1f} s, ratio {ratio:.2f}; per-seed numbers "
              f"{'bit-identical' if same else 'differ'} between the modes")


if __name__ == "__main__":
    main()
