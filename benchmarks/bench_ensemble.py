"""The ensemble trainer against the per-model loop: E tiny models trained N steps both ways,
side by side in one run, one torch thread, best of 3 each (`empirical.bench_ensemble`).

    .venv/bin/python benchmarks/bench_ensemble.py [--members 48] [--steps 20] [--seed 0] [--batch-size 128]

The same as ``elasticity bench ensemble``. The ratio is the loop's time per model-step over the
ensemble's; the parameter differences compare the two after the steps (float32). On a shared
machine both sides slow down: compare ratios from one run only.
"""

import argparse
import json

from empirical.bench_ensemble import bench_ensemble


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=48)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the pre-training preset's (128)")
    args = parser.parse_args(argv)
    print(json.dumps(bench_ensemble(args.members, args.steps, args.seed, batch_size=args.batch_size), indent=1))


if __name__ == "__main__":
    main()
