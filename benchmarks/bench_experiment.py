"""Throughput of the counterfactual experiment: two worker processes against one process, the
same grid, side by side in one run (the baseline is the engine with --workers 1).

    .venv/bin/python benchmarks/bench_experiment.py [--preset micro] [--seeds 12]    (about 2 minutes)

Each setting runs the preset's grid from an empty folder (start-up of the workers included);
the ratio is cells per second with two workers over cells per second with one.
"""

import argparse
import tempfile
import time

from elasticity import runs
from harness import overrides, presets


def _cells_per_second(config, workers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        out = runs.counterfactual(config, results=root, run_id="bench", workers=workers)
        seconds = time.perf_counter() - start
    return out.total / seconds, out.total


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="micro", choices=sorted(presets.COUNTERFACTUAL))
    parser.add_argument("--seeds", type=int, default=12, help="seeds of the grid (cells = seeds x arms)")
    args = parser.parse_args(argv)
    config = overrides.with_overrides(presets.COUNTERFACTUAL[args.preset],
                                      [f"seeds={','.join(str(s) for s in range(args.seeds))}"])
    one, cells = _cells_per_second(config, 1)
    two, _ = _cells_per_second(config, 2)
    print(f"counterfactual {args.preset}, {cells} cells: one process {one:.3f} cells/s, two workers "
          f"{two:.3f} cells/s -> {two / one:.2f}x (target: about 2x on 2 cores)")


if __name__ == "__main__":
    main()
